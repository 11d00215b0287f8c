"""The printed words of the invoice PDF in each language a customer may read.

Kept as a plain table, not gettext catalogues: there are few words, they change with the
layout, and a reviewer sees all six languages of one label side by side.
"""

from __future__ import annotations

from typing import Final

LABELS: Final[dict[str, dict[str, str]]] = {
    "invoice": {
        "en": "Invoice",
        "fr": "Facture",
        "de": "Rechnung",
        "nl": "Factuur",
        "es": "Factura",
        "it": "Fattura",
    },
    "number": {
        "en": "Invoice number",
        "fr": "Numéro de facture",
        "de": "Rechnungsnummer",
        "nl": "Factuurnummer",
        "es": "Número de factura",
        "it": "Numero fattura",
    },
    "issue_date": {
        "en": "Issue date",
        "fr": "Date d'émission",
        "de": "Rechnungsdatum",
        "nl": "Factuurdatum",
        "es": "Fecha de emisión",
        "it": "Data di emissione",
    },
    "due_date": {
        "en": "Due date",
        "fr": "Date d'échéance",
        "de": "Fällig am",
        "nl": "Vervaldatum",
        "es": "Fecha de vencimiento",
        "it": "Data di scadenza",
    },
    "purchase_order": {
        "en": "Purchase order",
        "fr": "Bon de commande",
        "de": "Bestellnummer",
        "nl": "Inkooporder",
        "es": "Orden de compra",
        "it": "Ordine d'acquisto",
    },
    "bill_to": {
        "en": "Bill to",
        "fr": "Facturé à",
        "de": "Rechnungsempfänger",
        "nl": "Factuur aan",
        "es": "Facturar a",
        "it": "Intestata a",
    },
    "tax_id": {
        "en": "VAT number",
        "fr": "N° TVA",
        "de": "USt-IdNr.",
        "nl": "Btw-nummer",
        "es": "NIF-IVA",
        "it": "Partita IVA",
    },
    "description": {
        "en": "Description",
        "fr": "Désignation",
        "de": "Beschreibung",
        "nl": "Omschrijving",
        "es": "Descripción",
        "it": "Descrizione",
    },
    "quantity": {
        "en": "Qty",
        "fr": "Qté",
        "de": "Menge",
        "nl": "Aantal",
        "es": "Cant.",
        "it": "Q.tà",
    },
    "unit_price": {
        "en": "Unit price",
        "fr": "Prix unitaire",
        "de": "Einzelpreis",
        "nl": "Prijs per stuk",
        "es": "Precio unitario",
        "it": "Prezzo unitario",
    },
    "tax_rate": {
        "en": "VAT",
        "fr": "TVA",
        "de": "USt.",
        "nl": "Btw",
        "es": "IVA",
        "it": "IVA",
    },
    "amount": {
        "en": "Amount",
        "fr": "Montant HT",
        "de": "Betrag netto",
        "nl": "Bedrag excl. btw",
        "es": "Importe",
        "it": "Importo",
    },
    "tax_breakdown": {
        "en": "VAT breakdown",
        "fr": "Détail de la TVA",
        "de": "Aufschlüsselung der USt.",
        "nl": "Btw-specificatie",
        "es": "Desglose del IVA",
        "it": "Riepilogo IVA",
    },
    "taxable": {
        "en": "Taxable amount",
        "fr": "Base HT",
        "de": "Nettobetrag",
        "nl": "Grondslag",
        "es": "Base imponible",
        "it": "Imponibile",
    },
    "tax": {
        "en": "VAT amount",
        "fr": "Montant TVA",
        "de": "USt.-Betrag",
        "nl": "Btw-bedrag",
        "es": "Cuota de IVA",
        "it": "Imposta",
    },
    "exempt": {
        "en": "exempt",
        "fr": "exonéré",
        "de": "steuerfrei",
        "nl": "vrijgesteld",
        "es": "exento",
        "it": "esente",
    },
    "subtotal": {
        "en": "Subtotal",
        "fr": "Total HT",
        "de": "Zwischensumme netto",
        "nl": "Subtotaal",
        "es": "Base total",
        "it": "Totale imponibile",
    },
    "tax_total": {
        "en": "Total VAT",
        "fr": "Total TVA",
        "de": "Summe USt.",
        "nl": "Totaal btw",
        "es": "Total IVA",
        "it": "Totale IVA",
    },
    "total": {
        "en": "Total due",
        "fr": "Total TTC à payer",
        "de": "Gesamtbetrag",
        "nl": "Te betalen",
        "es": "Total a pagar",
        "it": "Totale da pagare",
    },
    "payment": {
        "en": "Payment details",
        "fr": "Modalités de paiement",
        "de": "Zahlungsinformationen",
        "nl": "Betalingsgegevens",
        "es": "Datos de pago",
        "it": "Modalità di pagamento",
    },
    "pay_by": {
        "en": "Please pay {total} by {date}.",
        "fr": "Merci de régler {total} avant le {date}.",
        "de": "Bitte überweisen Sie {total} bis zum {date}.",
        "nl": "Gelieve {total} te betalen vóór {date}.",
        "es": "Le rogamos abone {total} antes del {date}.",
        "it": "Si prega di pagare {total} entro il {date}.",
    },
    "reference": {
        "en": "Payment reference",
        "fr": "Référence de paiement",
        "de": "Verwendungszweck",
        "nl": "Betalingskenmerk",
        "es": "Referencia de pago",
        "it": "Causale",
    },
    "view_online": {
        "en": "View this invoice online",
        "fr": "Voir cette facture en ligne",
        "de": "Diese Rechnung online ansehen",
        "nl": "Deze factuur online bekijken",
        "es": "Ver esta factura en línea",
        "it": "Visualizza questa fattura online",
    },
    "notes": {
        "en": "Notes",
        "fr": "Remarques",
        "de": "Anmerkungen",
        "nl": "Opmerkingen",
        "es": "Observaciones",
        "it": "Note",
    },
    "page": {
        "en": "Page {page} of {pages}",
        "fr": "Page {page} sur {pages}",
        "de": "Seite {page} von {pages}",
        "nl": "Pagina {page} van {pages}",
        "es": "Página {page} de {pages}",
        "it": "Pagina {page} di {pages}",
    },
}


def label(key: str, language: str) -> str:
    """The word for `key` in `language`, English when that language has none."""
    words = LABELS[key]
    return words.get(language, words["en"])

"""The invoice as a UBL 2.1 Invoice following Peppol BIS Billing 3.0 (EN 16931).

Customers' accounting systems read this instead of the PDF, so its amounts must agree
with the PDF to the cent: both come from the same `InvoiceDocument`. Every amount is
written with the currency's decimals (JPY 0, EUR 2), tax categories are S (standard
rate), Z (zero rate) or E (exempt, with its reason).

The database keeps addresses as free text, so an address is mapped by position: the first
line is the street, the last (when there are two or more) the city, the ones between the
additional street and the third address line.
"""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from services.documents.model import EXEMPT, InvoiceDocument, PartyData
from services.errors import InvalidInput
from services.money import round_money

CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
INVOICE_TYPE_COMMERCIAL = "380"
PAYMENT_MEANS_CREDIT_TRANSFER = "30"
UNIT_ONE = "C62"  # UN/ECE Recommendation 20: "one", the unit of a plain count
ELECTRONIC_MAIL_SCHEME = "EM"  # Peppol EAS code for an email endpoint

NS_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
NS_CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
NS_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
NSMAP = {None: NS_INVOICE, "cac": NS_CAC, "cbc": NS_CBC}


def _cac(parent: etree._Element, name: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{NS_CAC}}}{name}")


def _cbc(parent: etree._Element, name: str, text: str, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{NS_CBC}}}{name}", attributes)
    element.text = text
    return element


def _decimal(value: Decimal) -> str:
    """Plain notation without trailing zeros: 20, 5.5, 0.125 (never 2E+1)."""
    normalised = value.normalize()
    return f"{normalised:f}"


class _Amounts:
    def __init__(self, currency: str) -> None:
        self.currency = currency

    def add(self, parent: etree._Element, name: str, amount: Decimal) -> None:
        _cbc(parent, name, f"{round_money(amount, self.currency):f}", currencyID=self.currency)


def _require_country(party: PartyData, role: str) -> str:
    if not party.country:
        raise InvalidInput(
            f"The {role} {party.name} has no country, which an e-invoice (UBL) must state. "
            f"Add the country, or send the PDF only."
        )
    return party.country.upper()


def _is_vat_number(tax_id: str) -> bool:
    """EN 16931 (BR-CO-09) wants VAT numbers prefixed by a country code, e.g. GB123456789."""
    return len(tax_id) > 2 and tax_id[:2].isalpha() and tax_id[:2].isupper()


def _postal_address(parent: etree._Element, party: PartyData, country: str) -> None:
    address = _cac(parent, "PostalAddress")
    lines = party.address_lines
    if lines:
        _cbc(address, "StreetName", lines[0])
    if len(lines) >= 3:
        _cbc(address, "AdditionalStreetName", lines[1])
    if len(lines) >= 2:
        _cbc(address, "CityName", lines[-1])
    if len(lines) >= 4:
        _cbc(_cac(address, "AddressLine"), "Line", ", ".join(lines[2:-1]))
    _cbc(_cac(address, "Country"), "IdentificationCode", country)


def _party(parent: etree._Element, party: PartyData, *, role: str, is_seller: bool) -> None:
    country = _require_country(party, role)
    element = _cac(parent, "Party")
    tax_id = (party.tax_id or "").replace(" ", "")
    if party.email:
        _cbc(element, "EndpointID", party.email, schemeID=ELECTRONIC_MAIL_SCHEME)
    if tax_id and is_seller and not _is_vat_number(tax_id):
        # Without a VAT number the buyer identifies the seller by this number (BR-CO-26).
        _cbc(_cac(element, "PartyIdentification"), "ID", tax_id)
    _cbc(_cac(element, "PartyName"), "Name", party.name)
    _postal_address(element, party, country)
    legal_id = None
    if tax_id and _is_vat_number(tax_id):
        scheme = _cac(element, "PartyTaxScheme")
        _cbc(scheme, "CompanyID", tax_id)
        _cbc(_cac(scheme, "TaxScheme"), "ID", "VAT")
    elif tax_id and is_seller:
        # A seller's tax number that is not a VAT number is its tax registration (BT-32).
        scheme = _cac(element, "PartyTaxScheme")
        _cbc(scheme, "CompanyID", tax_id)
        _cbc(_cac(scheme, "TaxScheme"), "ID", "TAX")
    elif tax_id:
        legal_id = tax_id  # a buyer's non-VAT number is its legal registration (BT-47)
    legal = _cac(element, "PartyLegalEntity")
    _cbc(legal, "RegistrationName", party.name)
    if legal_id:
        _cbc(legal, "CompanyID", legal_id)
    if party.email:
        _cbc(_cac(element, "Contact"), "ElectronicMail", party.email)


def _tax_category(parent: etree._Element, name: str, category: str, rate: Decimal, reason: str | None) -> None:
    element = _cac(parent, name)
    _cbc(element, "ID", category)
    _cbc(element, "Percent", _decimal(rate))
    if reason:
        _cbc(element, "TaxExemptionReason", reason)
    _cbc(_cac(element, "TaxScheme"), "ID", "VAT")


def render_invoice_ubl(document: InvoiceDocument) -> bytes:
    """UBL 2.1 XML bytes (UTF-8, with declaration). Raises `InvalidInput` when a required fact is missing."""
    amounts = _Amounts(document.currency)
    root = etree.Element(f"{{{NS_INVOICE}}}Invoice", nsmap=NSMAP)
    _cbc(root, "CustomizationID", CUSTOMIZATION_ID)
    _cbc(root, "ProfileID", PROFILE_ID)
    _cbc(root, "ID", document.number)
    _cbc(root, "IssueDate", document.issue_date.isoformat())
    _cbc(root, "DueDate", document.due_date.isoformat())
    _cbc(root, "InvoiceTypeCode", INVOICE_TYPE_COMMERCIAL)
    if document.notes:
        _cbc(root, "Note", document.notes)
    _cbc(root, "DocumentCurrencyCode", document.currency)
    # Peppol asks for a buyer reference or an order reference (PEPPOL-EN16931-R003).
    _cbc(root, "BuyerReference", document.buyer_reference or document.number)
    if document.purchase_order:
        _cbc(_cac(root, "OrderReference"), "ID", document.purchase_order)
    _party(_cac(root, "AccountingSupplierParty"), document.seller, role="seller", is_seller=True)
    _party(_cac(root, "AccountingCustomerParty"), document.buyer, role="customer", is_seller=False)

    if document.payment.iban:
        means = _cac(root, "PaymentMeans")
        _cbc(means, "PaymentMeansCode", PAYMENT_MEANS_CREDIT_TRANSFER)
        _cbc(means, "PaymentID", document.payment.reference)
        account = _cac(means, "PayeeFinancialAccount")
        _cbc(account, "ID", document.payment.iban.replace(" ", ""))
        _cbc(account, "Name", document.seller.name)
        if document.payment.bic:
            _cbc(_cac(account, "FinancialInstitutionBranch"), "ID", document.payment.bic)

    tax_total = _cac(root, "TaxTotal")
    amounts.add(tax_total, "TaxAmount", document.tax_total)
    for tax in document.taxes:
        subtotal = _cac(tax_total, "TaxSubtotal")
        amounts.add(subtotal, "TaxableAmount", tax.taxable)
        amounts.add(subtotal, "TaxAmount", tax.tax)
        reason = tax.exemption_reason if tax.category == EXEMPT else None
        _tax_category(subtotal, "TaxCategory", tax.category, tax.rate, reason)

    monetary = _cac(root, "LegalMonetaryTotal")
    amounts.add(monetary, "LineExtensionAmount", document.subtotal)
    amounts.add(monetary, "TaxExclusiveAmount", document.subtotal)
    amounts.add(monetary, "TaxInclusiveAmount", document.total)
    amounts.add(monetary, "PayableAmount", document.total)

    for line in document.lines:
        element = _cac(root, "InvoiceLine")
        _cbc(element, "ID", str(line.position))
        _cbc(element, "InvoicedQuantity", _decimal(line.quantity), unitCode=UNIT_ONE)
        amounts.add(element, "LineExtensionAmount", line.net_amount)
        item = _cac(element, "Item")
        _cbc(item, "Name", line.description)
        _tax_category(item, "ClassifiedTaxCategory", line.tax_category, line.tax_rate, None)
        _cbc(_cac(element, "Price"), "PriceAmount", _decimal(line.unit_price), currencyID=document.currency)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)

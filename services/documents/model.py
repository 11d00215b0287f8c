"""Everything the invoice PDF and the UBL e-invoice show, as one plain, picklable value.

The renderers take an `InvoiceDocument` and nothing else, so they can run in a process
pool and be tested without a database. `load_invoice_document` is the only place that
reads the database for them; `build_invoice_document` is where totals and tax categories
are decided, so the PDF and the UBL can never disagree with each other or with the
invoice row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, selectinload

from services.db.models import Invoice, Organisation
from services.errors import DomainError, InvalidInput, NotFound, error_summary
from services.formatting import reader_locale
from services.invoicing.balance import select_credits, select_payments, summed_by_invoice
from services.invoicing.entry import LineData, select_line_values
from services.invoicing.payment_reference import payment_reference
from services.invoicing.totals import LineAmounts, compute_totals
from services.languages import normalise_language
from services.postal_address import PostalAddress, postal_address_of

# EN 16931 VAT category codes (UNTDID 5305) this project produces.
STANDARD_RATE = "S"
ZERO_RATED = "Z"
EXEMPT = "E"


@dataclass(frozen=True)
class PartyData:
    """The seller or the buyer as printed: its postal address in parts (the country among them)."""

    name: str
    address: PostalAddress = field(default_factory=PostalAddress)
    tax_id: str | None = None
    email: str | None = None

    @property
    def country(self) -> str | None:
        """ISO 3166-1 alpha-2; the seller's also decides the documents' locale."""
        return self.address.country


@dataclass(frozen=True)
class DocumentLine:
    position: int
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal  # percent, 20 for 20 %
    net_amount: Decimal
    tax_category: str = STANDARD_RATE
    note: str | None = None  # customer-visible only: an internal note never reaches a document


@dataclass(frozen=True)
class DocumentTax:
    """One row of the tax breakdown: one VAT category at one rate."""

    category: str
    rate: Decimal
    taxable: Decimal
    tax: Decimal
    exemption_reason: str | None = None


@dataclass(frozen=True)
class PaymentData:
    """How to pay: the reference a transfer must carry and the account it goes to.

    `reference` comes from `services.invoicing.payment_reference`; `iban` and `bic` are compact;
    `account_holder` is the name the bank account is held under (the legal name by default).
    """

    reference: str
    iban: str | None = None
    bic: str | None = None
    account_holder: str | None = None


@dataclass(frozen=True)
class CorrectedInvoice:
    """The invoice a credit note corrects, as its documents name it (UBL BillingReference, the PDF)."""

    number: str
    issue_date: date


@dataclass(frozen=True)
class InvoiceDocument:
    number: str
    issue_date: date
    due_date: date
    currency: str
    language: str
    seller: PartyData
    buyer: PartyData
    lines: tuple[DocumentLine, ...]
    taxes: tuple[DocumentTax, ...]
    subtotal: Decimal
    tax_total: Decimal
    total: Decimal
    payment: PaymentData
    invoice_url: str | None = None
    buyer_reference: str | None = None
    purchase_order: str | None = None
    notes: str | None = None
    paid: Decimal = Decimal(0)  # payments recorded when it was read: the documents then ask for the balance
    credited: Decimal = Decimal(0)  # its issued credit notes when it was read (services.invoicing.balance)
    # Set on a credit note: the invoice it corrects, and why (a credit note asks for no payment).
    corrects: CorrectedInvoice | None = None
    credit_reason: str | None = None

    @property
    def balance_due(self) -> Decimal:
        return self.total - self.paid - self.credited

    @property
    def is_credit_note(self) -> bool:
        return self.corrects is not None

    @property
    def locale(self) -> str:
        """The reader's locale: the document's language as written in the seller's country (en + GB → en_GB)."""
        return reader_locale(self.language, self.seller.country)


def in_language(document: InvoiceDocument, language: str | None) -> InvoiceDocument:
    """The same document in another language (the one chosen for a delivery); its locale follows.

    No language (an old delivery row) keeps the document's own.
    """
    if not language:
        return document
    return replace(document, language=normalise_language(language))


def with_notes(document: InvoiceDocument, *, show: bool) -> InvoiceDocument:
    """The document as the customer sees it for a delivery: its notes only when the sender left
    "Show notes on the invoice page" ticked (Delivery.show_notes; the link page and PDF follow it).

    Internal notes are already absent (`build_invoice_document` drops them); this hides the visible ones.
    """
    if show or (document.notes is None and all(line.note is None for line in document.lines)):
        return document
    return replace(document, notes=None, lines=tuple(replace(line, note=None) for line in document.lines))


def as_delivered(document: InvoiceDocument, *, language: str | None, show_notes: bool) -> InvoiceDocument:
    """The document one delivery sends: in its language, with its notes shown or not."""
    return with_notes(in_language(document, language), show=show_notes)


# A line as stored: what `build_invoice_document` needs to know about it (the same shape
# invoices are entered with).
LineInput = LineData


def tax_category(rate: Decimal, *, exemption_reason: str | None = None) -> str:
    """A positive rate is standard-rated; a zero rate is exempt when a reason is given, else zero-rated."""
    if rate > 0:
        return STANDARD_RATE
    return EXEMPT if exemption_reason else ZERO_RATED


@dataclass(frozen=True, kw_only=True)
class DocumentFacts:
    """What an invoice document is built from: everything but the numbers `build_invoice_document` computes.

    `stored_totals` (subtotal, tax, total) are the invoice row's numbers, checked against the lines.
    """

    number: str
    issue_date: date
    due_date: date
    currency: str
    language: str | None
    seller: PartyData
    buyer: PartyData
    lines: Sequence[LineInput]
    payment: PaymentData
    invoice_url: str | None = None
    buyer_reference: str | None = None
    purchase_order: str | None = None
    notes: str | None = None
    exemption_reason: str | None = None
    stored_totals: tuple[Decimal, Decimal, Decimal] | None = None
    corrects: CorrectedInvoice | None = None
    credit_reason: str | None = None


def build_invoice_document(facts: DocumentFacts) -> InvoiceDocument:
    """Compute nets, the tax breakdown and totals the one way `services.invoicing.totals` does.

    `stored_totals` (subtotal, tax, total) are the invoice row's numbers: when they differ
    from what the lines add up to, the documents would contradict the listing in Slack, so
    this refuses rather than print either.
    """
    totals = compute_totals(
        (LineAmounts(line.quantity, line.unit_price, line.tax_rate) for line in facts.lines), facts.currency
    )
    stored, currency = facts.stored_totals, facts.currency
    if stored is not None and stored != (totals.subtotal, totals.tax_total, totals.total):
        raise InvalidInput(
            f"Invoice {facts.number} says its total is {stored[2]} {currency}, but its lines add up to "
            f"{totals.total} {currency}. Correct the invoice before sending it."
        )
    document_lines = tuple(
        DocumentLine(
            position=position,
            description=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            tax_rate=line.tax_rate,
            net_amount=net,
            tax_category=tax_category(line.tax_rate, exemption_reason=facts.exemption_reason),
            note=line.note if line.note_visible else None,
        )
        for position, (line, net) in enumerate(zip(facts.lines, totals.line_nets, strict=True), start=1)
    )
    taxes = tuple(
        DocumentTax(
            category=(category := tax_category(breakdown.rate, exemption_reason=facts.exemption_reason)),
            rate=breakdown.rate,
            taxable=breakdown.taxable,
            tax=breakdown.tax,
            exemption_reason=facts.exemption_reason if category == EXEMPT else None,
        )
        for breakdown in totals.taxes
    )
    return InvoiceDocument(
        number=facts.number,
        issue_date=facts.issue_date,
        due_date=facts.due_date,
        currency=facts.currency,
        language=normalise_language(facts.language),
        seller=facts.seller,
        buyer=facts.buyer,
        lines=document_lines,
        taxes=taxes,
        subtotal=totals.subtotal,
        tax_total=totals.tax_total,
        total=totals.total,
        payment=facts.payment,
        invoice_url=facts.invoice_url,
        buyer_reference=facts.buyer_reference,
        purchase_order=facts.purchase_order,
        notes=facts.notes,
        corrects=facts.corrects,
        credit_reason=facts.credit_reason,
    )


async def load_invoice_document(
    session: AsyncSession, *, organisation_id: int, invoice_id: int, public_url: str
) -> InvoiceDocument:
    """Read the invoice, its lines, its customer and the organisation into an `InvoiceDocument`.

    `public_url` is the base of the customer's invoice link (`INVOICEBOT_PUBLIC_URL`);
    the link is left out while the invoice's token is revoked.
    """
    found = await session.run_sync(
        lambda sync: read_invoice_documents(
            sync, organisation_id=organisation_id, invoice_ids=[invoice_id], public_url=public_url
        )
    )
    document = found[invoice_id]
    if isinstance(document, DomainError):
        raise document
    return document


def read_invoice_documents(
    session: Session, *, organisation_id: int, invoice_ids: Sequence[int], public_url: str
) -> dict[int, InvoiceDocument | DomainError]:
    """`load_invoice_document` for many invoices of one organisation in four queries.

    The send worker prepares a whole claimed batch at once, inside its claim's transaction
    (hence a sync session: see services.db.rounds). Each id maps to its document, or to the
    error that one invoice has (missing, totals that do not add up), so one bad invoice
    never stops the others.
    """
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        missing = NotFound(f"Organisation {organisation_id} does not exist.")
        return dict.fromkeys(invoice_ids, missing)
    invoices = {
        invoice.id: invoice
        for invoice in session.execute(
            select(Invoice)
            .where(Invoice.id.in_(set(invoice_ids)), Invoice.organisation_id == organisation_id)
            .options(selectinload(Invoice.customer))
        ).scalars()
    }
    # Lines as plain rows, not ORM objects: a batch holds hundreds of them and they are only read.
    lines: dict[int, list[LineInput]] = {invoice_id: [] for invoice_id in invoices}
    paid = summed_by_invoice(session.execute(select_payments(invoices))) if invoices else {}
    credited = summed_by_invoice(session.execute(select_credits(invoices))) if invoices else {}
    if invoices:
        rows = session.execute(select_line_values(list(invoices)))
        for invoice_id, description, quantity, unit_price, tax_rate, note, note_visible in rows:
            lines[invoice_id].append(LineInput(description, quantity, unit_price, tax_rate, note, note_visible))
    corrected_ids = {invoice.corrects_invoice_id for invoice in invoices.values() if invoice.corrects_invoice_id}
    corrected = {
        row.id: CorrectedInvoice(row.number, row.issue_date)
        for row in session.execute(
            select(Invoice.id, Invoice.number, Invoice.issue_date).where(Invoice.id.in_(corrected_ids))
        )
    } if corrected_ids else {}  # fmt: skip
    found: dict[int, InvoiceDocument | DomainError] = {}
    for invoice_id in invoice_ids:
        invoice = invoices.get(invoice_id)
        if invoice is None:
            found[invoice_id] = NotFound(f"Invoice {invoice_id} does not exist in this organisation.")
            continue
        try:
            document = _document(invoice, organisation, public_url, lines[invoice_id])
            document = replace(
                document, paid=paid.get(invoice_id, Decimal(0)), credited=credited.get(invoice_id, Decimal(0))
            )
            if invoice.corrects_invoice_id is not None:
                document = replace(
                    document, corrects=corrected[invoice.corrects_invoice_id], credit_reason=invoice.credit_reason
                )
            found[invoice_id] = document
        except DomainError as exc:
            found[invoice_id] = exc
        except Exception as exc:  # data no rule foresaw: this invoice fails, not the whole batch
            found[invoice_id] = DomainError(f"Invoice {invoice.number} could not be read: {error_summary(exc)}.")
    return found


def payment_of(invoice: Invoice, organisation: Organisation) -> PaymentData:
    """How the invoice is paid: its reference and the organisation's account (the PDF, the link
    page, the UBL and the email all print this)."""
    return PaymentData(
        reference=payment_reference(invoice.id, seller_country=organisation.country),
        iban=organisation.iban or None,
        bic=organisation.bic or None,
        account_holder=organisation.account_holder or organisation.name,
    )


def _document(
    invoice: Invoice, organisation: Organisation, public_url: str, lines: Sequence[LineInput]
) -> InvoiceDocument:
    """The document of a loaded invoice and its lines (loaded apart, as rows)."""
    customer = invoice.customer
    link = None
    if invoice.token_revoked_at is None:
        link = f"{public_url.rstrip('/')}/i/{invoice.public_token}"
    return build_invoice_document(
        DocumentFacts(
            number=invoice.number,
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            currency=invoice.currency,
            language=customer.language or organisation.default_language,
            seller=PartyData(
                name=organisation.name,
                address=postal_address_of(organisation),
                tax_id=organisation.tax_id or None,
                email=organisation.reply_to or organisation.sender_email or None,
            ),
            buyer=PartyData(
                name=customer.name,
                address=postal_address_of(customer),
                tax_id=customer.tax_id or None,
                email=next(iter(invoice.recipient_emails or customer.emails), None),
            ),
            lines=lines,
            payment=payment_of(invoice, organisation),
            invoice_url=link,
            buyer_reference=invoice.purchase_order or customer.ref,
            purchase_order=invoice.purchase_order,
            notes=invoice.notes if invoice.notes_visible else None,  # internal notes stay internal
            stored_totals=(invoice.subtotal, invoice.tax_total, invoice.total),
        )
    )

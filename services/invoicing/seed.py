"""`invoicebot seed`: a realistic demo — customers in six languages, invoices in every state.

Dates are relative to the `today` given, so the demo always has invoices due today,
overdue by days and weeks, and due later. Seeding is idempotent: customers are upserted
by reference and invoice numbers that already exist are skipped, so running it twice
changes nothing. Two customers carry deliberately bad addresses for the bounce demos:
`bounce@bounce.example` (hard bounce) and `full@mailbox-full.example` (mailbox full).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Customer, DocumentKind, Invoice, InvoiceStatus, Organisation, SentVia, SmtpStatus
from services.invoicing.entry import CustomerData, InvoiceData, LineData, create_invoice, upsert_customer
from services.unit_of_work import AuditEntry, UnitsOfWork, write_owed

HARD_BOUNCE_ADDRESS = "bounce@bounce.example"
MAILBOX_FULL_ADDRESS = "full@mailbox-full.example"

CUSTOMERS = (
    CustomerData(
        ref="ACME",
        name="Acme Widgets Ltd",
        emails=("accounts.payable@acme-widgets.example",),
        language="en",
        street="14 Fleet Street",
        city="London",
        postal_code="EC4Y 1AA",
        country="GB",
        tax_id="GB987654321",
    ),
    CustomerData(
        ref="DUPONT",
        name="Dupont & Fils SARL",
        emails=("comptabilite@dupont-fils.example",),
        language="fr",
        street="27 rue de la République",
        city="Lyon",
        postal_code="69002",
        country="FR",
        tax_id="FR40123456789",
    ),
    CustomerData(
        ref="MUELLER",
        name="Müller Maschinenbau GmbH",
        emails=("buchhaltung@mueller-maschinenbau.example", "rechnungen@mueller-maschinenbau.example"),
        cc=("einkauf@mueller-maschinenbau.example",),
        language="de",
        street="Industriestraße 8",
        city="Stuttgart",
        postal_code="70565",
        country="DE",
        tax_id="DE812345678",
    ),
    CustomerData(
        ref="VANDAM",
        name="Van Dam Logistiek B.V.",
        emails=("facturen@vandam-logistiek.example",),
        language="nl",
        street="Havenstraat 112",
        city="Rotterdam",
        postal_code="3011 AK",
        country="NL",
        tax_id="NL859123456B01",
    ),
    CustomerData(
        ref="GARCIA",
        name="García Distribuciones S.L.",
        emails=("facturas@garcia-distribuciones.example",),
        language="es",
        street="Calle de Alcalá 155",
        city="Madrid",
        postal_code="28009",
        country="ES",
        tax_id="ESB12345678",
    ),
    CustomerData(
        ref="ROSSI",
        name="Rossi Arredamenti S.r.l.",
        emails=("amministrazione@rossi-arredamenti.example",),
        language="it",
        street="Via Torino 42",
        city="Milano",
        postal_code="20123",
        country="IT",
        tax_id="IT01234567890",
    ),
    CustomerData(
        ref="ALPENBLICK",
        name="Hotel Alpenblick AG",
        emails=(),  # no email on purpose: the due listing says why it cannot be sent
        language="de",
        street="Dorfstrasse 3",
        city="Grindelwald",
        postal_code="3818",
        country="CH",
        tax_id="CHE-123.456.789",
    ),
    CustomerData(
        ref="HARBOUR",
        name="Harbour Lights Café",
        emails=("owner@harbourlights.example",),
        language="en",
        street="2 Quay Parade",
        city="Swansea",
        postal_code="SA1 1UP",
        country="GB",
    ),
    CustomerData(
        ref="NORTHWIND",
        name="Northwind Traders Ltd",
        emails=(HARD_BOUNCE_ADDRESS,),
        language="en",
        street="9 Mill Lane",
        city="Leeds",
        postal_code="LS1 4AP",
        country="GB",
    ),
    CustomerData(
        ref="BRUNEAU",
        name="Bruneau Conseil SAS",
        emails=(MAILBOX_FULL_ADDRESS,),
        language="fr",
        street="5 place Bellecour",
        city="Lyon",
        postal_code="69002",
        country="FR",
    ),
)

_CONSULTING = LineData("Consulting, senior (days)", Decimal(3), Decimal("850.00"), Decimal(20))
_LICENCE = LineData("Software licence, annual", Decimal(1), Decimal("1200.00"), Decimal(20))
_BOOKS = LineData("Training handbooks", Decimal(12), Decimal("24.50"), Decimal(0))
_SUPPORT = LineData("Support hours", Decimal("7.5"), Decimal("95.00"), Decimal(20))


def _item(description: str, quantity: int | str, unit_price: int | str, tax_rate: int | str) -> LineData:
    return LineData(description, Decimal(quantity), Decimal(unit_price), Decimal(tax_rate))


def _lines(rate: str, *extra: LineData) -> tuple[LineData, ...]:
    tax = Decimal(rate)
    base = (
        LineData("Consulting (days)", Decimal(2), Decimal("780.00"), tax),
        LineData("Travel expenses", Decimal(1), Decimal("164.30"), tax),
    )
    return base + extra


@dataclass(frozen=True)
class DemoInvoice:
    """`issued`/`due` are days relative to today (negative: in the past)."""

    number: str
    customer: str
    issued: int
    due: int
    currency: str
    status: InvoiceStatus
    lines: tuple[LineData, ...]
    sent_via: SentVia | None = None
    corrects: str | None = None  # a credit note: the number of the demo invoice it corrects


_D, _V, _S, _P, _X = (
    InvoiceStatus.DRAFT,
    InvoiceStatus.VALIDATED,
    InvoiceStatus.SENT,
    InvoiceStatus.PAID,
    InvoiceStatus.VOID,
)
_EMAIL, _MANUAL = SentVia.EMAIL, SentVia.MANUAL

INVOICES = (
    # due today
    DemoInvoice("DEMO-0001", "ACME", -30, 0, "GBP", _V, (_CONSULTING, _LICENCE, _BOOKS)),
    DemoInvoice("DEMO-0002", "DUPONT", -30, 0, "EUR", _V, _lines("20")),
    DemoInvoice("DEMO-0003", "MUELLER", -14, 0, "EUR", _V, _lines("19", _item("Ersatzteile", 4, 37, 7))),
    DemoInvoice("DEMO-0004", "ALPENBLICK", -30, 0, "CHF", _V, _lines("8.1")),
    # overdue by days and weeks
    DemoInvoice("DEMO-0005", "VANDAM", -33, -3, "EUR", _V, _lines("21", _item("Boeken", 3, "19.95", 9))),
    DemoInvoice("DEMO-0006", "GARCIA", -40, -10, "EUR", _V, _lines("21", _item("Libros", 2, "24.00", 4))),
    DemoInvoice("DEMO-0007", "ROSSI", -51, -21, "EUR", _V, _lines("22", _item("Libri", 5, "18.00", 4))),
    DemoInvoice("DEMO-0008", "HARBOUR", -45, -15, "GBP", _V, (_SUPPORT, _BOOKS)),
    DemoInvoice("DEMO-0009", "NORTHWIND", -20, -1, "GBP", _V, (_CONSULTING,)),
    DemoInvoice("DEMO-0010", "BRUNEAU", -35, -5, "EUR", _V, _lines("20")),
    DemoInvoice("DEMO-0011", "MUELLER", -60, -30, "EUR", _D, _lines("19")),
    DemoInvoice("DEMO-0012", "ACME", -16, -2, "USD", _D, (_LICENCE,)),
    # due later
    DemoInvoice("DEMO-0013", "DUPONT", -2, 28, "EUR", _V, _lines("20", _item("Formation", 1, 450, "5.5"))),
    DemoInvoice("DEMO-0014", "GARCIA", -1, 29, "EUR", _V, _lines("21")),
    DemoInvoice("DEMO-0015", "VANDAM", 0, 14, "EUR", _D, _lines("21")),
    DemoInvoice("DEMO-0016", "ROSSI", 0, 30, "EUR", _D, _lines("22")),
    DemoInvoice("DEMO-0017", "ALPENBLICK", -3, 27, "CHF", _D, _lines("8.1", _item("Bücher", 6, "32.00", "2.6"))),
    DemoInvoice("DEMO-0018", "HARBOUR", -5, 9, "GBP", _V, (_SUPPORT,)),
    # sent by email and by other means
    DemoInvoice("DEMO-0019", "ACME", -45, -15, "GBP", _S, (_CONSULTING,), _EMAIL),
    DemoInvoice("DEMO-0020", "DUPONT", -20, 10, "EUR", _S, _lines("20"), _EMAIL),
    DemoInvoice("DEMO-0021", "MUELLER", -25, 5, "EUR", _S, _lines("19"), _MANUAL),
    DemoInvoice("DEMO-0022", "ROSSI", -70, -40, "EUR", _S, _lines("22"), _EMAIL),
    DemoInvoice("DEMO-0023", "GARCIA", -12, 18, "EUR", _S, _lines("21"), _MANUAL),
    # paid
    DemoInvoice("DEMO-0024", "ACME", -90, -60, "GBP", _P, (_LICENCE, _SUPPORT), _EMAIL),
    DemoInvoice("DEMO-0025", "VANDAM", -75, -45, "EUR", _P, _lines("21"), _EMAIL),
    DemoInvoice("DEMO-0026", "HARBOUR", -60, -30, "GBP", _P, (_BOOKS,), _MANUAL),
    DemoInvoice("DEMO-0027", "ALPENBLICK", -80, -50, "CHF", _P, _lines("8.1")),
    # void
    DemoInvoice("DEMO-0028", "DUPONT", -40, -10, "EUR", _X, _lines("20")),
    DemoInvoice("DEMO-0029", "MUELLER", -15, 15, "EUR", _X, _lines("19")),
    DemoInvoice("DEMO-0030", "NORTHWIND", -100, -70, "GBP", _X, (_CONSULTING,), _EMAIL),
    # a credit note, issued and due to go out today, correcting a sent invoice in part
    DemoInvoice(
        "DEMO-0031", "DUPONT", 0, 0, "EUR", _V, (_item("Remise commerciale", 1, 100, 20),), corrects="DEMO-0020"
    ),
)


@dataclass(frozen=True)
class SeedSummary:
    customers: int
    invoices_created: int
    invoices_skipped: int


def _at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def _apply_history(invoice: Invoice, spec: DemoInvoice, issued: date) -> None:
    """Stamp the dates a real history would have left (validated, sent, paid, voided)."""
    if spec.status != InvoiceStatus.DRAFT:
        invoice.validated_at = _at(issued, 9)
    if spec.sent_via is not None:
        invoice.sent_at = _at(issued + timedelta(days=1))
        invoice.sent_via = spec.sent_via
        invoice.sent_by = "seed"
    if spec.status == InvoiceStatus.PAID:
        invoice.paid_at = _at(issued + timedelta(days=20), 15)
    elif spec.status == InvoiceStatus.VOID:
        invoice.voided_at = _at(issued + timedelta(days=2), 11)


async def seed_demo(
    session: AsyncSession, *, organisation_id: int, today: date, smtp_verified: bool = False
) -> SeedSummary:
    """Fill the organisation with the demo; `smtp_verified` also marks its SMTP settings verified.

    The caller commits.
    """
    customers: dict[str, Customer] = {}
    for data in CUSTOMERS:
        customers[data.ref] = await upsert_customer(session, organisation_id=organisation_id, data=data)
    existing = set(
        (
            await session.execute(
                select(Invoice.number).where(
                    Invoice.organisation_id == organisation_id, Invoice.number.in_([spec.number for spec in INVOICES])
                )
            )
        ).scalars()
    )
    created = 0
    for spec in INVOICES:
        if spec.number in existing:
            continue
        issued = today + timedelta(days=spec.issued)
        invoice = await create_invoice(
            session,
            organisation_id=organisation_id,
            customer=customers[spec.customer],
            data=InvoiceData(
                number=spec.number,
                issue_date=issued,
                due_date=today + timedelta(days=spec.due),
                currency=spec.currency,
                lines=spec.lines,
                status=spec.status,
            ),
        )
        _apply_history(invoice, spec, issued)
        if spec.corrects is not None:
            await session.flush()
            corrected = await session.scalar(
                select(Invoice.id).where(Invoice.organisation_id == organisation_id, Invoice.number == spec.corrects)
            )
            invoice.kind, invoice.corrects_invoice_id = DocumentKind.CREDIT_NOTE, corrected
        created += 1
    if smtp_verified:
        organisation = await session.get(Organisation, organisation_id)
        if organisation is not None:
            organisation.smtp_status = SmtpStatus.VERIFIED
            organisation.smtp_checked_at = _at(today, 8)
    if created:
        entry = AuditEntry(
            organisation_id=organisation_id,
            actor="seed",
            action="seed",
            subject_type="organisation",
            subject_id=organisation_id,
            detail={"invoices_created": created, "today": today.isoformat()},
        )
        await write_owed(session, audits=[entry])
    await session.flush()
    return SeedSummary(customers=len(customers), invoices_created=created, invoices_skipped=len(INVOICES) - created)


async def run_seed(
    units: UnitsOfWork, *, organisation_id: int, today: date, smtp_verified: bool = False
) -> SeedSummary:
    """`invoicebot seed` and the demo: `seed_demo` in a unit of work, committed when this returns."""
    async with units() as unit:
        return await seed_demo(unit.session, organisation_id=organisation_id, today=today, smtp_verified=smtp_verified)

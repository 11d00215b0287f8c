"""Payments through `record_payment` and the payments import, on the real database: the rows
and audit entries a finance person would find, and the sentences a refusal reads."""

from datetime import date
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.authorization import ApprovalRules
from services.db.models import AuditLog, Invoice, InvoiceStatus, Organisation, Payment, PaymentSource
from services.errors import IllegalTransition, InvalidInput, NotAllowed
from services.invoicing.payment_reference import payment_reference
from services.invoicing.payments import PaymentRequest, paid_amounts
from services.payments_import import PaymentImportRun, import_payments
from services.unit_of_work import units_over
from services.use_cases import record_a_payment
from tests import factories

EVERYONE = ApprovalRules()  # no sender listed: everyone may record payments


def asked(number: str, amount: str | None, *, actor: str = "U1") -> PaymentRequest:
    return PaymentRequest(
        number=number,
        amount=None if amount is None else Decimal(amount),
        paid_on=date(2026, 11, 20),
        actor=actor,
        source=PaymentSource.SLACK,
    )


@pytest.fixture
async def invoices(session: AsyncSession, org: Organisation) -> dict[str, Invoice]:
    """ACME-1042 sent (120.00 EUR), ACME-1043 a draft, ACME-1044 void."""
    owner = await factories.customer(session, org.id)
    made = {
        number: await factories.invoice(session, org.id, owner, number=number, status=status)
        for number, status in (
            ("ACME-1042", InvoiceStatus.SENT),
            ("ACME-1043", InvoiceStatus.DRAFT),
            ("ACME-1044", InvoiceStatus.VOID),
        )
    }
    await session.commit()
    return made


async def audit_rows(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, str, dict[str, Any]]]:
    async with sessions() as session:
        rows = (await session.execute(select(AuditLog).order_by(AuditLog.id))).scalars()
        return [(row.action, row.actor, row.detail) for row in rows]


async def status_of(sessions: async_sessionmaker[AsyncSession], number: str) -> InvoiceStatus:
    async with sessions() as session:
        return (await session.execute(select(Invoice.status).where(Invoice.number == number))).scalar_one()


async def test_partial_then_full_payment_marks_the_invoice_paid_and_audits_both(sessions, org, invoices):
    units = units_over(sessions)

    first = await record_a_payment(units, rules=EVERYONE, organisation_id=org.id, request=asked("ACME-1042", "50"))
    assert (first.outstanding, first.fully_paid) == (Decimal("70.00"), False)
    assert first.sentence == "Payment of 50.00 EUR recorded on ACME-1042; 70.00 EUR is still outstanding."
    assert await status_of(sessions, "ACME-1042") == InvoiceStatus.SENT

    second = await record_a_payment(units, rules=EVERYONE, organisation_id=org.id, request=asked("ACME-1042", None))

    assert (second.amount, second.outstanding, second.fully_paid) == (Decimal("70.00"), Decimal(0), True)
    assert await status_of(sessions, "ACME-1042") == InvoiceStatus.PAID
    rows = await audit_rows(sessions)
    assert [(action, actor, detail.get("amount")) for action, actor, detail in rows] == [
        ("invoice.payment_recorded", "U1", "50.00"),
        ("invoice.payment_recorded", "U1", "70.00"),
        ("invoice.paid", "U1", None),
    ]
    async with sessions() as session:
        assert await paid_amounts(session, [invoices["ACME-1042"].id]) == {invoices["ACME-1042"].id: Decimal("120.00")}


@pytest.mark.parametrize(
    ("number", "amount", "error", "sentence"),
    [
        ("ACME-1042", "150", InvalidInput,
         "ACME-1042 has 120.00 EUR outstanding; a payment of 150.00 EUR is more than that."),
        ("ACME-1042", "0", InvalidInput, "A payment must be more than zero; 0 is not."),
        ("ACME-1042", "10.001", InvalidInput, "The amount 10.001 has more decimals than EUR has (2)."),
        ("ACME-1043", "10", IllegalTransition,
         "Invoice ACME-1043 is still a draft: validate it before recording a payment."),
        ("ACME-1044", "10", IllegalTransition, "Invoice ACME-1044 is void; no payment can be recorded on it."),
    ],
)  # fmt: skip
async def test_a_refused_payment_says_why_and_writes_nothing(sessions, org, invoices, number, amount, error, sentence):
    with pytest.raises(error) as refused:
        await record_a_payment(
            units_over(sessions), rules=EVERYONE, organisation_id=org.id, request=asked(number, amount)
        )

    assert str(refused.value) == sentence
    assert await audit_rows(sessions) == []
    async with sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Payment))).scalar_one() == 0


async def test_only_senders_may_record_payments(sessions, org, invoices):
    rules = ApprovalRules(senders=frozenset({"U1"}))

    with pytest.raises(NotAllowed, match="You can't record payments: only senders can"):
        await record_a_payment(
            units_over(sessions), rules=rules, organisation_id=org.id, request=asked("ACME-1042", "10", actor="U2")
        )


async def test_the_import_records_matched_lines_lists_the_others_and_never_twice(sessions, org, invoices):
    csv = (
        "invoice_number,reference,amount,date\n"
        "ACME-1042,BANK-1,20.00,2026-11-20\n"
        "NOPE-1,BANK-2,10,2026-11-20\n"
        ",ACME-1042,30,2026-11-21\n"
        "ACME-1042,BANK-4,1000,2026-11-21\n"
        "ACME-1042,BANK-5,12,2026-11-31\n"
    )
    run = PaymentImportRun(units=units_over(sessions), organisation_id=org.id, rules=EVERYONE, actor="cli")

    first = await import_payments(run, StringIO(csv))

    assert [(line, recorded.amount) for line, recorded in first.recorded] == [(2, Decimal(20)), (4, Decimal(30))]
    assert [str(problem) for problem in first.problems] == [
        "line 3: There is no invoice 'NOPE-1'.",
        "line 5: ACME-1042 has 70.00 EUR outstanding; a payment of 1000.00 EUR is more than that.",
        "line 6: date '2026-11-31' is not a date (write it as YYYY-MM-DD, e.g. 2026-11-23)",
    ]

    again = await import_payments(run, StringIO(csv))

    assert (again.recorded, again.repeated) == ([], [2, 4])
    async with sessions() as session:
        assert await paid_amounts(session, [invoices["ACME-1042"].id]) == {invoices["ACME-1042"].id: Decimal(50)}
        sources = (await session.execute(select(Payment.source, Payment.reference).order_by(Payment.id))).all()
    assert sources == [(PaymentSource.IMPORT, "BANK-1"), (PaymentSource.IMPORT, "ACME-1042")]


async def test_the_import_finds_an_invoice_by_the_structured_reference_the_customer_paid_with(sessions, org, invoices):
    invoice = invoices["ACME-1042"]
    typed = payment_reference(invoice.id, seller_country=org.country).replace(" ", "").lower()
    csv = f"invoice_number,reference,amount,date\n,{typed},25.00,2026-11-22\n,RF00 0000 0000,5,2026-11-22\n"
    run = PaymentImportRun(units=units_over(sessions), organisation_id=org.id, rules=EVERYONE, actor="cli")

    result = await import_payments(run, StringIO(csv))

    assert [(line, recorded.number, recorded.amount) for line, recorded in result.recorded] == [
        (2, "ACME-1042", Decimal(25))
    ]
    assert [str(problem) for problem in result.problems] == ["line 3: There is no invoice 'RF00 0000 0000'."]
    async with sessions() as session:
        assert await paid_amounts(session, [invoice.id]) == {invoice.id: Decimal(25)}

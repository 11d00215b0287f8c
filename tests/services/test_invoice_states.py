from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import ApprovalRules
from services.db.models import AuditLog, InvoiceStatus, Organisation
from services.errors import IllegalTransition, InvalidInput, NotFound
from services.invoicing.invoices import (
    InvoiceAct,
    get_invoice,
    mark_paid,
    mark_sent_manually,
    recipients_of,
    set_invoice_recipients,
    validate_invoice,
    void_invoice,
)
from tests import factories

RULES_FOR_TEST = ApprovalRules()  # no sender listed: everyone may change invoices

AT = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
D, V, S, P, X = (
    InvoiceStatus.DRAFT,
    InvoiceStatus.VALIDATED,
    InvoiceStatus.SENT,
    InvoiceStatus.PAID,
    InvoiceStatus.VOID,
)
CHANGES = {"validate": validate_invoice, "mark_sent": mark_sent_manually, "paid": mark_paid, "void": void_invoice}
STAMP = {"validate": "validated_at", "mark_sent": "sent_at", "paid": "paid_at", "void": "voided_at"}


async def invoice_in(session: AsyncSession, org: Organisation, status: InvoiceStatus):
    owner = await factories.customer(session, org.id)
    invoice = await factories.invoice(session, org.id, owner, number="INV-7", status=status)
    await session.commit()
    return invoice


async def audit_rows(session: AsyncSession) -> list[tuple[str, str, dict[str, Any]]]:
    rows = (await session.execute(select(AuditLog).order_by(AuditLog.id))).scalars()
    return [(row.action, row.actor, row.detail) for row in rows]


@pytest.mark.parametrize(
    ("change", "start", "end", "audit_detail"),
    [
        ("validate", D, V, {"number": "INV-7", "from": "draft"}),
        ("mark_sent", V, S, {"number": "INV-7", "from": "validated", "via": "manual"}),
        ("paid", V, P, {"number": "INV-7", "from": "validated"}),
        ("paid", S, P, {"number": "INV-7", "from": "sent"}),
        ("void", D, X, {"number": "INV-7", "from": "draft"}),
        ("void", V, X, {"number": "INV-7", "from": "validated"}),
        ("void", S, X, {"number": "INV-7", "from": "sent"}),
    ],
)
async def test_legal_transition_changes_status_stamps_the_time_and_writes_the_audit_log(
    session, org, change, start, end, audit_detail
):
    await invoice_in(session, org, start)

    await CHANGES[change](
        session, InvoiceAct(organisation_id=org.id, number="INV-7", actor="U123", rules=RULES_FOR_TEST, at=AT)
    )
    await session.commit()

    session.expunge_all()
    invoice = await get_invoice(session, organisation_id=org.id, number="INV-7")
    assert invoice.status == end
    assert getattr(invoice, STAMP[change]) == AT
    assert await audit_rows(session) == [(f"invoice.{end.value}", "U123", audit_detail)]


async def test_marking_sent_manually_records_how_and_who(session, org):
    await invoice_in(session, org, V)
    await mark_sent_manually(
        session,
        InvoiceAct(organisation_id=org.id, number="INV-7", actor="U9", rules=RULES_FOR_TEST, at=AT),
        note="posted",
    )
    await session.commit()
    invoice = await get_invoice(session, organisation_id=org.id, number="INV-7")
    assert (invoice.sent_via, invoice.sent_by, invoice.sent_at) == ("manual", "U9", AT)
    [(_, _, detail)] = await audit_rows(session)
    assert detail["note"] == "posted"


@pytest.mark.parametrize(
    ("change", "start", "message"),
    [
        ("validate", V, "Invoice INV-7 is already validated."),
        ("validate", S, "Invoice INV-7 was already sent; a sent invoice cannot be validated again."),
        ("validate", P, "Invoice INV-7 is already paid and cannot be validated."),
        ("validate", X, "Invoice INV-7 is void and cannot be validated."),
        ("mark_sent", D, "Invoice INV-7 is still a draft: validate it before it is marked as sent."),
        ("mark_sent", S, "Invoice INV-7 is already sent."),
        ("mark_sent", P, "Invoice INV-7 is already paid and cannot be marked as sent."),
        ("mark_sent", X, "Invoice INV-7 is void and cannot be marked as sent."),
        ("paid", D, "Invoice INV-7 is still a draft: validate it before it is marked as paid."),
        ("paid", P, "Invoice INV-7 is already paid."),
        ("paid", X, "Invoice INV-7 is void and cannot be marked as paid."),
        ("void", P, "Invoice INV-7 is already paid and cannot be voided."),
        ("void", X, "Invoice INV-7 is already void."),
    ],
)
async def test_illegal_transition_is_refused_with_a_reason_and_changes_nothing(session, org, change, start, message):
    await invoice_in(session, org, start)

    with pytest.raises(IllegalTransition) as caught:
        await CHANGES[change](
            session, InvoiceAct(organisation_id=org.id, number="INV-7", actor="U123", rules=RULES_FOR_TEST, at=AT)
        )

    assert str(caught.value) == message
    await session.rollback()
    await session.refresh(org)
    invoice = await get_invoice(session, organisation_id=org.id, number="INV-7")
    assert invoice.status == start
    assert await audit_rows(session) == []


async def test_an_unknown_number_is_not_found(session, org):
    with pytest.raises(NotFound, match=r"There is no invoice 'NOPE'\."):
        await validate_invoice(
            session, InvoiceAct(organisation_id=org.id, number=" NOPE ", actor="U1", rules=RULES_FOR_TEST)
        )


async def test_an_invoice_of_another_organisation_is_not_found(session, org):
    await invoice_in(session, org, D)
    other = Organisation(name="Other Ltd")
    session.add(other)
    await session.commit()
    with pytest.raises(NotFound):
        await validate_invoice(
            session, InvoiceAct(organisation_id=other.id, number="INV-7", actor="U1", rules=RULES_FOR_TEST)
        )


@pytest.mark.parametrize("start", [D, V])
async def test_recipients_can_be_changed_while_unsent_and_the_change_is_audited(session, org, start):
    await invoice_in(session, org, start)

    await set_invoice_recipients(
        session,
        organisation_id=org.id,
        number="INV-7",
        emails=["billing@acme.example", "Billing@acme.example"],
        actor="U5",
        rules=RULES_FOR_TEST,
    )
    await session.commit()

    invoice = await get_invoice(session, organisation_id=org.id, number="INV-7")
    assert recipients_of(invoice) == ["billing@acme.example"]
    assert await audit_rows(session) == [
        (
            "invoice.recipients_changed",
            "U5",
            {"number": "INV-7", "before": "ap@acme.example", "after": "billing@acme.example"},
        )
    ]


@pytest.mark.parametrize("start", [S, P, X])
async def test_recipients_cannot_be_changed_once_sent_paid_or_void(session, org, start):
    await invoice_in(session, org, start)
    with pytest.raises(IllegalTransition) as caught:
        await set_invoice_recipients(
            session, organisation_id=org.id, number="INV-7", emails=["b@acme.example"], actor="U5", rules=RULES_FOR_TEST
        )
    assert str(caught.value) == f"Invoice INV-7 is {start.value}; its recipients can only be changed before it is sent."


async def test_recipients_must_be_valid_and_not_empty(session, org):
    await invoice_in(session, org, V)
    with pytest.raises(InvalidInput, match=r"Give at least one recipient email address\."):
        await set_invoice_recipients(
            session, organisation_id=org.id, number="INV-7", emails=[], actor="U5", rules=RULES_FOR_TEST
        )
    with pytest.raises(InvalidInput, match="is not a valid email address"):
        await set_invoice_recipients(
            session, organisation_id=org.id, number="INV-7", emails=["nope@"], actor="U5", rules=RULES_FOR_TEST
        )

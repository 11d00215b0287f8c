"""The actions with no Slack surface (CLI only today), authorised at the service.

Each is tried by a user of each role and one with none: a refusal raises NotAllowed and
leaves the database as it was; the CLI's operator may do all of them and is audited as `cli`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import OPERATOR, ApprovalRules
from services.db.models import AuditLog, Customer, Delivery, Invoice, Organisation, Suppression, TemplateOverride
from services.email.template_overrides import TemplateEdit, delete_template_override, save_template_override
from services.errors import NotAllowed
from services.invoicing.customers import replace_customer_emails
from services.invoicing.invoices import InvoiceAct, mark_paid, set_invoice_recipients, void_invoice
from services.sending.bulk import BulkRequest, request_bulk_delivery
from services.sending.readiness import SendingState
from services.sending.requests import cancel_delivery
from services.tracking.suppression import AddressEvent, lift_suppression, suppress_address
from tests import factories
from tests.harness.requesting import send_context

NOW = datetime(2026, 11, 23, 14, 3, tzinfo=UTC)
RULES = ApprovalRules(senders=frozenset({"USENDER"}), approvers=frozenset({"UAPPROVER"}), admins=frozenset({"UADMIN"}))
ROLES = {"sender": "USENDER", "approver": "UAPPROVER", "admin": "UADMIN", "none": "UNOBODY", "operator": OPERATOR}
Act = Callable[[AsyncSession, int, str], Awaitable[Any]]  # (session, organisation id, user)


async def _lift(session: AsyncSession, org: int, user: str) -> Any:
    return await lift_suppression(
        session, organisation_id=org, email="gone@acme.example", actor=user, rules=RULES, now=NOW
    )


async def _save_template(session: AsyncSession, org: int, user: str) -> Any:
    edit = TemplateEdit(language="en", part="subject", source="Invoice {{ invoice_number }}")
    return await save_template_override(session, organisation_id=org, edit=edit, actor=user, rules=RULES)


async def _delete_template(session: AsyncSession, org: int, user: str) -> Any:
    return await delete_template_override(
        session, organisation_id=org, language="en", part="text", actor=user, rules=RULES
    )


async def _mark_paid(session: AsyncSession, org: int, user: str) -> Any:
    return await mark_paid(session, InvoiceAct(organisation_id=org, number="INV-0001", actor=user, rules=RULES, at=NOW))


async def _void(session: AsyncSession, org: int, user: str) -> Any:
    return await void_invoice(
        session, InvoiceAct(organisation_id=org, number="INV-0001", actor=user, rules=RULES, at=NOW)
    )


async def _fix_address(session: AsyncSession, org: int, user: str) -> Any:
    customer_id = (await session.execute(select(Customer.id))).scalar_one()
    return await replace_customer_emails(
        session, organisation_id=org, customer_id=customer_id, emails=["new@acme.example"], actor=user, rules=RULES
    )


async def _change_recipients(session: AsyncSession, org: int, user: str) -> Any:
    return await set_invoice_recipients(
        session, organisation_id=org, number="INV-0001", emails=["other@acme.example"], actor=user, rules=RULES
    )


ACTIONS: dict[str, tuple[Act, set[str], str]] = {
    "lift suppression": (_lift, {"admin"}, "You can't take an address off the suppression list: only admins can"),
    "save template": (_save_template, {"admin"}, "You can't change the email templates: only admins can"),
    "reset template": (_delete_template, {"admin"}, "You can't change the email templates: only admins can"),
    "mark paid": (_mark_paid, {"sender", "admin"}, "You can't mark invoices as paid: only senders can"),
    "void": (_void, {"sender", "admin"}, "You can't void invoices: only senders can"),
    "fix address": (_fix_address, {"sender", "admin"}, "You can't change addresses and resend: only senders can"),
    "change recipients": (
        _change_recipients,
        {"sender", "admin"},
        "You can't change addresses and resend: only senders can",
    ),
}


async def _everything(session: AsyncSession) -> list[Any]:
    session.expire_all()
    return [
        list(await session.execute(select(Invoice.number, Invoice.status))),
        list(await session.execute(select(Customer.emails))),
        list(await session.execute(select(Suppression.email, Suppression.active))),
        list(await session.execute(select(TemplateOverride.part, TemplateOverride.source))),
        list(await session.execute(select(AuditLog.actor, AuditLog.action))),
    ]


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("name", list(ACTIONS))
async def test_each_cli_action_is_refused_to_a_role_it_is_not_for_and_changes_nothing(
    name: str, role: str, session: AsyncSession, org: Organisation
) -> None:
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme, number="INV-0001")
    await suppress_address(
        session,
        organisation_id=org.id,
        now=NOW,
        event=AddressEvent(email="gone@acme.example", kind="hard_bounce", detail=None, actor="events"),
    )
    await save_template_override(
        session,
        organisation_id=org.id,
        edit=TemplateEdit(language="en", part="text", source="Hello"),
        actor=OPERATOR,
        rules=RULES,
    )
    await session.commit()
    act, allowed, refusal = ACTIONS[name]
    user, org_id = ROLES[role], org.id
    before = await _everything(session)

    if role in allowed or user == OPERATOR:
        await act(session, org_id, user)
        await session.commit()
        after = await _everything(session)
        assert after != before
        assert after[-1][-1][0] == user  # audited under who did it (`cli` for the operator)
    else:
        with pytest.raises(NotAllowed, match=f"^{refusal}"):
            await act(session, org_id, user)
        await session.rollback()
        assert await _everything(session) == before


@pytest.mark.parametrize("role", list(ROLES))
async def test_a_send_is_cancelled_by_its_asker_an_approver_or_an_admin_only(
    role: str, session: AsyncSession, org: Organisation
) -> None:
    delivery = await factories.queued_delivery(session, org.id, verp_secret=b"secret")  # asked for by U_ALICE
    delivery_id, org_id = delivery.id, org.id
    user = ROLES[role]

    if role in ("approver", "admin", "operator"):
        cancelled = await cancel_delivery(
            session, organisation_id=org_id, delivery_id=delivery_id, actor=user, rules=RULES, now=NOW
        )
        assert cancelled.status == "cancelled"
        return
    with pytest.raises(NotAllowed, match=r"^You can't cancel this send: only the person who asked for it"):
        await cancel_delivery(
            session, organisation_id=org_id, delivery_id=delivery_id, actor=user, rules=RULES, now=NOW
        )
    await session.rollback()
    # the person who asked for it may, whatever their role
    mine = await cancel_delivery(
        session, organisation_id=org_id, delivery_id=delivery_id, actor="U_ALICE", rules=RULES, now=NOW
    )
    assert mine.status == "cancelled"


@pytest.mark.parametrize("role", ["approver", "none"])
async def test_send_all_ready_is_refused_to_who_is_not_a_sender_and_creates_nothing(
    role: str, session: AsyncSession, org: Organisation
) -> None:
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme, number="INV-0001")
    await session.commit()

    with pytest.raises(NotAllowed, match=r"^You can't send invoices: only senders can"):
        await request_bulk_delivery(
            session,
            organisation_id=org.id,
            sending=SendingState(configured=True, verified=True),
            request=BulkRequest(
                invoice_numbers=["INV-0001"],
                requested_by=ROLES[role],
                public_url="http://localhost:3000",
                idempotency_key="bulk-1",
            ),
            send=send_context(rules=RULES, domain="example.com", secret=b"secret"),
        )
    await session.rollback()
    assert list(await session.execute(select(Delivery.id))) == []

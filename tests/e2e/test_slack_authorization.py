"""Who may do what, action by action, through the real web app with signed requests.

Each Slack surface that changes something is clicked by a user of each role and by one
with none. An allowed click changes the database; a refused one gets an ephemeral
sentence naming the role needed (a modal: an inline error) and changes nothing, not even
the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, SlackUserRef, overflow_choice
from handlers.blocks.bulk import encode_numbers
from handlers.ids import ActionId, BlockId, CallbackId
from services.authorization import ApprovalRules
from services.db.models import (
    Approval,
    AuditLog,
    Customer,
    Delivery,
    DeliveryStatus,
    Invoice,
    InvoiceStatus,
    Organisation,
    utcnow,
)
from services.sending.readiness import SendingState
from services.sending.requests import DeliveryRequest, request_delivery
from tests import factories
from tests.harness.modals import open_review, submit
from tests.harness.reading import notice, row_menus, texts
from tests.harness.requesting import send_context
from tests.harness.slack import TODAY, settings_with

SENDER = SlackUserRef(id="U0SENDER", team_id="T0OWN", name="sam")
ASKER = SlackUserRef(id="U0ASKER", team_id="T0OWN", name="ash")  # a sender who asks for approved sends
APPROVER = SlackUserRef(id="U0APPROVER", team_id="T0OWN", name="april")
ADMIN = SlackUserRef(id="U0ADMIN", team_id="T0OWN", name="ada")
NOBODY = SlackUserRef(id="U0NOBODY", team_id="T0OWN", name="nick")
ROLES = {"sender": SENDER, "approver": APPROVER, "admin": ADMIN, "none": NOBODY}
RULES = ApprovalRules(
    senders=frozenset({SENDER.id, ASKER.id}),
    approvers=frozenset({APPROVER.id}),
    admins=frozenset({ADMIN.id}),
    policy="always",
)


# One user per role; every send needs an approval, so approve/reject have something to decide.
settings = settings_with(
    INVOICEBOT_SENDERS=f"{SENDER.id},{ASKER.id}",
    INVOICEBOT_APPROVERS=APPROVER.id,
    INVOICEBOT_ADMINS=ADMIN.id,
    INVOICEBOT_APPROVAL_POLICY="always",
    INVOICEBOT_APPROVERS_CHANNEL="C0APPROVE",
    INVOICEBOT_SECRET_KEY="test-verp-secret",
)


@dataclass(frozen=True)
class Surface:
    """A Slack surface that changes state: how to set it up, click it, and see that it did."""

    name: str
    allowed: frozenset[str]  # the roles (keys of ROLES) that may use it
    refusal: str
    done: str  # the invoice status, or the delivery status, once done


async def _due_menu_click(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, user: SlackUserRef, choice: str, key: str
) -> dict[str, Any]:
    listing = (await slack.command("due", user=user, response_url=fake_slack.response_url("list"))).json()
    [(menu, block_id)] = row_menus(listing["blocks"])
    await slack.click(overflow_choice(menu, block_id=block_id, option_value=choice), user=user,
                      response_url=fake_slack.response_url(key))  # fmt: skip
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to(key)) == 1)
    return fake_slack.responses_to(key)[0].body


async def _button_click(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, user: SlackUserRef, action_id: str, value: str, key: str
) -> dict[str, Any]:
    action = {"type": "button", "action_id": action_id, "block_id": "b", "value": value}
    assert (await slack.click(action, user=user, response_url=fake_slack.response_url(key))).status_code == 200
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to(key)) == 1)
    return fake_slack.responses_to(key)[0].body


async def _awaiting_approval(session: AsyncSession, org: Organisation) -> int:
    """INV-0001's send asked for by ASKER, waiting for approval; its id."""
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme, number="INV-0001", due=TODAY)
    await session.commit()
    outcome = await request_delivery(
        session,
        organisation_id=org.id,
        request=DeliveryRequest(
            invoice_number="INV-0001",
            to=("ap@acme.example",),
            subject="Invoice",
            message="Hello",
            requested_by=ASKER.id,
        ),
        sending=SendingState(configured=True, verified=True),
        send=send_context(
            rules=RULES, now=utcnow() - timedelta(minutes=1), domain="example.com", secret=b"test-verp-secret"
        ),
    )
    await session.commit()
    return outcome.delivery.id


async def _bounced(session: AsyncSession, org: Organisation) -> int:
    """INV-0001's send, bounced: the problem an alert's buttons act on; its id."""
    delivery_id = await _awaiting_approval(session, org)
    delivery = await session.get(Delivery, delivery_id)
    assert delivery is not None
    delivery.status = DeliveryStatus.BOUNCED
    await session.commit()
    return delivery_id


async def _state(session: AsyncSession) -> tuple[dict[str, str], dict[int, str], list[str]]:
    """Every invoice's status, every send's status, and the audit log's actions."""
    session.expire_all()
    invoices = {number: str(status) for number, status in await session.execute(select(Invoice.number, Invoice.status))}
    sends = {id_: str(status) for id_, status in await session.execute(select(Delivery.id, Delivery.status))}
    audit = list((await session.execute(select(AuditLog.action).order_by(AuditLog.id))).scalars())
    return invoices, sends, audit


INVOICE_MENU = {
    "validate": (InvoiceStatus.DRAFT, "validate:INV-0001", "validated", "You can't validate invoices"),
    "mark_sent": (InvoiceStatus.VALIDATED, "mark_sent:INV-0001", "sent", "You can't mark invoices as sent"),
}


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("choice", list(INVOICE_MENU))
async def test_only_senders_and_admins_validate_or_mark_sent_from_the_due_menu(
    choice: str,
    role: str,
    slack: SlackRequestClient,
    fake_slack: FakeSlackApi,
    session: AsyncSession,
    org: Organisation,
):
    status, option, done, refusal = INVOICE_MENU[choice]
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme, number="INV-0001", due=TODAY, status=status)
    await session.commit()
    before = await _state(session)

    answer = await _due_menu_click(slack, fake_slack, ROLES[role], option, "menu")

    invoices, _, audit = await _state(session)
    if role in ("sender", "admin"):
        assert invoices == {"INV-0001": done}
        assert audit == [f"invoice.{done}"]
    else:
        assert answer == {
            "text": f"{refusal}: only senders can; ask an admin to add you to the senders.",
            "response_type": "ephemeral",
            "replace_original": False,
        }
        assert await _state(session) == before


@pytest.mark.parametrize("role", list(ROLES))
async def test_only_senders_and_admins_mark_sent_manually_from_an_alert(
    role: str, slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    delivery_id = await _bounced(session, org)
    before = await _state(session)

    answer = await _button_click(slack, fake_slack, ROLES[role], ActionId.MARK_SENT_MANUALLY, str(delivery_id), "m")

    invoices, _, audit = await _state(session)
    if role in ("sender", "admin"):
        assert invoices == {"INV-0001": "sent"}
        assert audit[-1] == "invoice.sent"
        assert answer["text"] == "INV-0001 marked as sent"
    else:
        assert answer["response_type"] == "ephemeral"
        assert answer["text"] == (
            "You can't mark invoices as sent: only senders can; ask an admin to add you to the senders."
        )
        assert await _state(session) == before


DECISIONS = {
    ActionId.APPROVE_DELIVERY: ("queued", "You can't approve this: only approvers can."),
    ActionId.REJECT_DELIVERY: ("rejected", "You can't reject this: only approvers can."),
}


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("action_id", list(DECISIONS))
async def test_only_approvers_approve_or_reject(
    action_id: ActionId,
    role: str,
    slack: SlackRequestClient,
    fake_slack: FakeSlackApi,
    session: AsyncSession,
    org: Organisation,
):
    delivery_id = await _awaiting_approval(session, org)
    before = await _state(session)
    done, refusal = DECISIONS[action_id]

    if role == "approver" and action_id == ActionId.REJECT_DELIVERY:  # the approver is asked why first
        action = {"type": "button", "action_id": action_id, "block_id": "b", "value": str(delivery_id)}
        assert (await slack.click(action, user=APPROVER, response_url=fake_slack.response_url())).status_code == 200
        await fake_slack.wait_until(lambda: bool(fake_slack.calls_to("views.open")))
        assert await _state(session) == before
        modal = fake_slack.views[list(fake_slack.views)[-1]]
        answer = await submit(slack, modal, user=APPROVER, reject_reason="wrong customer")
    else:
        answer = await _button_click(slack, fake_slack, ROLES[role], action_id, str(delivery_id), "decide")

    _, sends, _ = await _state(session)
    if role == "approver":
        assert sends == {delivery_id: done}
    else:
        assert answer == {"text": refusal, "response_type": "ephemeral", "replace_original": False}
        assert await _state(session) == before
        session.expire_all()
        assert (await session.execute(select(Approval.decision))).scalar_one() == "pending"


@pytest.mark.parametrize("action_id", list(DECISIONS))
async def test_the_asker_decides_nothing_on_their_own_send(
    action_id: ActionId, slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    delivery_id = await _awaiting_approval(session, org)
    before = await _state(session)

    answer = await _button_click(slack, fake_slack, ASKER, action_id, str(delivery_id), "own")

    assert answer["text"].startswith("You asked for this send")
    assert await _state(session) == before


@pytest.mark.parametrize("role", list(ROLES))
async def test_only_senders_and_admins_send_from_the_review_modal(
    role: str, slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme, number="INV-0001", due=TODAY)
    await session.commit()
    user = ROLES[role]

    answer = await submit(
        slack, await open_review(slack, fake_slack, "INV-0001", user=user), user=user, fake_slack=fake_slack
    )

    _, sends, audit = await _state(session)
    if role in ("sender", "admin"):
        assert list(sends.values()) == ["awaiting_approval"]
    else:
        assert answer["response_action"] == "update"  # the form again, saying why (after the ack)
        assert notice(answer["view"]) == (
            "⚠️ You can't send invoices: only senders can; ask an admin to add you to the senders."
        )
        assert (sends, audit) == ({}, [])


@pytest.mark.parametrize("role", list(ROLES))
async def test_only_senders_and_admins_fix_an_address_and_resend(
    role: str, slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    delivery_id = await _bounced(session, org)
    before = await _state(session)
    modal = {"id": "VFIX1", "callback_id": CallbackId.FIX_ADDRESS, "private_metadata": str(delivery_id)}
    fake_slack.views["VFIX1"] = {**modal, "hash": "h0", "root_view_id": "VFIX1"}  # as if Slack showed it
    typed: dict[str, Any] = {BlockId.FIX_EMAILS: {"emails": {"type": "plain_text_input", "value": "new@acme.example"}}}

    response = await slack.submit(modal, typed, user=ROLES[role])

    assert response.status_code == 200
    assert texts(response.json()["view"]["blocks"]) == ["⏳ Saving the addresses and sending again…"]
    await fake_slack.wait_until(lambda: bool(fake_slack.calls_to("views.update")))
    shown = texts(fake_slack.views["VFIX1"]["blocks"])
    session.expire_all()
    emails = (await session.execute(select(Customer.emails))).scalar_one()
    if role in ("sender", "admin"):
        assert emails == ["new@acme.example"]
        assert len((await _state(session))[1]) == 2  # the resend, waiting for its approval
        assert shown == ["✅ Addresses saved. The invoice waits for approval before it goes out again."]
    else:
        assert (
            "⚠️ You can't change addresses and resend: only senders can; ask an admin to add you to the senders."
            in shown
        )  # the modal again, saying why (after the ack)
        assert emails == ["ap@acme.example"]
        assert await _state(session) == before


@pytest.mark.parametrize("role", list(ROLES))
async def test_only_senders_and_admins_confirm_send_all_ready(
    role: str, slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme, number="INV-0001", due=TODAY)
    await session.commit()
    confirmation = {"id": "VBULK1", "callback_id": CallbackId.BULK, "private_metadata": encode_numbers(["INV-0001"])}
    fake_slack.views["VBULK1"] = {**confirmation, "hash": "h0", "root_view_id": "VBULK1"}  # as if Slack showed it

    answer = (await slack.submit(confirmation, {}, user=ROLES[role])).json()

    assert texts(answer["view"]["blocks"]) == ["⏳ Sending 1 invoice…"]
    await fake_slack.wait_until(lambda: bool(fake_slack.calls_to("views.update")))
    outcome = texts(fake_slack.views["VBULK1"]["blocks"])[0]
    _, sends, audit = await _state(session)
    if role in ("sender", "admin"):
        assert list(sends.values()) == ["awaiting_approval"]
    else:
        assert outcome == (
            "⚠️ You can't send invoices: only senders can; ask an admin to add you to the senders.\n"
            "Nothing was sent. Close this and press Send all ready in /invoices due to try again."
        )
        assert (sends, audit) == ({}, [])

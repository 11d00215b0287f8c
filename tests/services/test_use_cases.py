"""The Slack surface's use cases (services.use_cases) with a fake unit of work over a test session.

The fake records how each use case ended its transaction, so these tests show what a
handler can no longer get wrong: a success commits once with its audit entry and posts, a
refusal rolls back and leaves nothing, and the result is plain values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import ApprovalRules
from services.db.models import Approval, AuditLog, Delivery, DeliveryStatus, Notification, Organisation
from services.errors import NotAllowed
from services.sending.context import SendContext
from services.sending.readiness import SendingState
from services.sending.requests import DeliveryRequest
from services.unit_of_work import AuditEntry, OwedPost, UnitOfWork, write_owed
from services.use_cases import (
    ApprovalAnswer,
    DecidedSend,
    InvoiceChange,
    SendAsked,
    ask_for_send,
    change_invoice,
    decide_approval,
)
from tests import factories
from tests.harness.reminder_sends import queued_reminder

NOW = datetime(2026, 11, 23, 14, 3, tzinfo=UTC)
VERIFIED = SendingState(configured=True, verified=True)
RULES = ApprovalRules(senders=frozenset({"U1"}), approvers=frozenset({"U2"}), policy="always")


@dataclass
class FakeUnitOfWork:
    """A unit of work over the test's session that flushes instead of committing, and says how it ended."""

    session: AsyncSession
    ended: list[str] = field(default_factory=list)
    audits: list[AuditEntry] = field(default_factory=list)
    posts: list[OwedPost] = field(default_factory=list)

    def owe_audit(self, entry: AuditEntry) -> None:
        self.audits.append(entry)

    def owe_post(self, post: OwedPost) -> None:
        self.posts.append(post)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if error is None:
            await write_owed(self.session, audits=self.audits, posts=self.posts)
            await self.session.flush()
            self.ended.append("commit")
        else:
            await self.session.rollback()
            self.ended.append("rollback")

    def __call__(self) -> UnitOfWork:
        return self


def _send(clock: datetime = NOW) -> SendContext:
    return SendContext(rules=RULES, message_id_domain="example.com", verp_secret=lambda: b"secret", clock=lambda: clock)


def _request(user: str = "U1") -> DeliveryRequest:
    return DeliveryRequest(
        invoice_number="INV-0001", to=("ap@acme.example",), subject="Invoice", message="Hello", requested_by=user
    )


async def _count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _invoice(session: AsyncSession, org: Organisation) -> None:
    await factories.invoice(session, org.id, await factories.customer(session, org.id))
    await session.commit()


async def test_asking_for_a_send_commits_once_and_returns_plain_values(
    session: AsyncSession, org: Organisation
) -> None:
    await _invoice(session, org)
    unit = FakeUnitOfWork(session)
    asked = await ask_for_send(unit, send=_send(), organisation_id=org.id, sending=VERIFIED, request=_request())
    assert asked == SendAsked(awaiting_approval=True, preview=False, created=True)
    assert unit.ended == ["commit"]
    assert await _count(session, Delivery) == 1
    kinds = (await session.scalars(select(Notification.kind).order_by(Notification.id))).all()
    assert kinds == ["delivery_status", "approval_request"]
    assert (await session.scalars(select(AuditLog.action))).all()[-1] == "delivery.requested"


async def test_a_refused_send_rolls_back_and_leaves_nothing(session: AsyncSession, org: Organisation) -> None:
    await _invoice(session, org)
    unit = FakeUnitOfWork(session)
    with pytest.raises(NotAllowed):
        await ask_for_send(unit, send=_send(), organisation_id=org.id, sending=VERIFIED, request=_request("U9"))
    assert unit.ended == ["rollback"]
    assert await _count(session, Delivery) == 0 and await _count(session, Notification) == 0


async def test_an_approval_decision_is_its_own_unit_of_work(session: AsyncSession, org: Organisation) -> None:
    await _invoice(session, org)
    asking = FakeUnitOfWork(session)
    await ask_for_send(asking, send=_send(), organisation_id=org.id, sending=VERIFIED, request=_request())
    delivery_id = await session.scalar(select(Delivery.id))
    assert delivery_id is not None
    deciding = FakeUnitOfWork(session)
    decided = await decide_approval(
        deciding, send=_send(), answer=ApprovalAnswer(organisation_id=org.id, delivery_id=delivery_id, approver="U2",
                                                      approve=True),
    )  # fmt: skip
    assert decided == DecidedSend("INV-0001", reminder=False) and deciding.ended == ["commit"]
    assert await session.scalar(select(Delivery.status)) == "queued"
    with pytest.raises(Exception, match="Already approved"):
        await decide_approval(
            FakeUnitOfWork(session), send=_send(), answer=ApprovalAnswer(organisation_id=org.id,
                delivery_id=delivery_id, approver="U2", approve=False, reason="too late"),
        )  # fmt: skip


async def test_a_decision_on_a_reminder_says_it_was_a_reminder(session: AsyncSession, org: Organisation) -> None:
    """The approver's answer names what they let out: "the reminder for *INV-R1*", not "the send of"."""
    reminder = await queued_reminder(session, org, ("INV-R1", "INV-R2"))
    await session.execute(
        update(Delivery).where(Delivery.id == reminder.id).values(status=DeliveryStatus.AWAITING_APPROVAL)
    )
    session.add(Approval(organisation_id=org.id, delivery_id=reminder.id, requested_by="reminders"))
    await session.commit()

    decided = await decide_approval(
        FakeUnitOfWork(session), send=_send(),
        answer=ApprovalAnswer(organisation_id=org.id, delivery_id=reminder.id, approver="U2", approve=True),
    )  # fmt: skip

    assert decided == DecidedSend("INV-R1", reminder=True)
    assert await session.scalar(select(Delivery.status).where(Delivery.id == reminder.id)) == "queued"


async def test_a_row_menu_change_needs_the_rules_and_names_the_invoice(
    session: AsyncSession, org: Organisation
) -> None:
    await _invoice(session, org)
    unit = FakeUnitOfWork(session)
    with pytest.raises(NotAllowed):
        await change_invoice(
            unit, rules=RULES, organisation_id=org.id, number="INV-0001", actor="U9", change=InvoiceChange.MARK_SENT
        )
    assert unit.ended == ["rollback"]
    done = FakeUnitOfWork(session)
    number = await change_invoice(
        done, rules=RULES, organisation_id=org.id, number="INV-0001", actor="U1", change=InvoiceChange.MARK_SENT
    )
    assert number == "INV-0001" and done.ended == ["commit"]

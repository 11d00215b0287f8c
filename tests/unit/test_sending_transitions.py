"""A person's move of a delivery owes one audit entry and the right Slack posts, from one table."""

from __future__ import annotations

import pytest

from services.db.models import DeliveryStatus as S
from services.errors import IllegalTransition
from services.sending.transitions import MOVES, DeliveryMove, check_move, delivery_moved


def _move(before: S | None, after: S, action: str, **more: object) -> DeliveryMove:
    return DeliveryMove(
        organisation_id=1, delivery_id=7, invoice_number="INV-1", actor="U2", action=action, before=before,
        after=after, detail={"number": "INV-1"}, **more,  # type: ignore[arg-type]
    )  # fmt: skip


def test_every_status_is_in_the_table_and_nothing_leaves_rejected_or_cancelled() -> None:
    assert set(S) <= set(MOVES)
    assert MOVES[S.REJECTED] == MOVES[S.CANCELLED] == frozenset()


def test_a_move_the_table_lacks_is_refused() -> None:
    with pytest.raises(IllegalTransition, match="from cancelled to queued"):
        check_move(S.CANCELLED, S.QUEUED)
    with pytest.raises(IllegalTransition):
        check_move(None, S.SENDING)
    check_move("deferred", "sending")


def test_asking_for_a_send_that_waits_owes_the_status_and_the_approval_request() -> None:
    owed = delivery_moved(_move(None, S.AWAITING_APPROVAL, "requested", requested_by="U1"))
    assert [(a.action, a.subject_id, a.detail) for a in owed.audits] == [("delivery.requested", 7, {"number": "INV-1"})]
    assert [p.kind for p in owed.posts] == ["delivery_status", "approval_request"]
    assert owed.posts[1].payload == {
        "delivery_id": 7, "invoice_number": "INV-1", "status": "awaiting_approval", "requested_by": "U1",
    }  # fmt: skip


def test_a_decision_rewrites_the_approval_message_first_then_the_status() -> None:
    owed = delivery_moved(
        _move(S.AWAITING_APPROVAL, S.REJECTED, "rejected", decision="rejected", approval_channel="CAPPROVE")
    )
    assert [p.kind for p in owed.posts] == ["approval_decided", "delivery_status"]
    decided = owed.posts[0]
    assert decided.channel == "CAPPROVE"
    assert decided.payload["decision"] == "rejected" and decided.payload["decided_by"] == "U2"
    assert owed.posts[1].payload["status"] == "rejected"


def test_cancelling_a_queued_send_owes_only_its_status() -> None:
    owed = delivery_moved(_move(S.QUEUED, S.CANCELLED, "cancelled", status_channel="CSTATUS"))
    assert [(p.kind, p.channel) for p in owed.posts] == [("delivery_status", "CSTATUS")]
    assert owed.audits[0].action == "delivery.cancelled"

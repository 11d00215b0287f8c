"""A delivery's moves are one table: people's, the worker's and the events' moves are checked against it,
and each owes its audit entry and Slack posts from it."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Select, Update
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import BinaryExpression
from sqlalchemy.sql.expression import ColumnClause

from services.db.models import DeliveryStatus as S
from services.db.models import InvoiceStatus
from services.errors import IllegalTransition
from services.invoicing import emailed, invoices
from services.invoicing.states import IN_FLIGHT
from services.sending import outcomes, pausing, queue, requests, ubl_checks
from services.sending.transitions import (
    MOVES,
    WAITING,
    Alert,
    DeliveryMove,
    SystemMove,
    check_move,
    delivery_moved,
    origin_values,
    origins_of,
    system_moved,
)
from services.tracking.precedence import FOLLOWED_STATUSES, delivery_status_after, next_recipient_state


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


def test_a_decision_rewrites_the_approval_message_first_then_the_status_then_tells_the_thread() -> None:
    move = _move(S.AWAITING_APPROVAL, S.REJECTED, "rejected", decision="rejected", approval_channel="CAPPROVE")
    owed = delivery_moved(replace(move, detail={"number": "INV-1", "reason": "wrong PO"}))
    assert [p.kind for p in owed.posts] == ["approval_decided", "delivery_status", "delivery_note"]
    note = owed.posts[2].payload
    assert (note["note"], note["by"], note["reason"]) == ("rejected", "U2", "wrong PO")
    decided = owed.posts[0]
    assert decided.channel == "CAPPROVE"
    assert decided.payload["decision"] == "rejected" and decided.payload["decided_by"] == "U2"
    assert owed.posts[1].payload["status"] == "rejected"


def test_cancelling_a_queued_send_owes_its_status_and_a_thread_note_naming_who() -> None:
    owed = delivery_moved(_move(S.QUEUED, S.CANCELLED, "cancelled", status_channel="CSTATUS"))
    assert [(p.kind, p.channel) for p in owed.posts] == [("delivery_status", "CSTATUS"), ("delivery_note", "CSTATUS")]
    assert (owed.posts[1].payload["note"], owed.posts[1].payload["by"]) == ("cancelled", owed.audits[0].actor)
    assert owed.audits[0].action == "delivery.cancelled"


def _reachable() -> set[S]:
    seen: set[S] = set()
    todo = list(MOVES[None])
    while todo:
        status = todo.pop()
        if status not in seen:
            seen.add(status)
            todo.extend(MOVES[status])
    return seen


def test_the_table_is_closed_every_status_reachable_and_the_terminal_ones_empty() -> None:
    assert set(MOVES) == {None, *S}
    assert all(targets <= set(S) for targets in MOVES.values())
    assert _reachable() == set(S)
    assert {status for status in S if not MOVES[status]} == {S.REJECTED, S.CANCELLED}
    assert all(status not in MOVES[status] for status in S)  # a move changes the status


def test_origins_of_a_status_are_the_rows_that_lead_to_it() -> None:
    assert origins_of(S.SENDING) == {S.QUEUED, S.DEFERRED}
    # sending: the worker cancels a reminder nothing is owed on any more (people cannot: see below)
    assert origins_of(S.CANCELLED) == {S.AWAITING_APPROVAL, S.QUEUED, S.DEFERRED, S.SENDING}
    assert origin_values("sending") == ["deferred", "queued"]
    for target in S:
        assert all(target in MOVES[origin] for origin in origins_of(target))


def _status_in(statement: Update | Select[Any]) -> set[str]:
    """The values of the statement's `status IN (…)`, read from its WHERE clause."""
    where = statement.whereclause
    assert where is not None
    for element in visitors.iterate(where):
        if (
            isinstance(element, BinaryExpression)
            and element.operator is operators.in_op
            and getattr(element.left, "name", None) == "status"
        ):
            right = element.right
            if hasattr(right, "value"):  # a bound list (one execute)
                return set(right.value)
            literals = (e for e in visitors.iterate(right) if isinstance(e, ColumnClause))  # literal values in the SQL
            return {literal.name.strip("'") for literal in literals}
    raise AssertionError("no status IN (…) in the WHERE clause")


def test_the_core_updates_take_their_where_from_the_table() -> None:
    claimable = {s.value for s in origins_of(S.SENDING)}
    assert _status_in(queue._CLAIM) == _status_in(queue._CLAIM_CANDIDATES) == claimable == {"queued", "deferred"}
    assert set(requests.CANCELLABLE_VALUES) == {s.value for s in origins_of(S.CANCELLED)} - {S.SENDING.value}
    for target in (S.ACCEPTED, S.DELIVERED, S.OPENED, S.DEFERRED, S.FAILED, S.UNKNOWN, S.BOUNCED):
        assert S.SENDING.value in _status_in(outcomes._set_outcome(target.value))
        assert _status_in(outcomes._set_outcome(target.value)) == {s.value for s in origins_of(target)}


def test_the_invoice_updates_of_the_worker_take_their_where_from_the_invoice_table() -> None:
    """Sent by email only from where a person's "mark sent" may start (validated); owed again only
    from where following the email may start (sent): the invoice's own tables, not a copy."""
    assert _status_in(emailed._MARK_EMAILED) == {s.value for s in invoices._ALLOWED_FROM[InvoiceStatus.SENT]}
    assert _status_in(emailed._MARK_EMAILED) == {"validated"}
    assert _status_in(emailed._UNSEND) == {s.value for s in invoices._FOLLOWS_EMAIL[InvoiceStatus.VALIDATED]}
    assert _status_in(emailed._UNSEND) == {"sent"}


def test_waiting_is_read_from_the_table_and_every_list_of_waiting_sends_is_it() -> None:
    """Queued, deferred or awaiting approval: what the worker may still claim, or what becomes
    queued, but not what is being sent now. Pausing counts them, the UBL loop checks them ahead,
    and an invoice's state calls them, with `sending`, in flight (invoicing cannot import sending)."""
    assert {S.QUEUED, S.DEFERRED, S.AWAITING_APPROVAL} == WAITING
    assert set(pausing._WAITING) == set(ubl_checks._PENDING) == {s.value for s in WAITING}
    assert WAITING | {S.SENDING} == IN_FLIGHT


RECIPIENT_STATES = (None, "accepted", "deferred", "delivered", "opened", "bounced", "failed", "dropped", "complained")
BAD = {S.BOUNCED, S.FAILED, S.DROPPED, S.COMPLAINED}


def _can_be(current: S, states: tuple[str | None, ...]) -> bool:
    """Whether a delivery `current` can have these recipient states: the ones its status comes from, or
    a bad one beside it (the worker counts only filed events: a refused recipient stays `failed` beside
    an accepted send, a deferred one `deferred`); `unknown` says nothing of its recipients."""
    derived = delivery_status_after(current, states)
    if current == S.UNKNOWN or derived == current or derived in BAD:
        return True
    return current == S.ACCEPTED and derived == S.DEFERRED


def test_every_move_the_precedence_rules_make_is_in_the_table() -> None:
    """Events move a followed delivery by precedence; the filing checks each move against the table,
    so the table must hold every move they can make (two recipients, any event on either)."""
    for current in FOLLOWED_STATUSES:
        for states in itertools.product(RECIPIENT_STATES, repeat=2):
            if not _can_be(current, states):
                continue
            for claimed, which in itertools.product(RECIPIENT_STATES, (0, 1)):
                moved = list(states)
                moved[which] = next_recipient_state(moved[which], claimed)
                after = delivery_status_after(current, moved)
                if after is not None and after != current:
                    check_move(current, after)


def test_an_smtp_outcome_with_events_filed_in_flight_is_in_the_table() -> None:
    for filed in itertools.product(RECIPIENT_STATES[1:], repeat=2):
        check_move(
            S.SENDING,
            outcomes._accepted_status(
                {"a": {"status": filed[0], "source": "x"}, "b": {"status": filed[1], "source": "x"}}
            ),
        )


def test_a_system_move_the_table_lacks_is_refused() -> None:
    with pytest.raises(IllegalTransition, match="from queued to accepted"):
        system_moved(_system(S.QUEUED, S.ACCEPTED))


def _system(before: S, after: S, **more: Any) -> SystemMove:
    return SystemMove(
        organisation_id=1, delivery_id=7, before=before, after=after, invoice=True, status_channel="CSTATUS", **more
    )


def test_an_smtp_refusal_owes_its_audit_entry_the_status_and_one_alert_per_refused_recipient() -> None:
    alerts = (
        Alert("failed", "a@x.example", "550 5.1.1 no such user " + "x" * 3000),
        Alert("failed", "b@x.example", "550"),
    )
    owed = system_moved(_system(S.SENDING, S.FAILED, alerts=alerts, actor="worker:w1", detail={"detail": "550"}))
    assert [(a.actor, a.action, a.subject_id) for a in owed.audits] == [("worker:w1", "delivery.failed", 7)]
    assert [(p.kind, p.channel) for p in owed.posts] == [
        ("delivery_status", "CSTATUS"), ("delivery_alert", "CSTATUS"), ("delivery_alert", "CSTATUS"),
    ]  # fmt: skip
    assert owed.posts[0].payload == {"status": "failed"}
    assert owed.posts[1].payload["recipient"] == "a@x.example" and len(owed.posts[1].payload["diagnostic"]) == 2000


def test_stale_recovery_of_a_preview_owes_only_its_status_and_no_audit_entry() -> None:
    move = replace(_system(S.SENDING, S.UNKNOWN, alerts=(Alert("unknown", None, "stopped"),)), invoice=False)
    owed = system_moved(move)
    assert owed.audits == ()
    assert [(p.kind, p.payload) for p in owed.posts] == [("delivery_status", {"status": "unknown"})]


def test_no_sending_module_writes_a_notification_by_hand() -> None:
    """What a move owes follows from the move (delivery_moved, system_moved), written by the unit of
    work's writer or the worker's group commit: never an enqueue_notification call of its own."""
    sending = Path(outcomes.__file__).parent
    by_hand = [path.name for path in sorted(sending.glob("*.py")) if "enqueue_notification(" in path.read_text()]
    assert by_hand == []

"""`invoicebot reminders ladder|pause|resume|promise|dispute|undispute|invoice`, run as the real console script
against the test database: each command changes its rows and writes its audit entry, and says so in a sentence;
each bad input is refused with its sentence on stderr, a non-zero exit, and nothing written."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import (
    AuditLog,
    Customer,
    CustomerReminderState,
    InvoiceReminderState,
    Organisation,
    ReminderStep,
)
from tests import factories
from tests.services.reminders.ledger import manual_invoice, sent_invoice


def today() -> date:
    """The organisation's local date (UTC: the test organisation has no time zone), read when a test runs."""
    return datetime.now(UTC).date()


async def ladder_rows(session: AsyncSession) -> list[tuple[int | None, int, str, str | None]]:
    """(customer id, offset, tone, fee) of every stored step, as the database holds them."""
    await session.commit()  # a new transaction: see what the command committed
    rows = (await session.scalars(select(ReminderStep))).all()
    found = [
        (row.customer_id, row.offset_days, row.tone.value, None if row.fee is None else f"{row.fee:.2f}")
        for row in rows
    ]
    return sorted(found, key=lambda step: (step[0] is not None, step[0] or 0, step[1]))  # the organisation's first


async def audits(session: AsyncSession) -> list[tuple[str, str, str, dict[str, Any]]]:
    await session.commit()
    rows = (await session.scalars(select(AuditLog).order_by(AuditLog.id))).all()
    return [(row.actor, row.action, row.subject_type, dict(row.detail or {})) for row in rows]


async def stop_rows(session: AsyncSession) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    await session.commit()
    fresh = {"populate_existing": True}
    invoices = (await session.scalars(select(InvoiceReminderState).execution_options(**fresh))).all()
    customers = (await session.scalars(select(CustomerReminderState).execution_options(**fresh))).all()
    return (
        [(s.disputed_reason, s.disputed_by, s.promised_until, s.reminders_on, s.updated_by) for s in invoices],
        [(s.paused_until, s.paused_by) for s in customers],
    )


@pytest.fixture
async def acme(session: AsyncSession, org: Organisation) -> Customer:
    customer = await factories.customer(session, org.id)
    await session.commit()
    return customer


async def test_ladder_show_set_and_clear_say_which_ladder_is_in_force_and_where_it_comes_from(
    run, session: AsyncSession, org: Organisation, acme: Customer
):
    shown = run("reminders", "ladder", "show")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [
        "The organisation's invoices climb the built-in default ladder (no ladder set):",
        "  -3 days  friendly",
        "  +0 days  friendly",
        "  +7 days  neutral",
        "  +14 days  firm",
        "  +30 days  firm",
    ]

    org_set = run("reminders", "ladder", "set", "+7 firm fee 15.00, -3 friendly, 0 neutral")
    assert org_set.returncode == 0, org_set.stderr
    assert org_set.stdout.splitlines() == [
        "The organisation's invoices climb the organisation's ladder:",
        "  -3 days  friendly",
        "  +0 days  neutral",
        "  +7 days  firm, fee line 15.00",
    ]
    own = run("reminders", "ladder", "set", "10 neutral, 20 firm", "--customer", "ACME")
    assert own.returncode == 0, own.stderr
    assert own.stdout.splitlines() == [
        "Invoices of Acme Corp (ACME) climb the customer's own ladder:",
        "  +10 days  neutral",
        "  +20 days  firm",
    ]
    assert await ladder_rows(session) == [
        (None, -3, "friendly", None),
        (None, 0, "neutral", None),
        (None, 7, "firm", "15.00"),
        (acme.id, 10, "neutral", None),
        (acme.id, 20, "firm", None),
    ]

    cleared = run("reminders", "ladder", "clear", "--customer", "ACME")
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.splitlines()[0] == "Invoices of Acme Corp (ACME) climb the organisation's ladder:"
    assert [row for row in await ladder_rows(session) if row[0] is not None] == []
    assert await audits(session) == [
        ("cli", "reminders.ladder_set", "organisation", {"steps": ["-3 friendly", "+0 neutral", "+7 firm fee 15.00"]}),
        ("cli", "reminders.ladder_set", "customer", {"steps": ["+10 neutral", "+20 firm"]}),
        ("cli", "reminders.ladder_set", "customer", {"steps": []}),
    ]


async def test_stop_rules_change_their_rows_and_audit_and_say_what_happens_next(
    run, session: AsyncSession, org: Organisation, acme: Customer
):
    await sent_invoice(session, org.id, acme, "INV-1", today() - timedelta(days=10))
    await manual_invoice(session, org.id, acme, "INV-2", today() - timedelta(days=10))
    until = today() + timedelta(days=14)
    before = len(await audits(session))

    paused = run("reminders", "pause", "ACME", "--until", until.isoformat())
    assert paused.returncode == 0, paused.stderr
    assert paused.stdout.strip() == (
        f"ACME: no reminders up to and including {until.isoformat()}; they resume by themselves the day after."
    )
    assert (await stop_rows(session))[1] == [(until, "cli")]
    resumed = run("reminders", "resume", "ACME")
    assert resumed.stdout.strip() == "ACME: reminders resume now."
    assert (await stop_rows(session))[1] == [(None, "cli")]

    promised = run("reminders", "promise", "INV-1", "--until", until.isoformat())
    assert promised.stdout.strip() == f"INV-1: promised by {until.isoformat()}; no reminder for it until the day after."
    disputed = run("reminders", "dispute", "INV-1", "--reason", "Goods arrived damaged")
    assert disputed.stdout.strip() == "INV-1 is disputed: no reminder for it until `invoicebot reminders undispute`."
    assert (await stop_rows(session))[0] == [("Goods arrived damaged", "cli", until, None, "cli")]
    lifted = run("reminders", "undispute", "INV-1")
    assert lifted.stdout.strip() == "INV-1 is no longer disputed: its reminders resume."
    withdrawn = run("reminders", "promise", "INV-1", "--withdraw")
    assert withdrawn.stdout.strip() == "INV-1: promise withdrawn; reminders follow the ladder again."

    switched = run("reminders", "invoice", "INV-2", "on")
    assert switched.stdout.strip() == "INV-2: reminders on (even if it was marked as sent manually)."
    assert sorted((await stop_rows(session))[0], key=str) == sorted(
        [(None, None, None, None, "cli"), (None, None, None, True, "cli")], key=str
    )
    back = run("reminders", "invoice", "INV-2", "default")
    assert back.returncode == 0, back.stderr

    assert [(actor, action, detail) for actor, action, _subject, detail in (await audits(session))[before:]] == [
        ("cli", "reminders.paused", {"ref": "ACME", "until": until.isoformat()}),
        ("cli", "reminders.paused", {"ref": "ACME", "until": None}),
        ("cli", "reminders.promise", {"number": "INV-1", "until": until.isoformat()}),
        ("cli", "reminders.disputed", {"number": "INV-1", "reason": "Goods arrived damaged"}),
        ("cli", "reminders.dispute_lifted", {"number": "INV-1"}),
        ("cli", "reminders.promise", {"number": "INV-1", "until": None}),
        ("cli", "reminders.switched", {"number": "INV-2", "on": True}),
        ("cli", "reminders.switched", {"number": "INV-2", "on": None}),
    ]


def _yesterday() -> str:
    return (today() - timedelta(days=1)).isoformat()


BAD_INPUTS: list[tuple[tuple[Any, ...], str]] = [
    (("ladder", "show", "--customer", "NOPE"), "error: No customer with reference 'NOPE'."),
    (("ladder", "set", "-3 friendly", "--customer", "NOPE"), "error: No customer with reference 'NOPE'."),
    (("ladder", "clear", "--customer", "NOPE"), "error: No customer with reference 'NOPE'."),
    (
        ("ladder", "set", "0 firm, +7 friendly"),
        "error: The +7 step is friendly after a firm one: a ladder only gets firmer (friendly, neutral, firm).",
    ),
    (
        ("ladder", "set", "7 neutral, +7 firm"),
        "error: Two steps at +7 days: each day from the due date takes one step.",
    ),
    (
        ("ladder", "set", "7 firm fee 0"),
        "error: The fee of the +7 step must be more than zero (0); leave the fee out for a step without one.",
    ),
    (
        ("ladder", "set", "7 firm fee -5.00"),
        "error: The fee of the +7 step must be more than zero (-5.00); leave the fee out for a step without one.",
    ),
    (("ladder", "set", "7 angry"), "error: 'angry' is not a tone: friendly, neutral or firm."),
    (("ladder", "set", " , "), "error: A ladder needs at least one step (like -3 friendly, 0 friendly, +7 neutral)."),
    (
        ("ladder", "set", "+7 firm 15"),
        "error: '+7 firm 15' is not a step like +7 neutral or +30 firm fee 15.00 (days, tone, fee).",
    ),
    (("pause", "NOPE", "--until", "2099-01-01"), "error: No customer with reference 'NOPE'."),
    (("pause", "ACME", "--until", "soon"), "error: --until 'soon' is not a date like 2026-12-31."),
    (("pause", "ACME", "--until", _yesterday), "error: A pause runs to a date from today on; {day} has passed."),
    (("resume", "NOPE"), "error: No customer with reference 'NOPE'."),
    (("promise", "INV-404", "--until", "2099-01-01"), "error: No invoice numbered 'INV-404'."),
    (
        ("promise", "INV-1"),
        "error: Say either --until DATE (the promised date) or --withdraw (the promise no longer holds).",
    ),
    (
        ("promise", "INV-1", "--until", "2099-01-01", "--withdraw"),
        "error: Say either --until DATE (the promised date) or --withdraw (the promise no longer holds).",
    ),
    (
        ("promise", "INV-1", "--until", _yesterday),
        "error: A promise to pay runs to a date from today on; {day} has passed.",
    ),
    (
        ("dispute", "INV-1", "--reason", "  "),
        "error: Say why the invoice is disputed (the customer's reason), so the next person knows.",
    ),
    (("dispute", "INV-404", "--reason", "damaged"), "error: No invoice numbered 'INV-404'."),
    (("undispute", "INV-1"), "error: Invoice INV-1 is not disputed."),
    (("invoice", "INV-1", "maybe"), "error: 'maybe' is not on, off or default."),
    (("invoice", "INV-404", "off"), "error: No invoice numbered 'INV-404'."),
]


@pytest.mark.parametrize(("args", "sentence"), BAD_INPUTS, ids=[" ".join(map(str, a[:2])) for a, _ in BAD_INPUTS])
async def test_bad_input_is_refused_with_its_sentence_and_nothing_is_written(
    run, session: AsyncSession, org: Organisation, acme: Customer, args: tuple[Any, ...], sentence: str
):
    await sent_invoice(session, org.id, acme, "INV-1", today() - timedelta(days=10))
    before = (await ladder_rows(session), await stop_rows(session), await audits(session))
    words = [arg() if callable(arg) else arg for arg in args]

    refused = run("reminders", *words)

    assert refused.returncode != 0
    assert refused.stderr.strip() == sentence.format(day=_yesterday())
    assert refused.stdout == ""
    assert (await ladder_rows(session), await stop_rows(session), await audits(session)) == before

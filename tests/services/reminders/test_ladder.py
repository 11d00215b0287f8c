"""Ladders as data: the default, an organisation's own, a customer's override, and refusals that change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.db.models import AuditLog, Organisation, ReminderTone
from services.errors import InvalidInput, NotFound
from services.reminders.ladder import (
    DEFAULT_LADDER,
    Step,
    clear_customer_ladder,
    ladder_for_customer,
    ladder_words,
    organisation_ladder,
    parse_ladder,
    parse_step,
    set_ladder,
)
from services.reminders.plan import plan_reminders
from services.unit_of_work import units_over
from tests import factories
from tests.services.reminders.ledger import sent_invoice

MOMENT = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)


def test_the_default_ladder_is_minus_3_0_7_14_30_from_friendly_to_firm():
    assert [step.words for step in DEFAULT_LADDER] == [
        "-3 friendly",
        "+0 friendly",
        "+7 neutral",
        "+14 firm",
        "+30 firm",
    ]


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("+7", r"'\+7' is not a step like \+7 neutral or \+30 firm fee 15.00"),
        ("+7 firm 15.00", r"is not a step like \+7 neutral or \+30 firm fee 15.00"),
        ("soon firm", "'soon' is not a number of days"),
        ("7 firm fee lots", "'lots' is not an amount for the fee line"),
        ("soon:firm", "'soon' is not a number of days"),
        ("7:angry", "'angry' is not a tone: friendly, neutral or firm."),
        ("7:firm:lots", "'lots' is not an amount for the fee line"),
    ],
)
def test_a_step_that_cannot_be_read_is_refused_with_a_sentence(text: str, sentence: str):
    with pytest.raises(InvalidInput, match=sentence):
        parse_step(text)


def test_a_ladder_reads_as_its_words_print_it_in_any_order():
    ladder = parse_ladder("+7 FIRM fee 15.00,\n-3 friendly, 0 neutral")

    assert ladder == (
        Step(-3, ReminderTone.FRIENDLY),
        Step(0, ReminderTone.NEUTRAL),
        Step(7, ReminderTone.FIRM, Decimal("15.00")),
    )
    assert parse_ladder(ladder_words(ladder)) == ladder
    assert parse_ladder(ladder_words(DEFAULT_LADDER)) == DEFAULT_LADDER


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("", r"A ladder needs at least one step"),
        ("7 firm fee 0", r"The fee of the \+7 step must be more than zero \(0\)"),
        ("7 firm fee -1", r"The fee of the \+7 step must be more than zero \(-1\)"),
        ("7 firm fee 1.005", r"more than two decimals"),
    ],
)
def test_a_ladder_without_steps_or_with_a_fee_of_zero_or_less_is_refused(text: str, sentence: str):
    with pytest.raises(InvalidInput, match=sentence):
        parse_ladder(text)


async def test_a_ladder_that_gets_gentler_or_repeats_a_day_is_refused_and_nothing_changes(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession, org: Organisation
):
    units = units_over(sessions)
    with pytest.raises(InvalidInput, match=r"\+14 step is friendly after a firm one"):
        await set_ladder(
            units, organisation_id=org.id, actor="U_ADMIN", steps=[parse_step("7:firm"), parse_step("14:friendly")]
        )
    with pytest.raises(InvalidInput, match=r"Two steps at \+7 days"):
        await set_ladder(
            units, organisation_id=org.id, actor="U_ADMIN", steps=[parse_step("7:firm"), parse_step("+7:firm")]
        )
    with pytest.raises(InvalidInput, match="at least one step"):
        await set_ladder(units, organisation_id=org.id, actor="U_ADMIN", steps=[])
    assert await organisation_ladder(session, organisation_id=org.id) == DEFAULT_LADDER
    assert (await session.scalars(select(AuditLog.action))).all() == []


async def test_an_organisations_ladder_and_a_customers_override_decide_the_steps_and_fee(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    globex = await factories.customer(session, org.id, ref="GLOBEX", name="Globex")
    await session.commit()
    units = units_over(sessions)
    await set_ladder(
        units, organisation_id=org.id, actor="U_ADMIN", steps=[parse_step("0:neutral"), parse_step("10:firm:15.00")]
    )
    await set_ladder(
        units, organisation_id=org.id, actor="U_ADMIN", steps=[parse_step("5:friendly")], customer_ref="GLOBEX"
    )
    assert await ladder_for_customer(session, organisation_id=org.id, customer_id=acme.id) == (
        Step(0, ReminderTone.NEUTRAL),
        Step(10, ReminderTone.FIRM, Decimal("15.00")),
    )
    await session.commit()
    today = MOMENT.date()
    await sent_invoice(session, org.id, acme, "A-1", today - timedelta(days=12))
    await sent_invoice(session, org.id, globex, "G-1", today - timedelta(days=12))
    plan = await plan_reminders(session, organisation_id=org.id, moment=MOMENT)
    steps = sorted((item.customer_name, item.step.words) for item in plan.reminders)
    assert steps == [("Acme Corp", "+10 firm fee 15.00"), ("Globex", "+5 friendly")]
    await session.commit()
    await clear_customer_ladder(units, organisation_id=org.id, actor="U_ADMIN", customer_ref="GLOBEX")
    assert (await ladder_for_customer(session, organisation_id=org.id, customer_id=globex.id))[0].offset_days == 0
    actions = (await session.scalars(select(AuditLog.action).order_by(AuditLog.id))).all()
    assert actions == ["reminders.ladder_set"] * 3


async def test_a_ladder_for_an_unknown_customer_is_refused_with_its_reference(
    sessions: async_sessionmaker[AsyncSession], org: Organisation
):
    with pytest.raises(NotFound, match="No customer with reference 'NOPE'"):
        await set_ladder(
            units_over(sessions), organisation_id=org.id, actor="U", steps=DEFAULT_LADDER, customer_ref="NOPE"
        )

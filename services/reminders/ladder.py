"""Reminder ladders as data: the organisation's default ladder and a customer's override.

A ladder is a list of steps, each a day offset from the due date (negative: before it), a tone
and an optional fixed fee line. No rows stored for the organisation means `DEFAULT_LADDER`; a
customer with rows of its own uses them instead of the organisation's, whole (never merged).
Setting a ladder replaces all its steps in one unit of work, audited (`reminders.ladder_set`).
People write a ladder in one syntax, `parse_ladder`'s ("-3 friendly, 0 neutral, +7 firm fee 15.00",
what `Step.words` prints), in the CLI and in the settings modal alike: there is no second parser.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from itertools import pairwise

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Customer, ReminderStep, ReminderTone
from services.errors import InvalidInput, NotFound
from services.unit_of_work import AuditEntry, UnitOfWork, UnitsOfWork

MAX_STEPS = 10
MAX_OFFSET_DAYS = 365
LADDER_ACTION = "reminders.ladder_set"
CENT = Decimal("0.01")
TONE_STRICTNESS = {ReminderTone.FRIENDLY: 0, ReminderTone.NEUTRAL: 1, ReminderTone.FIRM: 2}


@dataclass(frozen=True, order=True)
class Step:
    """One rung: `offset_days` from the due date, the tone of its words, a fee line (None: none)."""

    offset_days: int
    tone: ReminderTone
    fee: Decimal | None = None

    @property
    def words(self) -> str:
        """ "+7 neutral", "-3 friendly fee 10.00": how the CLI and the audit log name a step."""
        fee = f" fee {self.fee}" if self.fee is not None else ""
        return f"{self.offset_days:+d} {self.tone.value}{fee}"


DEFAULT_LADDER: tuple[Step, ...] = (
    Step(-3, ReminderTone.FRIENDLY),
    Step(0, ReminderTone.FRIENDLY),
    Step(7, ReminderTone.NEUTRAL),
    Step(14, ReminderTone.FIRM),
    Step(30, ReminderTone.FIRM),
)


def check_ladder(steps: Sequence[Step]) -> tuple[Step, ...]:
    """Steps sorted by offset, refused with a sentence when they cannot make a ladder: none or too
    many, an offset out of range or given twice, a fee of zero or less, or a tone gentler than an earlier step's."""
    if not steps:
        raise InvalidInput("A ladder needs at least one step (like -3 friendly, 0 friendly, +7 neutral).")
    if len(steps) > MAX_STEPS:
        raise InvalidInput(f"A ladder has at most {MAX_STEPS} steps; {len(steps)} were given.")
    ordered = tuple(sorted(steps))
    seen: set[int] = set()
    for step in ordered:
        if not -MAX_OFFSET_DAYS <= step.offset_days <= MAX_OFFSET_DAYS:
            raise InvalidInput(
                f"A step is at most {MAX_OFFSET_DAYS} days from the due date; {step.offset_days} is not."
            )
        if step.offset_days in seen:
            raise InvalidInput(f"Two steps at {step.offset_days:+d} days: each day from the due date takes one step.")
        seen.add(step.offset_days)
        if step.fee is not None and step.fee <= 0:
            raise InvalidInput(
                f"The fee of the {step.offset_days:+d} step must be more than zero ({step.fee}); "
                "leave the fee out for a step without one."
            )
        if step.fee is not None and step.fee != step.fee.quantize(CENT):
            raise InvalidInput(f"The fee of the {step.offset_days:+d} step has more than two decimals ({step.fee}).")
    for earlier, later in pairwise(ordered):
        if TONE_STRICTNESS[later.tone] < TONE_STRICTNESS[earlier.tone]:
            raise InvalidInput(
                f"The {later.offset_days:+d} step is {later.tone.value} after a {earlier.tone.value} one: "
                "a ladder only gets firmer (friendly, neutral, firm)."
            )
    return ordered


def parse_step(text: str) -> Step:
    """One step as people write it, "+7 neutral" or "+30 firm fee 15.00" (what `Step.words` prints), or
    the older "+7:neutral" / "30:firm:15.00"; else a sentence saying what is wrong."""
    cleaned = text.strip()
    if ":" in cleaned:
        parts = [part.strip() for part in cleaned.split(":")]
    else:
        words = cleaned.split()
        if len(words) == 4 and words[2].lower() == "fee":
            parts = [words[0], words[1], words[3]]
        else:
            parts = words if len(words) == 2 else []  # "+7 firm 15.00": a fee needs its word
    if len(parts) not in (2, 3):
        raise InvalidInput(f"{cleaned!r} is not a step like +7 neutral or +30 firm fee 15.00 (days, tone, fee).")
    try:
        offset = int(parts[0])
    except ValueError:
        raise InvalidInput(f"{parts[0]!r} is not a number of days from the due date (like -3, 0 or +7).") from None
    try:
        tone = ReminderTone(parts[1].lower())
    except ValueError:
        raise InvalidInput(f"{parts[1]!r} is not a tone: friendly, neutral or firm.") from None
    fee: Decimal | None = None
    if len(parts) == 3 and parts[2]:
        try:
            fee = Decimal(parts[2])
        except InvalidOperation:
            raise InvalidInput(f"{parts[2]!r} is not an amount for the fee line (like 15.00).") from None
        if not fee.is_finite():
            raise InvalidInput(f"{parts[2]!r} is not an amount for the fee line (like 15.00).")
    return Step(offset, tone, fee)


def parse_ladder(text: str) -> tuple[Step, ...]:
    """A whole ladder as one line, steps separated by commas or new lines ("-3 friendly, 0 neutral, +7 firm
    fee 15.00"): the one syntax of the CLI and the settings modal; checked (`check_ladder`), or a sentence."""
    parts = [part for part in text.replace("\n", ",").split(",") if part.strip()]
    return check_ladder([parse_step(part) for part in parts])


def ladder_words(steps: Sequence[Step]) -> str:
    """A ladder as `parse_ladder` reads it back: "-3 friendly, +0 friendly, +7 neutral fee 10.00"."""
    return ", ".join(step.words for step in steps)


def _steps_of(rows: Sequence[ReminderStep]) -> tuple[Step, ...]:
    return tuple(
        sorted(
            Step(row.offset_days, ReminderTone(row.tone), None if row.fee is None else row.fee.quantize(CENT))
            for row in rows
        )
    )  # PostgreSQL's NUMERIC gives 15.0000: a fee reads as it was written


async def organisation_ladder(session: AsyncSession, *, organisation_id: int) -> tuple[Step, ...]:
    """The organisation's default ladder (DEFAULT_LADDER until one is set)."""
    return await stored_organisation_ladder(session, organisation_id=organisation_id) or DEFAULT_LADDER


async def customer_overrides(session: AsyncSession, *, organisation_id: int) -> dict[int, tuple[Step, ...]]:
    """customer id → its own ladder, for the customers that have one (one query, for the planner)."""
    query = select(ReminderStep).where(
        ReminderStep.organisation_id == organisation_id, ReminderStep.customer_id.is_not(None)
    )
    grouped: dict[int, list[ReminderStep]] = {}
    for row in (await session.scalars(query)).all():
        assert row.customer_id is not None
        grouped.setdefault(row.customer_id, []).append(row)
    return {customer_id: _steps_of(rows) for customer_id, rows in grouped.items()}


async def ladder_for_customer(session: AsyncSession, *, organisation_id: int, customer_id: int) -> tuple[Step, ...]:
    """The ladder a customer's invoices climb: its override, else the organisation's."""
    own = await _customer_steps(session, organisation_id, customer_id)
    return own or await organisation_ladder(session, organisation_id=organisation_id)


async def _customer_steps(session: AsyncSession, organisation_id: int, customer_id: int) -> tuple[Step, ...]:
    query = select(ReminderStep).where(
        ReminderStep.organisation_id == organisation_id, ReminderStep.customer_id == customer_id
    )
    return _steps_of((await session.scalars(query)).all())


async def customer_by_ref(session: AsyncSession, *, organisation_id: int, ref: str) -> Customer:
    """The customer with this reference, or NotFound with a sentence."""
    query = select(Customer).where(Customer.organisation_id == organisation_id, Customer.ref == ref.strip())
    found = (await session.scalars(query)).first()
    if found is None:
        raise NotFound(f"No customer with reference {ref.strip()!r}.")
    return found


class LadderSource(StrEnum):
    """Where the ladder in force comes from, as `ladder show` says it."""

    CUSTOMER = "the customer's own ladder"
    ORGANISATION = "the organisation's ladder"
    DEFAULT = "the built-in default ladder"


@dataclass(frozen=True)
class LadderInForce:
    """The steps an invoice climbs and where they come from; `customer`: "Name (REF)" when asked for one."""

    steps: tuple[Step, ...]
    source: LadderSource
    customer: str | None = None


async def stored_organisation_ladder(session: AsyncSession, *, organisation_id: int) -> tuple[Step, ...]:
    """The organisation's own steps; () while it has none and DEFAULT_LADDER applies."""
    query = select(ReminderStep).where(
        ReminderStep.organisation_id == organisation_id, ReminderStep.customer_id.is_(None)
    )
    return _steps_of((await session.scalars(query)).all())


async def ladder_in_force(
    session: AsyncSession, *, organisation_id: int, customer_ref: str | None = None
) -> LadderInForce:
    """The ladder the organisation's invoices (or one customer's) climb and where it comes from;
    NotFound with a sentence for an unknown customer."""
    customer = None
    if customer_ref is not None:
        found = await customer_by_ref(session, organisation_id=organisation_id, ref=customer_ref)
        customer = f"{found.name} ({found.ref})"
        own = await _customer_steps(session, organisation_id, found.id)
        if own:
            return LadderInForce(own, LadderSource.CUSTOMER, customer)
    stored = await stored_organisation_ladder(session, organisation_id=organisation_id)
    if stored:
        return LadderInForce(stored, LadderSource.ORGANISATION, customer)
    return LadderInForce(DEFAULT_LADDER, LadderSource.DEFAULT, customer)


async def store_organisation_ladder(
    unit: UnitOfWork, *, organisation_id: int, actor: str, steps: Sequence[Step]
) -> list[str] | None:
    """Inside the caller's unit of work (the settings modal's): replace the organisation's ladder, () meaning
    back to DEFAULT_LADDER; audited. Returns [old, new] in words, or None when nothing changed."""
    ladder = check_ladder(steps) if steps else ()
    before = await stored_organisation_ladder(unit.session, organisation_id=organisation_id)
    if before == ladder:
        return None
    await _replace(unit.session, organisation_id, None, ladder)
    unit.owe_audit(_ladder_entry(organisation_id, actor, None, [step.words for step in ladder]))
    return [ladder_words(before), ladder_words(ladder)]


async def set_ladder(
    units: UnitsOfWork,
    *,
    organisation_id: int,
    actor: str,
    steps: Sequence[Step],
    customer_ref: str | None = None,
) -> tuple[Step, ...]:
    """Replace the organisation's ladder (customer_ref None) or one customer's override; audited.

    Refused with a sentence (and nothing changed) when the steps do not make a ladder.
    """
    ladder = check_ladder(steps)
    async with units() as unit:
        customer_id = await _customer_id(unit.session, organisation_id, customer_ref)
        await _replace(unit.session, organisation_id, customer_id, ladder)
        unit.owe_audit(_ladder_entry(organisation_id, actor, customer_id, [step.words for step in ladder]))
    return ladder


async def clear_customer_ladder(units: UnitsOfWork, *, organisation_id: int, actor: str, customer_ref: str) -> None:
    """Drop a customer's override: its invoices climb the organisation's ladder again; audited."""
    async with units() as unit:
        customer_id = await _customer_id(unit.session, organisation_id, customer_ref)
        await _replace(unit.session, organisation_id, customer_id, ())
        unit.owe_audit(_ladder_entry(organisation_id, actor, customer_id, []))


async def _customer_id(session: AsyncSession, organisation_id: int, ref: str | None) -> int | None:
    if ref is None:
        return None
    return (await customer_by_ref(session, organisation_id=organisation_id, ref=ref)).id


async def _replace(
    session: AsyncSession, organisation_id: int, customer_id: int | None, ladder: Sequence[Step]
) -> None:
    owner = ReminderStep.customer_id.is_(None) if customer_id is None else ReminderStep.customer_id == customer_id
    await session.execute(delete(ReminderStep).where(ReminderStep.organisation_id == organisation_id, owner))
    session.add_all(
        ReminderStep(
            organisation_id=organisation_id, customer_id=customer_id, offset_days=s.offset_days, tone=s.tone, fee=s.fee
        )
        for s in ladder
    )
    await session.flush()


def _ladder_entry(organisation_id: int, actor: str, customer_id: int | None, words: list[str]) -> AuditEntry:
    return AuditEntry(
        organisation_id=organisation_id,
        actor=actor,
        action=LADDER_ACTION,
        subject_type="organisation" if customer_id is None else "customer",
        subject_id=organisation_id if customer_id is None else customer_id,
        detail={"steps": words},
    )

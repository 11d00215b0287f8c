"""The suppression list: addresses not to send to without an explicit override.

The rule (one row per organisation and address, `suppressions`):
- a hard bounce or a complaint suppresses the address at once (reason `hard_bounce` /
  `complaint`);
- soft bounces are counted: the 3rd soft bounce within 30 days of the first one counted
  suppresses the address (reason `soft_bounces`). A soft bounce more than 30 days after
  the window opened starts a new window at 1. A `delivered` event for the address resets
  the count (the mailbox works again). Only returned emails count — a "delayed" report is
  not a bounce. While counting, the row exists with `active = false`; only active rows
  suppress (services.sending.due and services.sending.review read `active` only);
- only admins lift a suppression (`lift_suppression`), with an audit entry; lifting also
  resets the soft-bounce count.

This is close to Discourse's rule (soft bounces add up, reset after 30 days) and stricter
than listmonk's on complaints: invoices go to a handful of known addresses, so one
complaint or one dead mailbox is enough to want a person to look before the next send.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import Action, ApprovalRules, authorize
from services.db.models import Suppression
from services.email.addresses import suppression_key
from services.errors import NotFound
from services.unit_of_work import AuditEntry, UnitsOfWork, write_owed

SOFT_BOUNCE_LIMIT = 3
SOFT_BOUNCE_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class SuppressionEntry:
    email: str
    reason: str  # hard_bounce | complaint | soft_bounces | manual
    detail: str | None
    active: bool
    since: datetime
    lifted_at: datetime | None
    lifted_by: str | None


@dataclass(frozen=True)
class AddressEvent:
    """What an event means for one address: `hard_bounce`, `complaint`, `soft_bounce` or `delivered`."""

    email: str
    kind: str
    detail: str | None
    actor: str


async def follow_address_events(
    session: AsyncSession, *, organisation_id: int, events: list[AddressEvent], now: datetime
) -> dict[str, Suppression]:
    """Apply events, in order, to the list (rules in the module doc). Returns the rows touched, by address.

    Set-based so a batch of events costs three statements: rows are created inactive when
    missing (`INSERT … ON CONFLICT DO NOTHING`, race-free), then locked in id order, then
    changed in Python and flushed. The caller commits.
    """
    if not events:
        return {}
    keys = sorted({suppression_key(e.email) for e in events})
    if all(e.kind == "delivered" for e in events):
        # The common case (a delivery report): one statement, nothing to lock or load.
        await session.execute(
            update(Suppression)
            .where(
                Suppression.organisation_id == organisation_id,
                Suppression.email.in_(keys),
                Suppression.active.is_(False),
                Suppression.soft_bounce_count > 0,
            )
            .values(soft_bounce_count=0)
            .execution_options(synchronize_session=False)
        )
        return {}
    creating = sorted({suppression_key(e.email) for e in events if e.kind != "delivered"})
    if creating:
        dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        await session.execute(
            insert(Suppression.__table__).on_conflict_do_nothing(index_elements=["organisation_id", "email"]),
            [{"organisation_id": organisation_id, "email": key, "reason": "soft_bounces", "active": False,
              "soft_bounce_count": 0, "created_at": now} for key in creating],
        )  # fmt: skip
    query = (
        select(Suppression)
        .where(Suppression.organisation_id == organisation_id, Suppression.email.in_(keys))
        .order_by(Suppression.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    rows = {row.email: row for row in (await session.execute(query)).scalars()}
    owed: list[AuditEntry] = []  # an address suppressed owes its audit entry
    for event in events:
        row = rows.get(suppression_key(event.email))
        entry = _follow(row, event, now) if row is not None else None
        if entry is not None:
            owed.append(entry)
    await write_owed(session, audits=owed)
    await session.flush()
    return rows


def _follow(row: Suppression, event: AddressEvent, now: datetime) -> AuditEntry | None:
    """Apply one event to its address's row; the audit entry it owes when it suppressed the address."""
    if event.kind == "delivered":
        if not row.active:
            row.soft_bounce_count = 0
        return None
    if row.active:
        return None
    if event.kind == "soft_bounce":
        if row.soft_bounce_count == 0 or row.created_at < now - SOFT_BOUNCE_WINDOW:
            row.soft_bounce_count = 0
            row.created_at = now  # the window opens with this bounce
        row.soft_bounce_count += 1
        if row.soft_bounce_count < SOFT_BOUNCE_LIMIT:
            return None
        since = row.created_at.date().isoformat()
        reason, detail = "soft_bounces", f"{row.soft_bounce_count} soft bounces since {since}: {event.detail or ''}"
    else:
        reason, detail = event.kind, event.detail
    row.active = True
    row.reason = reason
    row.detail = (detail or "")[:2000] or None
    row.created_at = now
    row.lifted_at = None
    row.lifted_by = None
    return AuditEntry(
        organisation_id=row.organisation_id,
        actor=event.actor,
        action="suppression.added",
        subject_type="suppression",
        subject_id=row.id,
        detail={"email": row.email, "reason": reason},
    )


async def suppress_address(
    session: AsyncSession, *, organisation_id: int, event: AddressEvent, now: datetime
) -> Suppression:
    """Put `event.email` on the list for `event.kind` (`hard_bounce`, `complaint`, `manual`); no change if it
    already is."""
    rows = await follow_address_events(session, organisation_id=organisation_id, events=[event], now=now)
    return rows[suppression_key(event.email)]


async def count_soft_bounce(
    session: AsyncSession, *, organisation_id: int, email: str, detail: str | None, actor: str, now: datetime
) -> Suppression:
    """Count one soft bounce; the third within the window suppresses (see the module doc)."""
    event = AddressEvent(email=email, kind="soft_bounce", detail=detail, actor=actor)
    rows = await follow_address_events(session, organisation_id=organisation_id, events=[event], now=now)
    return rows[suppression_key(email)]


async def reset_soft_bounces(session: AsyncSession, *, organisation_id: int, email: str, now: datetime) -> None:
    """The address received an email: forget its soft bounces (an active suppression stays)."""
    event = AddressEvent(email=email, kind="delivered", detail=None, actor="")
    await follow_address_events(session, organisation_id=organisation_id, events=[event], now=now)


async def lift_suppression(
    session: AsyncSession, *, organisation_id: int, email: str, actor: str, rules: ApprovalRules, now: datetime
) -> Suppression:
    """Take an address off the list. Admins only; audited. The caller commits."""
    authorize(rules, actor, Action.LIFT_SUPPRESSION)
    key = suppression_key(email)
    row = (
        await session.execute(
            select(Suppression)
            .where(Suppression.organisation_id == organisation_id, Suppression.email == key)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if row is None or not row.active:
        raise NotFound(f"{email.strip()} is not on the suppression list.")
    row.active = False
    row.lifted_at = now
    row.lifted_by = actor
    row.soft_bounce_count = 0
    entry = AuditEntry(
        organisation_id=organisation_id,
        actor=actor,
        action="suppression.lifted",
        subject_type="suppression",
        subject_id=row.id,
        detail={"email": row.email, "reason": row.reason},
    )
    await write_owed(session, audits=[entry])
    await session.flush()
    return row


async def lift_address(
    units: UnitsOfWork, *, organisation_id: int, email: str, actor: str, rules: ApprovalRules, now: datetime
) -> None:
    """`invoicebot suppressions lift`: `lift_suppression` in a unit of work, committed when this returns."""
    async with units() as unit:
        await lift_suppression(
            unit.session, organisation_id=organisation_id, email=email, actor=actor, rules=rules, now=now
        )


async def list_suppressions(
    session: AsyncSession, *, organisation_id: int, include_lifted: bool = False, limit: int = 200
) -> list[SuppressionEntry]:
    """The suppressed addresses, newest first (lifted ones too when asked; counters never)."""
    query = select(Suppression).where(Suppression.organisation_id == organisation_id)
    if include_lifted:
        query = query.where((Suppression.active.is_(True)) | (Suppression.lifted_at.is_not(None)))
    else:
        query = query.where(Suppression.active.is_(True))
    rows = (await session.execute(query.order_by(Suppression.created_at.desc()).limit(limit))).scalars()
    return [
        SuppressionEntry(
            email=row.email,
            reason=row.reason,
            detail=row.detail,
            active=row.active,
            since=row.created_at,
            lifted_at=row.lifted_at,
            lifted_by=row.lifted_by,
        )
        for row in rows
    ]

"""Sending paused for one organisation: its Slack workspace uninstalled the app or revoked its token.

Nothing is failed or dropped: the organisation's queued emails stay queued (the worker's claim
skips a paused organisation, services.sending.queue), its invoices and history are kept, and
installing the app again resumes sending. The reason is what the due listing and the CLI show.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Delivery, Organisation
from services.sending.transitions import WAITING
from services.unit_of_work import UnitsOfWork

_WAITING = sorted(status.value for status in WAITING)  # stable SQL text


@dataclass(frozen=True)
class PausedSending:
    organisation_id: int
    organisation_name: str
    reason: str
    waiting: int  # the emails that now wait (queued, deferred, awaiting approval)


async def pause_sending(session: AsyncSession, *, slack_team_id: str, reason: str) -> PausedSending | None:
    """Pause the organisation of this Slack workspace (None: no organisation has that workspace)."""
    organisation = (
        await session.execute(select(Organisation).where(Organisation.slack_team_id == slack_team_id).with_for_update())
    ).scalar_one_or_none()
    if organisation is None:
        return None
    organisation.sending_paused = reason[:500]
    waiting = await session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.organisation_id == organisation.id, Delivery.status.in_(_WAITING))
    )
    await session.flush()
    return PausedSending(organisation.id, organisation.name, reason, int(waiting or 0))


async def resume_sending(session: AsyncSession, *, organisation_id: int) -> None:
    """The workspace installed the app again: its waiting emails go out."""
    organisation = await session.get(Organisation, organisation_id)
    if organisation is not None and organisation.sending_paused is not None:
        organisation.sending_paused = None
        await session.flush()


async def pause_workspace(units: UnitsOfWork, *, slack_team_id: str, reason: str) -> PausedSending | None:
    """`pause_sending` in a unit of work, committed when this returns (the uninstall listeners)."""
    async with units() as unit:
        return await pause_sending(unit.session, slack_team_id=slack_team_id, reason=reason)


async def resume_workspace(units: UnitsOfWork, *, organisation_id: int) -> None:
    """`resume_sending` in a unit of work, committed when this returns (a new install)."""
    async with units() as unit:
        await resume_sending(unit.session, organisation_id=organisation_id)


@dataclass(frozen=True)
class WorkspaceSending:
    """One organisation as `invoicebot workspaces` lists it."""

    slack_team_id: str | None
    name: str
    paused: str | None
    waiting: int


async def workspaces_sending(session: AsyncSession) -> list[WorkspaceSending]:
    """Every organisation, whether its sending is paused and how many of its emails wait."""
    waiting = (
        select(Delivery.organisation_id, func.count().label("waiting"))
        .where(Delivery.status.in_(_WAITING))
        .group_by(Delivery.organisation_id)
        .subquery()
    )
    query = (
        select(Organisation.slack_team_id, Organisation.name, Organisation.sending_paused, waiting.c.waiting)
        .outerjoin(waiting, waiting.c.organisation_id == Organisation.id)
        .order_by(Organisation.id)
    )
    return [
        WorkspaceSending(team, name, paused, int(count or 0))
        for team, name, paused, count in (await session.execute(query)).all()
    ]

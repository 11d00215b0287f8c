"""Whether this organisation's SMTP settings work: recorded so readiness can say why not.

Deliveries are refused with a readable reason until a check succeeded (services.sending.due
`SendingState`). The check itself (connect, TLS, login, optional test email) is done by the
caller with a Transport; this module records its result with an audit entry, and what the
server offered (SMTPUTF8), which decides whether forms accept non-ASCII local parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Organisation, SmtpStatus
from services.errors import NotFound
from services.unit_of_work import AuditEntry, UnitsOfWork, write_owed


@dataclass(frozen=True, kw_only=True)
class SmtpCheck:
    """What one check of the SMTP settings found.

    `reason` says why it failed (ignored when `ok`); `smtputf8` is whether the server offered
    SMTPUTF8, None when the check did not get that far.
    """

    ok: bool
    reason: str | None = None
    smtputf8: bool | None = None


async def record_smtp_check(
    session: AsyncSession, *, organisation_id: int, check: SmtpCheck, actor: str, now: datetime
) -> Organisation:
    """Record `check` on the organisation (its status, reason and SMTPUTF8) with an audit entry."""
    ok, reason, smtputf8 = check.ok, check.reason, check.smtputf8
    organisation = await session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound("This organisation does not exist.")
    organisation.smtp_status = SmtpStatus.VERIFIED if ok else SmtpStatus.FAILED
    organisation.smtp_status_reason = None if ok else reason
    organisation.smtp_checked_at = now
    if smtputf8 is not None:
        organisation.smtp_utf8 = smtputf8
    entry = AuditEntry(
        organisation_id=organisation_id,
        actor=actor,
        action="smtp.verified" if ok else "smtp.verification_failed",
        subject_type="organisation",
        subject_id=organisation_id,
        detail={"reason": reason or "", **({"smtputf8": smtputf8} if smtputf8 is not None else {})},
    )
    await write_owed(session, audits=[entry])
    await session.flush()
    return organisation


async def save_smtp_check(
    units: UnitsOfWork, *, organisation_id: int, check: SmtpCheck, actor: str, now: datetime
) -> None:
    """`record_smtp_check` in a unit of work, committed when this returns."""
    async with units() as unit:
        await record_smtp_check(
            unit.session,
            organisation_id=organisation_id,
            check=check,
            actor=actor,
            now=now,
        )


async def accepts_smtputf8(session: AsyncSession, *, organisation_id: int) -> bool:
    """Whether the organisation's mail server is known to offer SMTPUTF8 (unknown counts as no)."""
    organisation = await session.get(Organisation, organisation_id)
    return bool(organisation is not None and organisation.smtp_utf8)

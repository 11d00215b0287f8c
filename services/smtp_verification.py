"""Whether this organisation's SMTP settings work: recorded so readiness can say why not.

Deliveries are refused with a readable reason until a check succeeded (services.due
`SendingState`). The check itself (connect, TLS, login, optional test email) is done by the
caller with a Transport; this module records its result with an audit entry.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.audit import record_audit
from services.db.models import Organisation, SmtpStatus
from services.errors import NotFound


async def record_smtp_check(
    session: AsyncSession,
    *,
    organisation_id: int,
    ok: bool,
    reason: str | None,
    actor: str,
    now: datetime,
) -> Organisation:
    organisation = await session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound("This organisation does not exist.")
    organisation.smtp_status = SmtpStatus.VERIFIED if ok else SmtpStatus.FAILED
    organisation.smtp_status_reason = None if ok else reason
    organisation.smtp_checked_at = now
    record_audit(
        session,
        organisation_id=organisation_id,
        actor=actor,
        action="smtp.verified" if ok else "smtp.verification_failed",
        subject_type="organisation",
        subject_id=organisation_id,
        detail={"reason": reason or ""},
    )
    await session.flush()
    return organisation

"""The audit log: who did what, when. Written in the same transaction as the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import AuditLog


def record_audit(
    session: AsyncSession,
    *,
    organisation_id: int,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: int | None,
    detail: dict[str, Any] | None = None,
) -> AuditLog:
    entry = AuditLog(
        organisation_id=organisation_id,
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        detail=detail or {},
    )
    session.add(entry)
    return entry

"""The audit log: who did what, when. Written in the same transaction as the change."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import AuditLog


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    """Who did what to which row; written in the same transaction as the change."""

    organisation_id: int
    actor: str
    action: str
    subject_type: str
    subject_id: int | None
    detail: dict[str, Any] = field(default_factory=dict)


def record_audit(session: AsyncSession, entry: AuditEntry) -> AuditLog:
    row = AuditLog(
        organisation_id=entry.organisation_id,
        actor=entry.actor,
        action=entry.action,
        subject_type=entry.subject_type,
        subject_id=entry.subject_id,
        detail=entry.detail or {},
    )
    session.add(row)
    return row

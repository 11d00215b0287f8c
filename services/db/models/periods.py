"""The once-per-period claims (services/once_per_period.py): one row per (organisation, kind, period)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.clock import utcnow
from services.db.models.base import Base


class PeriodClaim(Base):
    """A scheduled thing done for one period (a day's digest, a week's summary): its unique key is the claim."""

    __tablename__ = "period_claims"
    __table_args__ = (UniqueConstraint("organisation_id", "kind", "period", name="uq_period_claims_org_kind_period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(32))
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)

"""Who an email is from and where its bounces go, per organisation: plain values from settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.email.dkim import DkimKey


@dataclass(frozen=True)
class SenderIdentity:
    """Who the email is from and where bounces go: plain values from settings."""

    from_email: str
    from_name: str | None
    reply_to: str | None
    bounce_domain: str
    public_url: str
    open_pixel: bool = False  # opt-in: a tracking image in the HTML part (opens are unreliable)
    dkim: DkimKey | None = None  # sign each email (when the relay does not)


@dataclass(frozen=True)
class SenderIdentities:
    """Each organisation's sender identity: a worker of a many-workspace install sends for every
    workspace, and each email leaves with its own organisation's From, Reply-To and bounce domain.
    `default` serves an organisation without an entry (a single install has only the default)."""

    default: SenderIdentity
    by_organisation: Mapping[int, SenderIdentity] = field(default_factory=dict)

    def of(self, organisation_id: int) -> SenderIdentity:
        return self.by_organisation.get(organisation_id, self.default)

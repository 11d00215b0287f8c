"""Replay protection for signed webhooks: a signature is only good for a few minutes.

SendGrid and Mailgun sign a timestamp with the body; an attacker who captured one request
could send it again later. Refusing timestamps more than five minutes away from our clock
(either way) bounds that window (`check_fresh`, services.tracking.webhooks.freshness).
Within it, Mailgun's signature does not cover the event data, so a captured signature
could carry a forged event: `ReplayGuard` remembers each signature token and each provider
event id, with a digest of what it vouched for, for the whole window, and refuses the same
token or id with other data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.db.models import WebhookReceipt
from services.tracking.webhooks.errors import WebhookAuthError
from services.tracking.webhooks.freshness import MAX_CLOCK_SKEW, Receipt

RECEIPT_LIFETIME = 2 * MAX_CLOCK_SKEW
"""A signature stamped up to 5 minutes ahead of our clock stays acceptable 5 minutes after
that stamp: remembering what it vouched for 10 minutes from now covers its whole window."""
_ADMIT_ATTEMPTS = 2  # a unique-key clash means a concurrent twin committed: read it back once


class ReplayGuard:
    """Remembers receipts in the database (table `webhook_receipts`) for RECEIPT_LIFETIME.

    `admit` refuses (WebhookAuthError, nothing stored) a request naming a token or event id
    already seen with *different* data: a captured signature replayed with a forged event.
    The same data again is an exact redelivery (a provider retrying): admitted, and the
    event filer then deduplicates it. Expired receipts are purged on every admission.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def admit(self, provider: str, receipts: Sequence[Receipt], *, now: datetime) -> None:
        wanted: dict[str, str] = {}
        for receipt in receipts:
            if wanted.setdefault(receipt.key, receipt.digest) != receipt.digest:
                raise WebhookAuthError(f"The {provider} webhook names one event twice with different data.")
        if not wanted:
            return
        for attempt in range(_ADMIT_ATTEMPTS):
            try:
                await self._admit_once(provider, wanted, now=now)
                return
            except IntegrityError:
                if attempt + 1 == _ADMIT_ATTEMPTS:
                    raise

    async def _admit_once(self, provider: str, wanted: dict[str, str], *, now: datetime) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(delete(WebhookReceipt).where(WebhookReceipt.expires_at < now))
            found = await session.execute(
                select(WebhookReceipt.key, WebhookReceipt.digest).where(
                    WebhookReceipt.provider == provider, WebhookReceipt.key.in_(wanted)
                )
            )
            seen: dict[str, str] = {key: digest for key, digest in found}
            if any(seen[key] != digest for key, digest in wanted.items() if key in seen):
                raise WebhookAuthError(
                    f"The {provider} webhook repeats a signature or event id already received with other data: "
                    "refused as a replay."
                )
            expires_at = now + RECEIPT_LIFETIME
            session.add_all(
                WebhookReceipt(provider=provider, key=key, digest=digest, expires_at=expires_at)
                for key, digest in wanted.items()
                if key not in seen
            )

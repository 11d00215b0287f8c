"""Deciding whether a hit on the invoice page (or the open pixel) was a person, and recording it.

Mail systems fetch links and images by themselves: security gateways open every link of
every incoming email, chat apps unfurl pasted links, some mail apps prefetch images on
receipt. Counting those would tell the finance team "the customer looked at it" when
nobody did. The rule, in order:

1. A HEAD request never counts (browsers navigate with GET; link checkers use HEAD).
2. A known automated agent never counts: a missing User-Agent, link scanners (Microsoft
   Defender SafeLinks, Proofpoint, Mimecast, Barracuda, …), crawlers and link unfurlers
   (Googlebot, bingpreview, Slackbot-LinkExpanding, facebookexternalhit, …), HTTP
   libraries (curl, wget, python-requests, …) and headless browsers. See `AUTOMATED_AGENTS`.
3. A hit within `prefetch_seconds` (setting `INVOICEBOT_LINK_PREFETCH_SECONDS`, default 60)
   after the delivery was accepted by the SMTP server does not count: gateways scan on
   arrival, people read later.
4. The same visitor counts once per `repeat_window_seconds` (setting
   `INVOICEBOT_LINK_VIEW_WINDOW_SECONDS`, default 30 minutes): a reload, a new browser
   version or a hop to another address of the same network is not a second view. The
   visitor is `services.tracking.visitors.visitor_key` (network + browser family, keyed hash).

Each counted hit is one delivery event (`link`/`viewed` or `pixel`/`opened`, which
services.tracking.events marks `{"reliable": false}`), filed through
`record_delivery_event` on the invoice's latest delivery the SMTP server accepted, so it
lands on the timeline and moves the status like any other event. The visitor is stored
only as a keyed hash (HMAC with the installation's secret), never as an IP address.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Delivery, DeliveryEvent, DeliveryKind, DeliveryStatus
from services.sending.checks import verp_token_is_genuine
from services.tracking.event_types import IncomingEvent
from services.tracking.events import record_delivery_event
from services.tracking.visitors import visitor_key
from services.unit_of_work import UnitsOfWork

AUTOMATED_AGENTS = re.compile(
    r"safelinks|microsoft defender|proofpoint|mimecast|barracuda|symantec|messagelabs|forcepoint|"
    r"trend ?micro|ironport|sophos|fortiguard|zscaler|cloudmark|"
    r"googlebot|google-safety|adsbot|bingbot|bingpreview|slackbot|slack-imgproxy|facebookexternalhit|"
    r"twitterbot|linkedinbot|whatsapp|telegrambot|discordbot|skypeuripreview|"
    r"curl/|wget/|python-requests|python-urllib|python-httpx|aiohttp|go-http-client|java/|okhttp|"
    r"libwww-perl|httpclient|headlesschrome|phantomjs|"
    r"bot\b|crawler|spider|scanner|linkcheck|preview",
    re.IGNORECASE,
)

# Statuses a delivery can be in once the SMTP server took it (`unknown` may have gone out:
# a view is then the proof that it did).
_SENT_STATUSES = (
    DeliveryStatus.ACCEPTED,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.OPENED,
    DeliveryStatus.BOUNCED,
    DeliveryStatus.COMPLAINED,
    DeliveryStatus.UNKNOWN,
)
MAX_AGENT_CHARS = 200


class HitVerdict(StrEnum):
    COUNTED = "counted"
    HEAD_REQUEST = "head_request"
    AUTOMATED_AGENT = "automated_agent"
    PREFETCH_WINDOW = "prefetch_window"
    REPEAT = "repeat"
    NO_DELIVERY = "no_delivery"
    NOT_GENUINE = "not_genuine"


@dataclass(frozen=True)
class Hit:
    """One HTTP request for the page or the pixel, as plain values."""

    method: str
    user_agent: str | None
    client_address: str | None


@dataclass(frozen=True)
class ViewRules:
    prefetch_seconds: float = 60.0
    repeat_window_seconds: float = 1800.0


@dataclass(frozen=True)
class HitOutcome:
    verdict: HitVerdict
    delivery_id: int | None = None
    event_id: int | None = None

    @property
    def counted(self) -> bool:
        return self.verdict == HitVerdict.COUNTED


def is_automated_agent(user_agent: str | None) -> bool:
    return not (user_agent or "").strip() or AUTOMATED_AGENTS.search(user_agent or "") is not None


def prefetch_verdict(hit: Hit, *, accepted_at: datetime | None, now: datetime, rules: ViewRules) -> HitVerdict | None:
    """Rules 1–3 (no database needed): the reason the hit does not count, or None."""
    if hit.method.upper() == "HEAD":
        return HitVerdict.HEAD_REQUEST
    if is_automated_agent(hit.user_agent):
        return HitVerdict.AUTOMATED_AGENT
    if accepted_at is not None and now - accepted_at < timedelta(seconds=rules.prefetch_seconds):
        return HitVerdict.PREFETCH_WINDOW
    return None


async def latest_sent_delivery(session: AsyncSession, *, invoice_id: int) -> Delivery | None:
    """The invoice's most recent email (not preview) that the SMTP server accepted."""
    return (
        await session.execute(
            select(Delivery)
            .where(
                Delivery.invoice_id == invoice_id,
                Delivery.kind == DeliveryKind.INVOICE,
                Delivery.status.in_([status.value for status in _SENT_STATUSES]),
            )
            .order_by(Delivery.finished_at.desc(), Delivery.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def _seen_recently(
    session: AsyncSession, *, delivery_id: int, source: str, client: str, now: datetime, rules: ViewRules
) -> bool:
    since = now - timedelta(seconds=rules.repeat_window_seconds)
    recent = await session.execute(
        select(DeliveryEvent.detail)
        .where(
            DeliveryEvent.delivery_id == delivery_id,
            DeliveryEvent.source == source,
            DeliveryEvent.occurred_at > since,
        )
        .order_by(DeliveryEvent.occurred_at.desc())
        .limit(200)
    )
    return any((detail or {}).get("client") == client for detail in recent.scalars())


@dataclass(frozen=True)
class _HitKind:
    """The event a counted hit becomes: (`link`, `viewed`) for the page, (`pixel`, `opened`) for the pixel."""

    source: str
    type: str


_PAGE_VIEW = _HitKind("link", "viewed")
_PIXEL_OPEN = _HitKind("pixel", "opened")


@dataclass(frozen=True, kw_only=True)
class _Judging:
    """When a hit is judged, by which rules, and the secret its visitor key and token are checked with."""

    now: datetime
    rules: ViewRules
    secret: bytes


async def _record(
    session: AsyncSession, *, delivery: Delivery, hit: Hit, kind: _HitKind, judging: _Judging
) -> HitOutcome:
    source, type_ = kind.source, kind.type
    now, rules, secret = judging.now, judging.rules, judging.secret
    verdict = prefetch_verdict(hit, accepted_at=delivery.finished_at, now=now, rules=rules)
    if verdict is not None:
        return HitOutcome(verdict, delivery.id)
    client = visitor_key(client_address=hit.client_address, user_agent=hit.user_agent, secret=secret)
    if await _seen_recently(session, delivery_id=delivery.id, source=source, client=client, now=now, rules=rules):
        return HitOutcome(HitVerdict.REPEAT, delivery.id)
    # Two simultaneous requests of one client both pass the check above; the window number
    # in the event id makes the second a duplicate that `record_delivery_event` ignores.
    window = int(now.timestamp() // rules.repeat_window_seconds)
    agent = (hit.user_agent or "")[:MAX_AGENT_CHARS]
    recorded = await record_delivery_event(
        session,
        event=IncomingEvent(
            source=source,
            type=type_,
            recipient=delivery.to[0] if len(delivery.to) == 1 else None,
            occurred_at=now,
            source_event_id=f"{delivery.id}:{client}:{window}",
            raw=json.dumps({"method": hit.method, "user_agent": agent}),
            verp_token=delivery.verp_token,
            extra={"client": client, "agent": agent},
        ),
        now=now,
        verp_secret=secret,
    )
    if recorded.duplicate:
        return HitOutcome(HitVerdict.REPEAT, delivery.id)
    return HitOutcome(HitVerdict.COUNTED, delivery.id, recorded.event_id)


async def record_invoice_view(
    session: AsyncSession, *, invoice_id: int, hit: Hit, now: datetime, rules: ViewRules, secret: bytes
) -> HitOutcome:
    """Apply the rule above to a hit on the invoice page; a counted view becomes a `link`/`viewed` event.

    Does not commit. An invoice never emailed by us (sent by hand, or not sent yet) has no
    delivery to put the view on, so nothing is recorded (`NO_DELIVERY`).
    """
    delivery = await latest_sent_delivery(session, invoice_id=invoice_id)
    if delivery is None:
        return HitOutcome(HitVerdict.NO_DELIVERY)
    judging = _Judging(now=now, rules=rules, secret=secret)
    return await _record(session, delivery=delivery, hit=hit, kind=_PAGE_VIEW, judging=judging)


async def record_pixel_open(
    session: AsyncSession, *, verp_token: str, hit: Hit, now: datetime, rules: ViewRules, secret: bytes
) -> HitOutcome:
    """Apply the rule above to a fetch of the open pixel; a counted one becomes a `pixel`/`opened` event.

    Marked `{"reliable": false}`: mail apps fetch images for privacy or speed whether or not
    anyone reads the email. A token that was not signed with `secret` is ignored before
    any query. Does not commit.
    """
    if not verp_token_is_genuine(verp_token, secret):
        return HitOutcome(HitVerdict.NOT_GENUINE)
    delivery = (
        await session.execute(select(Delivery).where(Delivery.verp_token == verp_token.lower()))
    ).scalar_one_or_none()
    if delivery is None or delivery.status not in {status.value for status in _SENT_STATUSES}:
        return HitOutcome(HitVerdict.NO_DELIVERY)
    judging = _Judging(now=now, rules=rules, secret=secret)
    return await _record(session, delivery=delivery, hit=hit, kind=_PIXEL_OPEN, judging=judging)


async def file_invoice_view(
    units: UnitsOfWork, *, invoice_id: int, hit: Hit, now: datetime, rules: ViewRules, secret: bytes
) -> HitOutcome:
    """`record_invoice_view` in a unit of work of its own, committed when this returns."""
    async with units() as unit:
        return await record_invoice_view(
            unit.session, invoice_id=invoice_id, hit=hit, now=now, rules=rules, secret=secret
        )


async def file_pixel_open(
    units: UnitsOfWork, *, verp_token: str, hit: Hit, now: datetime, rules: ViewRules, secret: bytes
) -> HitOutcome:
    """`record_pixel_open` in a unit of work of its own, committed when this returns."""
    async with units() as unit:
        return await record_pixel_open(
            unit.session, verp_token=verp_token, hit=hit, now=now, rules=rules, secret=secret
        )


def open_pixel_url(*, public_url: str, verp_token: str) -> str:
    """Where the email's open pixel points: `<public_url>/o/<verp token>.gif`."""
    return f"{public_url.rstrip('/')}/o/{verp_token}.gif"

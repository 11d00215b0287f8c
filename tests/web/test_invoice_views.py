"""Which hits on the invoice page count as the customer viewing it (see services/tracking/page_views.py)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Delivery, DeliveryEvent, Invoice, Organisation, utcnow
from services.tracking.page_views import Hit, HitVerdict, ViewRules, is_automated_agent, record_invoice_view
from tests.harness.web import BROWSER_AGENT, SECRET, WebApp, make_sent_invoice, views_recorded

SCANNER_AGENTS = (
    "Mozilla/5.0 (compatible; Microsoft Defender SafeLinks)",
    "Proofpoint URL Defense",
    "Mimecast Web Security",
    "Barracuda Sentinel (EE)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) BingPreview/1.0b",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "curl/8.4.0",
    "Wget/1.21.3",
    "python-requests/2.32.3",
    "",
)


async def _views(session: AsyncSession, delivery: Delivery, web: WebApp | None = None) -> list[DeliveryEvent]:
    if web is not None:
        await views_recorded(web)
    delivery_id = delivery.id
    session.expire_all()
    found = await session.execute(
        select(DeliveryEvent).where(DeliveryEvent.delivery_id == delivery_id, DeliveryEvent.type == "viewed")
    )
    return list(found.scalars())


async def test_a_browser_view_is_recorded_once_within_thirty_minutes(
    web: WebApp, session: AsyncSession, sent_invoice: tuple[Invoice, Delivery]
) -> None:
    invoice, delivery = sent_invoice
    async with httpx.AsyncClient(timeout=10, headers={"User-Agent": BROWSER_AGENT}) as client:
        for _ in range(3):
            assert (await client.get(f"{web.url}/i/{invoice.public_token}")).status_code == 200

    views = await _views(session, delivery, web)
    assert len(views) == 1
    assert views[0].source == "link"
    assert views[0].recipient == "ap@acme.example"
    assert views[0].detail["agent"] == BROWSER_AGENT
    assert "127.0.0.1" not in str(views[0].detail)  # a keyed hash, never the address
    moved = (await session.execute(select(Delivery.status).where(Delivery.id == views[0].delivery_id))).scalar_one()
    assert moved == "opened"  # services.tracking.precedence: a view is evidence the email arrived


async def test_head_requests_and_scanners_never_count_as_views(
    web: WebApp, session: AsyncSession, sent_invoice: tuple[Invoice, Delivery]
) -> None:
    invoice, delivery = sent_invoice
    url = f"{web.url}/i/{invoice.public_token}"
    async with httpx.AsyncClient(timeout=10) as client:
        head = await client.head(url, headers={"User-Agent": BROWSER_AGENT})
        assert head.status_code == 200 and head.content == b""
        for agent in SCANNER_AGENTS:
            assert (await client.get(url, headers={"User-Agent": agent})).status_code == 200

    assert await _views(session, delivery, web) == []


async def test_hits_in_the_first_minute_after_acceptance_are_prefetches(
    web: WebApp, session: AsyncSession, org: Organisation
) -> None:
    invoice, delivery = await make_sent_invoice(session, org, accepted_at=utcnow() - timedelta(seconds=5))
    async with httpx.AsyncClient(timeout=10, headers={"User-Agent": BROWSER_AGENT}) as client:
        assert (await client.get(f"{web.url}/i/{invoice.public_token}")).status_code == 200

    assert await _views(session, delivery, web) == []


async def test_the_same_visitor_counts_again_only_after_the_window(
    session: AsyncSession, sent_invoice: tuple[Invoice, Delivery]
) -> None:
    invoice, delivery = sent_invoice
    rules = ViewRules()  # 30 minutes
    hit = Hit(method="GET", user_agent=BROWSER_AGENT, client_address="203.0.113.7")
    # Same /24 network, same browser family (Safari on a Mac), a newer version: the same visitor.
    same_visitor = Hit(method="GET", user_agent=BROWSER_AGENT.replace("17.5", "18.1"), client_address="203.0.113.200")
    other_network = Hit(method="GET", user_agent=BROWSER_AGENT, client_address="198.51.100.2")
    start = utcnow()

    verdicts = []
    for when, who in (
        (start, hit),
        (start + timedelta(minutes=9), hit),
        (start + timedelta(minutes=20), same_visitor),
        (start + timedelta(minutes=20), other_network),
        (start + timedelta(minutes=31), hit),
    ):
        outcome = await record_invoice_view(
            session, invoice_id=invoice.id, hit=who, now=when, rules=rules, secret=SECRET.encode()
        )
        verdicts.append(outcome.verdict)
    await session.commit()

    assert verdicts == [
        HitVerdict.COUNTED,
        HitVerdict.REPEAT,
        HitVerdict.REPEAT,
        HitVerdict.COUNTED,
        HitVerdict.COUNTED,
    ]
    assert len(await _views(session, delivery)) == 3


async def test_an_invoice_never_emailed_records_no_view(session: AsyncSession, org: Organisation) -> None:
    invoice, delivery = await make_sent_invoice(session, org)
    await session.delete(delivery)
    await session.commit()
    hit = Hit(method="GET", user_agent=BROWSER_AGENT, client_address="203.0.113.7")

    outcome = await record_invoice_view(
        session, invoice_id=invoice.id, hit=hit, now=utcnow(), rules=ViewRules(), secret=SECRET.encode()
    )

    assert outcome.verdict == HitVerdict.NO_DELIVERY


@pytest.mark.parametrize("agent", SCANNER_AGENTS)
def test_known_scanners_are_recognised(agent: str) -> None:
    assert is_automated_agent(agent)


@pytest.mark.parametrize(
    "agent",
    [
        BROWSER_AGENT,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
        "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    ],
)
def test_real_browsers_are_not_scanners(agent: str) -> None:
    assert not is_automated_agent(agent)

"""The open pixel: always a GIF, an unreliable `opened` event only when switched on and genuine."""

from __future__ import annotations

import httpx
from lxml import html as lxml_html
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Delivery, DeliveryEvent, Invoice
from services.email.templates import SAMPLE_CONTEXT, check_template, render_html_body
from services.sending.checks import new_verp_token
from services.tracking.page_views import open_pixel_url
from tests.harness.web import BROWSER_AGENT, SECRET, StartWeb, WebApp, views_recorded


async def _opens(session: AsyncSession, web: WebApp) -> list[DeliveryEvent]:
    await views_recorded(web)
    session.expire_all()
    return list((await session.execute(select(DeliveryEvent).where(DeliveryEvent.type == "opened"))).scalars())


async def _fetch(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10, headers={"User-Agent": BROWSER_AGENT}) as client:
        return await client.get(url)


def _is_one_pixel_gif(response: httpx.Response) -> bool:
    content = response.content
    width, height = int.from_bytes(content[6:8], "little"), int.from_bytes(content[8:10], "little")
    return response.headers["content-type"] == "image/gif" and content[:6] == b"GIF89a" and (width, height) == (1, 1)


async def test_pixel_is_off_by_default_and_records_nothing(
    web: WebApp, session: AsyncSession, sent_invoice: tuple[Invoice, Delivery]
) -> None:
    _, delivery = sent_invoice
    response = await _fetch(f"{web.url}/o/{delivery.verp_token}.gif")

    assert response.status_code == 200 and _is_one_pixel_gif(response)
    assert await _opens(session, web) == []


async def test_switched_on_a_genuine_token_records_an_unreliable_open(
    start_web: StartWeb, session: AsyncSession, sent_invoice: tuple[Invoice, Delivery]
) -> None:
    _, delivery = sent_invoice
    delivery_id = delivery.id
    web = await start_web(INVOICEBOT_OPEN_PIXEL="true")
    url = open_pixel_url(public_url=web.url, verp_token=delivery.verp_token)

    first, again = await _fetch(url), await _fetch(url)

    assert _is_one_pixel_gif(first) and _is_one_pixel_gif(again)
    assert "no-store" in first.headers["cache-control"]
    opens = await _opens(session, web)
    assert [(event.source, event.delivery_id, event.detail["reliable"]) for event in opens] == [
        ("pixel", delivery_id, False)
    ]


async def test_switched_on_unknown_or_forged_tokens_still_get_the_gif(
    start_web: StartWeb, session: AsyncSession, sent_invoice: tuple[Invoice, Delivery]
) -> None:
    web = await start_web(INVOICEBOT_OPEN_PIXEL="true")
    genuine_but_unknown = new_verp_token(SECRET.encode())
    forged = new_verp_token(b"someone else's key")

    for token in (genuine_but_unknown, forged, "not-a-token", "x" * 500):
        response = await _fetch(f"{web.url}/o/{token}.gif")
        assert response.status_code == 200 and _is_one_pixel_gif(response)
    assert await _opens(session, web) == []


def test_email_html_carries_the_pixel_only_when_given_one() -> None:
    text = "Dear Acme Corp,\n\nPlease find attached invoice INV-0042."
    pixel = "https://invoices.example.com/o/abc-def.gif"

    with_pixel = lxml_html.fromstring(
        render_html_body(language="fr", context=SAMPLE_CONTEXT, text=text, pixel_url=pixel)
    )
    without = lxml_html.fromstring(render_html_body(language="fr", context=SAMPLE_CONTEXT, text=text))

    images = with_pixel.xpath("//img")
    assert [(image.get("src"), image.get("width"), image.get("height"), image.get("alt")) for image in images] == [
        (pixel, "1", "1", "")
    ]
    assert without.xpath("//img") == []


def test_an_organisation_template_extending_the_layout_still_checks_clean() -> None:
    source = '{% extends "layout.html.j2" %}{% set labels = {"invoice": "I", "number": "N", "amount": "A", '
    source += '"due_date": "D", "view": "V", "footer": "F"} %}'
    assert check_template("html", source) == []

"""The link page under abuse and trouble: forged headers, a locked database, extreme dates, broken data.

Every test talks HTTP to the real web app on 127.0.0.1 and looks at what a customer (or
the finance team, in the delivery events) would see.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import date

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.db.models import Delivery, DeliveryEvent, Invoice, Organisation
from services.tracking.visitors import agent_family, client_network, visitor_key
from tests.harness.web import BROWSER_AGENT, SECRET, StartWeb, WebApp, make_sent_invoice, views_recorded

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0 Safari/537.36"


async def _views(session: AsyncSession, web: WebApp) -> list[DeliveryEvent]:
    await views_recorded(web)
    session.expire_all()
    return list((await session.execute(select(DeliveryEvent).where(DeliveryEvent.type == "viewed"))).scalars())


async def test_rotating_user_agents_and_forwarded_for_from_an_untrusted_peer_count_one_view(
    web: WebApp, session: AsyncSession, sent_invoice: tuple[Invoice, Delivery]
) -> None:
    invoice, _ = sent_invoice
    url = f"{web.url}/i/{invoice.public_token}"
    async with httpx.AsyncClient(timeout=10) as client:
        for version in range(100, 120):
            forged = {"User-Agent": CHROME.format(v=version), "X-Forwarded-For": f"198.51.{version}.7"}
            assert (await client.get(url, headers=forged)).status_code == 200

    [view] = await _views(session, web)
    expected = visitor_key(client_address="127.0.0.1", user_agent=CHROME.format(v=100), secret=SECRET.encode())
    assert view.detail["client"] == expected  # the peer's network, not the header's


async def test_forwarded_for_is_read_from_a_trusted_proxy_rightmost_untrusted_first(
    start_web: StartWeb, session: AsyncSession, sent_invoice: tuple[Invoice, Delivery]
) -> None:
    invoice, _ = sent_invoice
    web = await start_web(INVOICEBOT_TRUSTED_PROXIES="127.0.0.1/32, 10.0.0.0/8")
    url = f"{web.url}/i/{invoice.public_token}"
    async with httpx.AsyncClient(timeout=10, headers={"User-Agent": BROWSER_AGENT}) as client:
        # A client may prepend anything; the proxies' own entries (10.x) are skipped from the right.
        first = await client.get(url, headers={"X-Forwarded-For": "192.0.2.1, 203.0.113.9, 10.1.2.3"})
        same_network = await client.get(url, headers={"X-Forwarded-For": "203.0.113.77"})
        other_network = await client.get(url, headers={"X-Forwarded-For": "198.51.100.4, 10.9.9.9"})
    assert first.status_code == same_network.status_code == other_network.status_code == 200

    views = await _views(session, web)
    keys = {
        visitor_key(client_address=address, user_agent=BROWSER_AGENT, secret=SECRET.encode())
        for address in ("203.0.113.9", "198.51.100.4")
    }
    assert {view.detail["client"] for view in views} == keys
    assert len(views) == 2
    assert all("203.0.113" not in str(view.detail) and "198.51" not in str(view.detail) for view in views)


async def test_a_malformed_trusted_proxy_setting_is_refused_at_start_up(start_web: StartWeb) -> None:
    with pytest.raises(Exception, match="INVOICEBOT_TRUSTED_PROXIES"):
        await start_web(INVOICEBOT_TRUSTED_PROXIES="10.0.0.0/8, not-a-network")


def test_visitors_are_grouped_by_network_and_a_short_list_of_browser_families() -> None:
    assert client_network("203.0.113.7") == client_network("203.0.113.250") == "203.0.113.0/24"
    assert client_network("2001:db8:1234:5678::1") == "2001:db8:1234::/48"
    assert client_network("::ffff:203.0.113.7") == "203.0.113.0/24"
    assert client_network("unix-socket") == "-"
    assert agent_family(CHROME.format(v=126)) == "chrome/windows"
    assert agent_family(BROWSER_AGENT) == "safari/mac"
    assert agent_family("Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0") == "firefox/linux"
    assert agent_family(CHROME.format(v=126) + " Edg/126.0") == "edge/windows"
    assert agent_family("anything at all " * 20) == "other/other"


async def _hold_write_lock(engine: AsyncEngine, database_url: str) -> tuple[object, object]:
    """A second connection that takes the database's write lock and keeps it until released."""
    if engine.dialect.name == "sqlite":
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")
        return connection, None
    connection = await engine.connect()
    transaction = await connection.begin()
    await connection.execute(text("LOCK TABLE delivery_events, deliveries IN EXCLUSIVE MODE"))  # reads still pass
    return connection, transaction


async def test_the_page_answers_200_while_the_database_is_write_locked_and_the_view_lands_after(
    web: WebApp, engine: AsyncEngine, database_url: str, session: AsyncSession, sent_invoice: tuple[Invoice, Delivery]
) -> None:
    invoice, _ = sent_invoice
    lock, transaction = await _hold_write_lock(engine, database_url)
    try:
        async with httpx.AsyncClient(timeout=10, headers={"User-Agent": BROWSER_AGENT}) as client:
            page = await client.get(f"{web.url}/i/{invoice.public_token}")
            pdf = await client.get(f"{web.url}/i/{invoice.public_token}/pdf")
        assert page.status_code == 200 and "INV-2026-0042" in page.text
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    finally:
        if isinstance(lock, sqlite3.Connection):
            lock.execute("ROLLBACK")
            lock.close()
        else:
            await transaction.rollback()  # type: ignore[attr-defined]
            await lock.close()  # type: ignore[attr-defined]
    assert len(await _views(session, web)) == 1  # late, not lost


async def test_a_year_9999_invoice_renders_its_page_and_files(
    web: WebApp, session: AsyncSession, org: Organisation
) -> None:
    invoice, _ = await make_sent_invoice(
        session, org, number="Y9999", issue_date=date(9999, 12, 31), due_date=date(9999, 12, 31)
    )
    async with httpx.AsyncClient(timeout=10, headers={"User-Agent": BROWSER_AGENT}) as client:
        page = await client.get(f"{web.url}/i/{invoice.public_token}")
        pdf = await client.get(f"{web.url}/i/{invoice.public_token}/pdf")
        ubl = await client.get(f"{web.url}/i/{invoice.public_token}/ubl")

    assert page.status_code == 200 and "Y9999" in page.text and "9999" in page.text
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert ubl.status_code == 200 and b"9999-12-31" in ubl.content


async def test_an_unexpected_error_answers_a_plain_500_without_a_traceback(
    web: WebApp, engine: AsyncEngine, session: AsyncSession, sent_invoice: tuple[Invoice, Delivery]
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("only SQLite stores an amount column as text, which lets the test break one")
    invoice, _ = sent_invoice
    await session.execute(text("UPDATE invoice_lines SET quantity = 'not a number'"))
    await session.commit()

    async with httpx.AsyncClient(timeout=10, headers={"User-Agent": BROWSER_AGENT}) as client:
        answers = await asyncio.gather(
            *(client.get(f"{web.url}/i/{invoice.public_token}{suffix}") for suffix in ("", "/pdf", "/ubl"))
        )

    for answer in answers:
        assert answer.status_code == 500
        assert answer.headers["content-type"].startswith("text/plain")
        assert answer.text.startswith("Sorry, something went wrong on our side.")
        assert "Traceback" not in answer.text and "Error" not in answer.text and "sqlalchemy" not in answer.text

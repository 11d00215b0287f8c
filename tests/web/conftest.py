"""The real web app under uvicorn on 127.0.0.1, built from `Settings` as production builds it.

No Slack here: the customer-facing pages need only the database. `start_web(**settings)`
starts one server with extra settings (e.g. `INVOICEBOT_OPEN_PIXEL="true"`); `web` is the
default one. `sent_invoice` is an invoice emailed an hour ago: a delivery the SMTP
server accepted, so views have something to land on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Runtime, bootstrap
from bot.config import load_settings
from bot.runner import bound_port, web_server
from services.db.models import Delivery, Invoice, Organisation
from tests.harness.servers import start_server, stop_server
from tests.harness.web import SECRET, StartWeb, WebApp, make_sent_invoice


@pytest.fixture
async def start_web(database_url: str, org: Organisation) -> AsyncIterator[StartWeb]:
    running: list[tuple[uvicorn.Server, asyncio.Task[None], Runtime]] = []

    async def start(**overrides: str) -> WebApp:
        settings = load_settings(
            DATABASE_URL=database_url,
            INVOICEBOT_SECRET_KEY=SECRET,
            INVOICEBOT_HTTP_PORT=0,
            **overrides,
        )
        runtime = bootstrap(settings)
        server = web_server(runtime, host="127.0.0.1", port=0, log_level="warning")
        task = await start_server(server)
        running.append((server, task, runtime))
        return WebApp(url=f"http://127.0.0.1:{bound_port(server)}", runtime=runtime)

    yield start
    for server, task, runtime in running:
        await stop_server(server, task)
        await runtime.aclose()


@pytest.fixture
async def web(start_web: StartWeb) -> WebApp:
    return await start_web()


@pytest.fixture
async def sent_invoice(session: AsyncSession, org: Organisation) -> tuple[Invoice, Delivery]:
    return await make_sent_invoice(session, org)

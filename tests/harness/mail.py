"""The scripted SMTP server on 127.0.0.1 (real aiosmtpd) and the real SMTP client pointed at it.

`transport` waits 1 s for a reply and keeps 2 connections unless the module says otherwise with
`pytestmark = pytest.mark.smtp_client(timeout=..., pool_size=...)`: a test about slow replies
wants a short timeout, one on a busy machine about something else a generous one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.sandbox.smtp_server import ScriptedSmtpServer
from services.email.script import SmtpScript
from services.email.smtp import SmtpTransport


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "smtp_client(timeout=1.0, pool_size=2): how the `transport` fixture reaches the SMTP server"
    )


@pytest.fixture
async def smtp() -> AsyncIterator[ScriptedSmtpServer]:
    server = ScriptedSmtpServer(script=SmtpScript())
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def transport(smtp: ScriptedSmtpServer, request: pytest.FixtureRequest) -> AsyncIterator[SmtpTransport]:
    marker = request.node.get_closest_marker("smtp_client")
    options = {"timeout": 1.0, "pool_size": 2} | (marker.kwargs if marker else {})
    client = SmtpTransport(host="127.0.0.1", port=smtp.port, security="none", **options)
    yield client
    await client.aclose()

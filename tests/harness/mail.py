"""The scripted SMTP server on 127.0.0.1 (real aiosmtpd) and the real SMTP client pointed at it.

`peer` is a scripted mail peer, in memory or that real server, behind one interface: the
contract suite runs every test against both, so the in-memory transport other tests rely on
behaves like the real one.

`transport` waits 1 s for a reply and keeps 2 connections unless the module says otherwise with
`pytestmark = pytest.mark.smtp_client(timeout=..., pool_size=...)`: a test about slow replies
wants a short timeout, one on a busy machine about something else a generous one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser

import pytest

from bot.sandbox.smtp_server import ScriptedSmtpServer
from services.email.memory import InMemoryTransport
from services.email.script import ReceivedMessage, SmtpScript
from services.email.smtp import SmtpRelay, SmtpTransport
from services.email.transport import Transport


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
    client = SmtpTransport(relay=SmtpRelay(host="127.0.0.1", port=smtp.port, security="none"), **options)
    yield client
    await client.aclose()


def received_ids(server: ScriptedSmtpServer) -> Counter[str]:
    """How many times the server received each Message-ID: what "sent exactly once" is judged by."""
    parser = BytesHeaderParser(policy=policy.default)
    return Counter(str(parser.parsebytes(m.data)["Message-ID"]) for m in server.received)


def received_message_ids(server: ScriptedSmtpServer) -> list[str]:
    """Every Message-ID the server received, sorted, repeats kept (compare with the expected, sorted)."""
    return sorted(received_ids(server).elements())


# Short, so a scripted hang turns into a timeout quickly.
CLIENT_TIMEOUT = 0.5


@dataclass
class Peer:
    kind: str
    transport: Transport
    script: SmtpScript
    memory: InMemoryTransport | None = None
    server: ScriptedSmtpServer | None = None

    @property
    def received(self) -> list[ReceivedMessage]:
        return self.server.received if self.server else self.memory.received  # type: ignore[union-attr]

    @property
    def connections(self) -> int:
        return self.server.connection_count if self.server else self.memory.connections  # type: ignore[union-attr]

    def drop_connections(self) -> None:
        (self.server or self.memory).drop_connections()  # type: ignore[union-attr]


@pytest.fixture(params=["memory", "smtp"])
async def peer(request: pytest.FixtureRequest) -> AsyncIterator[Peer]:
    script = SmtpScript()
    if request.param == "memory":
        memory = InMemoryTransport(script)
        yield Peer("memory", memory, script, memory=memory)
        await memory.aclose()
        return
    server = await ScriptedSmtpServer(script=script).start()
    transport = SmtpTransport(
        relay=SmtpRelay(host="127.0.0.1", port=server.port, security="none"), timeout=CLIENT_TIMEOUT
    )
    try:
        yield Peer("smtp", transport, script, server=server)
    finally:
        await transport.aclose()
        await server.stop()

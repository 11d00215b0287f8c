"""A scripted mail peer, in memory or a real SMTP server on 127.0.0.1, behind one interface.

The contract suite runs every test against both, so the in-memory transport other tests
rely on behaves like the real one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.sandbox.smtp_server import ScriptedSmtpServer
from services.email.memory import InMemoryTransport
from services.email.script import ReceivedMessage, SmtpScript
from services.email.smtp import SmtpTransport
from services.email.transport import Transport

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
    transport = SmtpTransport(host="127.0.0.1", port=server.port, security="none", timeout=CLIENT_TIMEOUT)
    try:
        yield Peer("smtp", transport, script, server=server)
    finally:
        await transport.aclose()
        await server.stop()

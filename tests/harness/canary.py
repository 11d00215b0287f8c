"""A canary HTTP server on 127.0.0.1: put its URL in every URL field a stranger controls.

It answers anything with 200 and remembers each request line it was sent, so a test can
prove the app never called out (`hits` stays empty) for a request it should have refused.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass
class Canary:
    hits: list[str] = field(default_factory=list)
    port: int = 0

    def url(self, path: str = "x") -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            line = await asyncio.wait_for(reader.readline(), timeout=5)
            self.hits.append(line.decode("latin-1").strip())
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            await writer.drain()
        writer.close()


@contextlib.asynccontextmanager
async def canary_server() -> AsyncIterator[Canary]:
    canary = Canary()
    server = await asyncio.start_server(canary._serve, "127.0.0.1", 0)
    canary.port = int(server.sockets[0].getsockname()[1])
    try:
        yield canary
    finally:
        server.close()
        await server.wait_closed()

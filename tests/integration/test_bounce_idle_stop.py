"""A stop ends the bounce loop while it idles, whatever the IMAP server does.

The server here accepts IDLE and then never answers again: not DONE, not LOGOUT, and it never
closes the connection. A polite goodbye (DONE, then LOGOUT) waits on such a server and leaves
the bound to aioimaplib's handling of cancellation (CI once saw a stop against the real Dovecot
take more than 10 s). The loop instead drops its IDLE connection, which the server sees as a
connection closed with nothing sent after IDLE, and ends within the bound, as `invoicebot run`
must on SIGTERM.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bounce_mailbox import BounceMailbox, MailboxPolling
from bot.imap_mailbox import ImapAccount, ImapMailbox
from tests.harness.waiting import stopping, until

STOP_BOUND_SECONDS = 10.0  # the same bound as the Dovecot test; the old polite goodbye never ended here


@dataclass
class SilentAfterIdle:
    """An IMAP server that answers until IDLE, then stays silent with the connection open."""

    idles: int = 0
    after_idle: list[bytes] = field(default_factory=list)
    closed_by_client: int = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK [CAPABILITY IMAP4rev1 IDLE] silent server ready\r\n")
        idling = False
        while line := await reader.readline():
            if idling:
                self.after_idle.append(line.strip())
                continue  # DONE, LOGOUT: never answered
            tag, _, rest = line.decode().strip().partition(" ")
            command = rest.upper()
            if command.startswith("CAPABILITY"):
                writer.write(b"* CAPABILITY IMAP4rev1 IDLE\r\n")
            elif command.startswith("SELECT"):
                writer.write(b"* 0 EXISTS\r\n* OK [UIDVALIDITY 1] ok\r\n")
            elif command.startswith("UID SEARCH"):
                writer.write(b"* SEARCH\r\n")
            elif command.startswith("IDLE"):
                writer.write(b"+ idling\r\n")
                await writer.drain()
                self.idles += 1
                idling = True
                continue
            writer.write(f"{tag} OK done\r\n".encode())
            await writer.drain()
        self.closed_by_client += 1


@asynccontextmanager
async def silent_server() -> AsyncIterator[tuple[SilentAfterIdle, int]]:
    server = SilentAfterIdle()
    listening = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield server, port
    finally:
        listening.close()


async def test_a_stop_ends_the_loop_while_it_idles_on_a_server_that_never_answers_done(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with silent_server() as (server, port):
        account = ImapAccount(host="127.0.0.1", port=port, username="bounces", password="pw", security="none")
        reader = BounceMailbox(
            mailbox=ImapMailbox(account),
            sessions=sessions,
            verp_secret=b"s" * 32,
            polling=MailboxPolling(timeout=30.0, poll_interval=600.0),
        )
        stop = asyncio.Event()
        loop = asyncio.create_task(reader.run(stop))
        async with stopping(loop, stop, within=STOP_BOUND_SECONDS):
            await until(lambda: server.idles >= 1, within=30, what="the loop idles on the silent server")
            assert reader.totals.imap_errors == 0
        # The loop ended within the bound (stopping's own assertion); the server saw its IDLE
        # connection dropped, not a goodbye it would have had to answer.
        await until(lambda: server.closed_by_client >= 2, within=5, what="both connections closed by the loop")
        assert server.after_idle == []

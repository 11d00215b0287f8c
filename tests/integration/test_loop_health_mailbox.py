"""The bounce mailbox loop reports to the process's loop health: red while the mailbox cannot be
read, green again by itself once it can (a real refused connection on 127.0.0.1, then the
demo's maildir folder through the `connect` hook the loop offers for other sources)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bounce_mailbox import BounceMailbox, MailboxPolling
from bot.imap_mailbox import ImapAccount, ImapMailbox
from bot.loop_health import LoopHealth
from bot.sandbox.folder_mailbox import FolderMailbox
from tests.harness.sending import SECRET
from tests.harness.waiting import until


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_unreachable_bounce_mailbox_turns_its_loop_red_and_a_readable_one_green_again(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    account = ImapAccount(host="127.0.0.1", port=closed_port(), username="bounces", password="pw", security="none")
    polling = MailboxPolling(poll_interval=0.05, max_backoff=0.1, attempts_per_poll=1, timeout=1.0)
    mailbox = BounceMailbox(mailbox=ImapMailbox(account), sessions=sessions, verp_secret=SECRET, polling=polling)
    health = LoopHealth(stall_after=0.3)
    stop = asyncio.Event()
    running = asyncio.create_task(mailbox.run(stop, health.loop("bounce mailbox")))
    try:
        await until(lambda: bool(health.problems()), within=10, step=0.02)
        [problem] = health.problems()
        assert problem.startswith("bounce mailbox: no progress for ")
        assert "while work is due: " in problem and "pw" not in problem.split("due: ", 1)[1]

        mailbox.mailbox = FolderMailbox(tmp_path / "bounces").create()  # the mailbox answers again
        await until(lambda: not health.problems(), within=10, step=0.02)
        assert not running.done()
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=10)

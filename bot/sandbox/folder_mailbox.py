"""A bounce mailbox in a local folder (Maildir-like), for the demo: no IMAP server needed.

Layout: `tmp/` (being written), `new/` (unseen), `cur/` (filed). A message is written to
`tmp/` and renamed into `new/`, so a reader never sees half a message; filing it (the
IMAP `\\Seen` flag) renames it into `cur/`. `FolderMailbox` implements the bounce mailbox
port (bot/mailbox_port.py), so `bot.bounce_mailbox.BounceMailbox` reads this folder with
exactly the code that reads a real mailbox: parse, file as delivery events, commit, then
mark seen. It offers no IDLE: the loop polls it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from pathlib import Path

from bot.mailbox_port import SEEN as SEEN_FLAG


class FolderMailbox:
    """The folder itself: `deliver` puts a message in `new/`; the connection reads and files it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._counter = itertools.count(1)

    def create(self) -> FolderMailbox:
        for part in ("tmp", "new", "cur"):
            (self.root / part).mkdir(parents=True, exist_ok=True)
        return self

    def deliver(self, raw: bytes) -> Path:
        """Write one message atomically into `new/`; returns its path there."""
        name = f"{time.time_ns()}.{os.getpid()}_{next(self._counter)}.invoicebot.eml"
        temporary = self.root / "tmp" / name
        temporary.write_bytes(raw)
        final = self.root / "new" / name
        temporary.rename(final)
        return final

    def unseen_names(self) -> list[str]:
        return sorted(path.name for path in (self.root / "new").glob("*.eml"))

    def seen_names(self) -> list[str]:
        return sorted(path.name for path in (self.root / "cur").iterdir())

    @property
    def address(self) -> str:
        """What the bounce loop logs as its mailbox: this folder."""
        return f"folder {self.root}"

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        return (OSError,)

    def scrub(self, text: str) -> str:
        return text  # a folder has no password

    def connect(self, timeout: float) -> FolderConnection:
        return FolderConnection(self)


class FolderConnection:
    """One pass over the folder, numbered like IMAP UIDs (oldest first) for the bounce loop."""

    def __init__(self, mailbox: FolderMailbox) -> None:
        self.mailbox = mailbox
        self._names: dict[int, str] = {}

    async def open(self) -> None:
        self.mailbox.create()

    async def unseen(self) -> list[int]:
        self._names = dict(enumerate(self.mailbox.unseen_names(), start=1))
        return sorted(self._names)

    async def fetch(self, uid: int, limit: int) -> bytes | None:
        name = self._names.get(uid)
        path = self.mailbox.root / "new" / name if name else None
        if path is None or not path.exists():
            return None
        with path.open("rb") as handle:
            return handle.read(limit)

    async def flag(self, uid: int, *flags: str) -> None:
        """`\\Seen` files the message (new/ → cur/); other flags are kept in the name, Maildir style."""
        name = self._names.get(uid)
        if name is None or SEEN_FLAG not in flags:
            return
        source = self.mailbox.root / "new" / name
        extra = "".join(sorted(flag.strip("\\$")[0].upper() for flag in flags if flag != SEEN_FLAG))
        if source.exists():
            source.rename(self.mailbox.root / "cur" / f"{name}:2,S{extra}")

    async def move(self, uid: int, folder: str) -> None:
        """Unmatched reports stay in cur/, flagged; the demo has no other folders."""

    def offers_idle(self) -> bool:
        return False

    async def idle_until_news(self, seconds: float) -> bool:
        """Never called (no IDLE offered); sleeps `seconds` if it is."""
        await asyncio.sleep(seconds)
        return False

    async def close(self) -> None:
        self._names = {}

    def abort(self) -> None:
        self._names = {}

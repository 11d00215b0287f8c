"""One contract for the bounce mailbox port (bot/mailbox_port.py), run against both implementations.

The demo's folder (bot/sandbox/folder_mailbox.py) always runs; IMAP (bot/imap_mailbox.py) runs
against the real Dovecot of tests/mailstack and is skipped, with the reason, where Postfix and
Dovecot are not installed. What the bounce loop relies on is asserted here once: unseen messages
oldest first, a fetch bounded by its limit that does not mark the message seen, `SEEN` taking it
out of the unseen list, an unknown number fetched as nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.imap_mailbox import ImapAccount, ImapMailbox
from bot.mailbox_port import SEEN, Mailbox
from bot.sandbox.folder_mailbox import FolderMailbox
from tests.harness.mailstack import BOUNCE_PASSWORD, BOUNCE_USER

TIMEOUT = 5.0


@dataclass
class MailboxUnderTest:
    mailbox: Mailbox
    deliver: Callable[[bytes], object]


def message(subject: str) -> bytes:
    headers = f"From: mailer-daemon@example.com\r\nTo: bounces@example.com\r\nSubject: {subject}\r\n"
    return f"{headers}\r\n{'x' * 200}\r\n".encode()


@pytest.fixture(params=["folder", "imap"])
def under_test(request: pytest.FixtureRequest, tmp_path: Path) -> MailboxUnderTest:
    if request.param == "folder":
        folder = FolderMailbox(tmp_path / "bounces").create()
        return MailboxUnderTest(folder, lambda raw: folder.deliver(raw) and None)
    stack = request.getfixturevalue("mailstack")
    account = ImapAccount(
        host="127.0.0.1", port=stack.imap_port, username=BOUNCE_USER, password=BOUNCE_PASSWORD, security="none"
    )
    count = iter(range(1_000_000))
    return MailboxUnderTest(ImapMailbox(account), lambda raw: stack.drop_into_mailbox(raw, name=f"c{next(count)}"))


async def test_unseen_messages_are_listed_oldest_first_and_fetched_without_being_seen(under_test: MailboxUnderTest):
    under_test.deliver(message("first"))
    under_test.deliver(message("second"))
    connection = under_test.mailbox.connect(TIMEOUT)
    try:
        await connection.open()
        first, second = await connection.unseen()
        assert first < second
        assert b"Subject: first" in (await connection.fetch(first, 10_000) or b"")
        assert b"Subject: second" in (await connection.fetch(second, 10_000) or b"")
        assert await connection.unseen() == [first, second]  # fetching marks nothing seen
    finally:
        await connection.close()


async def test_a_fetch_is_bounded_by_its_limit(under_test: MailboxUnderTest):
    under_test.deliver(message("long"))
    connection = under_test.mailbox.connect(TIMEOUT)
    try:
        await connection.open()
        [uid] = await connection.unseen()
        fetched = await connection.fetch(uid, 40)
        assert fetched is not None and len(fetched) == 40
    finally:
        await connection.close()


async def test_seen_takes_a_message_out_of_the_unseen_list_for_the_next_connection(under_test: MailboxUnderTest):
    under_test.deliver(message("filed"))
    under_test.deliver(message("waiting"))
    connection = under_test.mailbox.connect(TIMEOUT)
    try:
        await connection.open()
        filed, _ = await connection.unseen()
        await connection.flag(filed, SEEN)
    finally:
        await connection.close()
    again = under_test.mailbox.connect(TIMEOUT)
    try:
        await again.open()
        [waiting] = await again.unseen()
        assert b"Subject: waiting" in (await again.fetch(waiting, 10_000) or b"")
    finally:
        await again.close()


async def test_an_unknown_message_is_fetched_as_nothing_and_idle_is_a_yes_or_no(under_test: MailboxUnderTest):
    connection = under_test.mailbox.connect(TIMEOUT)
    try:
        await connection.open()
        assert await connection.unseen() == []
        assert await connection.fetch(999_999, 100) is None
        assert isinstance(connection.offers_idle(), bool)
    finally:
        await connection.close()

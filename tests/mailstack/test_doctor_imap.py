"""`invoicebot doctor`'s bounce mailbox line against the real Dovecot: a login passes, a wrong password
fails with the fix, and the password never appears in what is printed."""

from __future__ import annotations

from bot.config import load_settings
from bot.doctor import imap_check
from tests.harness.mailstack import BOUNCE_PASSWORD, BOUNCE_USER, MailStack


def imap_settings(stack: MailStack, password: str):
    return load_settings(
        INVOICEBOT_IMAP_HOST="127.0.0.1",
        INVOICEBOT_IMAP_PORT=stack.imap_port,
        INVOICEBOT_IMAP_USERNAME=BOUNCE_USER,
        INVOICEBOT_IMAP_PASSWORD=password,
        INVOICEBOT_IMAP_SECURITY="none",
    )


async def test_the_bounce_mailbox_login_passes(mailstack: MailStack):
    check = await imap_check(imap_settings(mailstack, BOUNCE_PASSWORD))

    assert check.ok, check.detail
    assert check.detail == f"{BOUNCE_USER}@127.0.0.1:{mailstack.imap_port}, mailbox INBOX"


async def test_a_refused_password_fails_with_the_fix_and_without_the_password(mailstack: MailStack):
    check = await imap_check(imap_settings(mailstack, "not-the-password-x1"))

    assert not check.ok
    assert "would not log in" in check.detail
    assert check.fix == "check INVOICEBOT_IMAP_USERNAME and INVOICEBOT_IMAP_PASSWORD"
    assert "not-the-password-x1" not in check.detail

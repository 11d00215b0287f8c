"""Sending through the real Postfix of `tests/mailstack` and reading its bounces back from Dovecot.

The deliveries go to `NOBODY`, a mailbox the customer's server refuses, signed with the
stack's own VERP secret so the bounce mailbox can find them again.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bounce_mailbox import BounceMailbox, MailboxPolling
from bot.imap_mailbox import ImapAccount, ImapMailbox
from services.db.models import Attachments, Delivery, Organisation
from services.email.smtp import SmtpRelay, SmtpTransport
from services.sending.pipeline import SenderIdentity
from tests import factories
from tests.harness.mailstack import BOUNCE_PASSWORD, BOUNCE_USER, MailStack
from tests.harness.sending import make_worker, reload

SECRET = b"mailstack-verp-secret"
NOBODY = "nobody@bounce.example"
IDENTITY = SenderIdentity(
    from_email="invoices@example.com",
    from_name="Example Trading",
    reply_to=None,
    bounce_domain="localhost",
    public_url="http://localhost:3000",
)


def mailbox_reader(stack: MailStack, sessions: async_sessionmaker[AsyncSession], **kwargs: object) -> BounceMailbox:
    account = ImapAccount(
        host="127.0.0.1", port=stack.imap_port, username=BOUNCE_USER, password=BOUNCE_PASSWORD, security="none"
    )
    options: dict[str, object] = {"timeout": 5.0, "poll_interval": 0.2} | kwargs
    polling = MailboxPolling(**options)  # type: ignore[arg-type]
    return BounceMailbox(mailbox=ImapMailbox(account), sessions=sessions, verp_secret=SECRET, polling=polling)


async def queue_delivery(session: AsyncSession, org: Organisation, *, to: str = NOBODY) -> Delivery:
    return await factories.queued_delivery(
        session,
        org.id,
        verp_secret=SECRET,
        to=(to,),
        number="INV-0042",
        customer_ref="C-NOBODY",
        attachments=Attachments.PDF,
    )


async def send_through_postfix(
    stack: MailStack, sessions: async_sessionmaker[AsyncSession], delivery: Delivery
) -> Delivery:
    transport = SmtpTransport(
        relay=SmtpRelay(host="127.0.0.1", port=stack.smtp_port, security="none"), timeout=10.0, pool_size=1
    )
    try:
        worker = make_worker(sessions, transport, identity=IDENTITY, worker_id="mailstack-worker")
        assert await worker.drain() == 1
    finally:
        await transport.aclose()
    return await reload(sessions, delivery.id)

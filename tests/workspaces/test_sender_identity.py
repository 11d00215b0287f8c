"""One worker sends for every installed workspace, and each email leaves as its own organisation:
its From name and address and its bounce domain (parsed at a real SMTP server). Before, the
worker read one identity (the first organisation's) for every claim."""

from __future__ import annotations

from dataclasses import replace
from email import policy
from email.parser import BytesParser

from bot.organisation_settings import settings_directory
from bot.workspaces import workspace_seed
from services.db.models import Attachments
from tests.harness.sending import make_worker, queue_delivery


async def test_each_workspaces_email_leaves_with_its_own_from_and_bounce_domain(
    settings, sessions, session, smtp, transport
):
    directory = settings_directory(settings)
    one = await directory.install(
        session, "T0ONE", workspace_seed(directory.seed, installer="U0ANN", name="One Trading")
    )
    two_seed = replace(
        workspace_seed(directory.seed, installer="U0TOM", name="Two Imports"),
        sender_email="billing@two.example",
        bounce_domain="bounces.two.example",
    )
    two = await directory.install(session, "T0TWO", two_seed)
    await session.commit()
    # a new workspace has no VAT number yet, so its UBL would be held: PDF only
    await queue_delivery(session, one, to=("ap@customer-one.example",), attachments=Attachments.PDF)
    await queue_delivery(session, two, to=("ap@customer-two.example",), attachments=Attachments.PDF)
    worker = make_worker(sessions, transport, identity=directory.identities)

    assert await worker.drain() == 2

    sent = {
        received.recipients[0]: (
            BytesParser(policy=policy.default).parsebytes(received.data)["From"].addresses[0],
            received.mail_from,
        )
        for received in smtp.received
    }
    (one_from, one_return), (two_from, two_return) = sent["ap@customer-one.example"], sent["ap@customer-two.example"]
    assert one_from.display_name == "One Trading" and one_from.addr_spec == directory.seed.sender_email
    assert two_from.display_name == "Two Imports" and two_from.addr_spec == "billing@two.example"
    assert two_return.endswith("@bounces.two.example") and not one_return.endswith("@bounces.two.example")

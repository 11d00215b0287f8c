"""One delivery's failure stays its own: an unexpected error, a stale send past its attempts, a busy render pool.

Real parts throughout: the real worker, the real SMTP transport talking to an aiosmtpd server
on 127.0.0.1, the real notifier posting to the fake Slack Web API. Each failing delivery is
failed (or deferred) with its reason and an alert; the others go out once.
"""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from bot.notifier import Notifier, NotifierTuning, PostRouting
from bot.sandbox.slack_api import FakeSlackApi
from bot.worker import Worker, WorkerParts, WorkerTuning
from services.db.models import Delivery, DeliveryStatus, Notification, utcnow
from services.email.smtp import SmtpTransport
from services.email.transport import BeforeData, Envelope, SendResult, ServerFeatures
from services.sending.pipeline import RenderJob, render_message
from services.sending.queue import RetryPolicy
from services.sending.render_pool import RenderPool
from tests.harness.sending import IDENTITY, make_worker, queue_delivery, reload

# A generous timeout: on a busy machine a 2 s read timeout made one send "transient" (deferred for
# its 60 s backoff), which is not what these tests are about.
pytestmark = pytest.mark.smtp_client(timeout=20.0, pool_size=2)


class BreakingTransport:
    """The real SMTP transport, except for scripted recipients (a fake of our own Transport interface):
    `before@` raises an unexpected error before any SMTP command; `after@` raises one after the
    server accepted the message data."""

    def __init__(self, real: SmtpTransport) -> None:
        self.real = real

    async def send(
        self, envelope: Envelope, message: bytes | Any, *, before_data: BeforeData | None = None
    ) -> SendResult:
        if "before@acme.example" in envelope.recipients:
            raise UnicodeEncodeError("ascii", "b\u00e9fore", 1, 2, "the address cannot be encoded")
        result = await self.real.send(envelope, message, before_data=before_data)
        if "after@acme.example" in envelope.recipients:
            raise RuntimeError("the connection object broke after the reply")
        return result

    async def verify(self) -> ServerFeatures:
        return await self.real.verify()

    async def aclose(self) -> None:
        await self.real.aclose()


async def render_except_inv_0002(job: RenderJob) -> bytes:
    """The real renderer, except that invoice INV-0002's render raises as a bug in it would."""
    if job.document.number == "INV-0002":
        raise ZeroDivisionError("division by zero")
    return render_message(job)


async def test_an_unexpected_error_in_one_delivery_fails_it_with_an_alert_and_the_rest_of_the_batch_goes_out(
    session, sessions, org, smtp, transport
):
    fine = await queue_delivery(session, org, number="INV-0001")
    bad_render = await queue_delivery(session, org, number="INV-0002")
    bad_smtp = await queue_delivery(session, org, number="INV-0003", to=("before@acme.example",))
    after_data = await queue_delivery(session, org, number="INV-0004", to=("after@acme.example",))
    also_fine = await queue_delivery(session, org, number="INV-0005")
    worker = make_worker(sessions, BreakingTransport(transport), render=render_except_inv_0002)

    assert await worker.drain() == 5  # one claimed batch

    assert (await reload(sessions, fine.id)).status == DeliveryStatus.ACCEPTED
    assert (await reload(sessions, also_fine.id)).status == DeliveryStatus.ACCEPTED
    rendered = await reload(sessions, bad_render.id)
    assert rendered.status == DeliveryStatus.FAILED
    assert rendered.last_error == "could not render the email: ZeroDivisionError: division by zero"
    before = await reload(sessions, bad_smtp.id)
    assert before.status == DeliveryStatus.FAILED
    assert (before.last_error or "").startswith("an unexpected error before the email was sent: UnicodeEncodeError")
    after = await reload(sessions, after_data.id)
    assert after.status == DeliveryStatus.UNKNOWN  # it reached the server: never resent by itself
    assert "after the email was handed to the server" in (after.last_error or "")
    assert sorted(m.recipients[0] for m in smtp.received) == [
        "after@acme.example",
        "ap@acme.example",
        "ap@acme.example",
    ]
    await worker.recover()
    assert await worker.drain() == 0 and len(smtp.received) == 3

    async with sessions() as check:
        alerts = (
            await check.execute(
                select(Notification.delivery_id, Notification.payload).where(Notification.kind == "delivery_alert")
            )
        ).all()
    by_delivery = {delivery_id: payload for delivery_id, payload in alerts}
    assert set(by_delivery) == {bad_render.id, bad_smtp.id, after_data.id}
    assert by_delivery[bad_render.id]["diagnostic"] == rendered.last_error

    fake_slack = FakeSlackApi(token="xoxb-heal-test")
    await fake_slack.start()
    try:
        client = AsyncWebClient(token="xoxb-heal-test", base_url=fake_slack.base_url, timeout=5)
        notifier = Notifier(
            sessions, client, PostRouting(default_channel="C0NOTIFY"), tuning=NotifierTuning(batch_size=50)
        )
        for _ in range(5):  # status messages first, then the alerts in their threads
            await notifier.drain_once()
        threads = [
            call.args
            for call in fake_slack.calls_to("chat.postMessage")
            if call.args.get("thread_ts")
            and "division by zero" in str(call.args.get("text", "")) + str(call.args.get("blocks", ""))
        ]
        assert len(threads) == 1
    finally:
        await fake_slack.stop()


async def test_stale_recovery_fails_a_delivery_past_the_attempt_limit_with_the_reason_and_an_alert(
    session, sessions, org, smtp, transport
):
    worn = await queue_delivery(session, org, number="INV-0001")
    fresh = await queue_delivery(session, org, number="INV-0002")
    long_ago = utcnow().replace(year=2020)
    for delivery_id, attempts in ((worn.id, 3), (fresh.id, 1)):
        row = await session.get(Delivery, delivery_id)
        assert row is not None
        row.status, row.claimed_at, row.claimed_by, row.attempts = DeliveryStatus.SENDING, long_ago, "gone", attempts
        row.last_error = "render process exited"
    await session.commit()
    worker = make_worker(sessions, transport)  # max_attempts=3

    assert await worker.recover() == (1, 0, 1)

    stored = await reload(sessions, worn.id)
    assert stored.status == DeliveryStatus.FAILED
    assert stored.last_error == "gave up after 3 attempts: render process exited"
    assert (await reload(sessions, fresh.id)).status == DeliveryStatus.QUEUED
    async with sessions() as check:
        alert = (
            await check.execute(
                select(Notification.payload).where(
                    Notification.delivery_id == worn.id, Notification.kind == "delivery_alert"
                )
            )
        ).scalar_one()
    assert alert["type"] == "failed" and alert["diagnostic"] == stored.last_error


async def test_a_render_pool_that_cannot_take_the_job_defers_the_delivery_instead_of_failing_it(
    session, sessions, org, smtp, transport
):
    delivery = await queue_delivery(session, org)
    pool = RenderPool(1)
    await pool.aclose()  # e.g. shutting down: the pool's fault, not the invoice's
    worker = Worker(
        WorkerParts(sessions=sessions, transport=transport, identity=IDENTITY, render_pool=pool),
        WorkerTuning(retry=RetryPolicy(max_attempts=3), worker_id="test-worker"),
    )

    assert await worker.drain() == 1

    stored = await reload(sessions, delivery.id)
    assert stored.status == DeliveryStatus.DEFERRED
    assert stored.last_error == "could not render the email: the render pool is closed"
    assert smtp.received == []

"""One contract, two transports: what each SMTP answer means for a send, in memory and over real SMTP."""

from __future__ import annotations

import asyncio

import pytest

from services.email.message import OutgoingEmail, compose_message, make_message_id
from services.email.transport import (
    AmbiguousSendError,
    Envelope,
    PermanentSendError,
    SendError,
    TransientSendError,
)
from tests.harness.mail import Peer

AP, BOSS = "ap@acme.example", "boss@acme.example"
ENVELOPE = Envelope(mail_from="bounces+1-abc@bounces.example.com", recipients=[AP, BOSS], envid="delivery-1")


def _message(n: int = 1) -> bytes:
    return compose_message(
        OutgoingEmail(
            from_addr="invoices@example.com",
            from_name="Example Trading",
            reply_to="accounts@example.com",
            to=[AP],
            cc=[BOSS],
            bcc=[],
            subject=f"Invoice INV-{n:04d}",
            text="Please find the invoice attached.\n",
            html="<p>Please find the invoice attached.</p>",
            attachments=[],
            message_id=make_message_id("example.com"),
            correlation_id=str(n),
        )
    ).as_bytes()


class DataStarted:
    """Records whether the transport announced the DATA command (the worker's `data_started_at`)."""

    def __init__(self) -> None:
        self.called = 0

    async def __call__(self) -> None:
        self.called += 1


async def test_a_successful_send_returns_the_queue_id_and_the_server_gets_the_exact_message(peer: Peer):
    data = _message()
    started = DataStarted()

    result = await peer.transport.send(ENVELOPE, data, before_data=started)

    assert result.accepted == [AP, BOSS]
    assert result.refused == {} and result.deferred == {}
    [received] = peer.received
    assert result.data_reply == f"250 2.0.0 Ok: queued as {received.queue_id}"
    assert received.data == data
    assert received.mail_from == ENVELOPE.mail_from
    assert received.recipients == [AP, BOSS]
    assert received.message["Subject"] == "Invoice INV-0001"
    assert started.called == 1


async def test_a_5xx_for_one_of_two_recipients_fails_only_that_recipient_with_the_servers_reply(peer: Peer):
    peer.script.reply_rcpt[BOSS] = "550 5.1.1 No such user"

    result = await peer.transport.send(ENVELOPE, _message())

    assert result.accepted == [AP]
    assert result.refused == {BOSS: "550 5.1.1 No such user"}
    assert [m.recipients for m in peer.received] == [[AP]]


async def test_a_4xx_for_one_recipient_defers_it_while_the_other_is_sent(peer: Peer):
    peer.script.reply_rcpt[BOSS] = "450 4.2.1 Mailbox busy, try later"

    result = await peer.transport.send(ENVELOPE, _message())

    assert result.accepted == [AP]
    assert result.deferred == {BOSS: "450 4.2.1 Mailbox busy, try later"}
    assert [m.recipients for m in peer.received] == [[AP]]


async def test_a_4xx_for_every_recipient_is_transient_and_nothing_is_sent(peer: Peer):
    peer.script.reply_rcpt.update({AP: "450 4.2.1 try later", BOSS: "550 5.1.1 No such user"})

    with pytest.raises(TransientSendError) as error:
        await peer.transport.send(ENVELOPE, _message())

    assert error.value.deferred == {AP: "450 4.2.1 try later"}
    assert error.value.refused == {BOSS: "550 5.1.1 No such user"}
    assert peer.received == []


async def test_a_5xx_for_every_recipient_is_permanent_and_the_connection_stays_usable(peer: Peer):
    peer.script.reply_rcpt.update({AP: "550 5.1.1 No such user", BOSS: "550 5.1.1 No such user"})
    with pytest.raises(PermanentSendError, match=r"550 5\.1\.1"):
        await peer.transport.send(ENVELOPE, _message())

    peer.script.reply_rcpt.clear()
    result = await peer.transport.send(ENVELOPE, _message(2))

    assert result.accepted == [AP, BOSS]
    assert peer.connections == 1


@pytest.mark.parametrize(
    ("reply", "error"),
    [("451 4.3.0 Queue full", TransientSendError), ("554 5.6.0 Message refused", PermanentSendError)],
)
async def test_a_refusal_of_the_data_is_a_clean_answer_not_an_ambiguous_one(
    peer: Peer, reply: str, error: type[SendError]
):
    peer.script.reply_data = reply
    started = DataStarted()

    with pytest.raises(error) as raised:
        await peer.transport.send(ENVELOPE, _message(), before_data=started)

    assert raised.value.reply == reply
    assert started.called == 1
    assert peer.received == []


async def test_a_421_on_a_pooled_connection_reconnects_once_and_sends(peer: Peer):
    await peer.transport.send(ENVELOPE, _message(1))
    peer.script.reply_mail_once = "421 4.3.2 Idle too long, closing connection"

    result = await peer.transport.send(ENVELOPE, _message(2))

    assert result.accepted == [AP, BOSS]
    assert [m.connection for m in peer.received] == [1, 2]


async def test_a_server_that_keeps_answering_421_is_transient(peer: Peer):
    peer.script.reply_mail = "421 4.3.2 Service shutting down"

    with pytest.raises(TransientSendError, match=r"421 4\.3\.2"):
        await peer.transport.send(ENVELOPE, _message())

    assert peer.received == []
    assert peer.connections == 2  # the first try and exactly one reconnect


@pytest.mark.parametrize("stage", ["MAIL", "RCPT"])
async def test_a_server_that_hangs_before_data_times_out_as_transient(peer: Peer, stage):
    peer.script.hang_on = stage
    started = DataStarted()

    with pytest.raises(TransientSendError):
        await asyncio.wait_for(peer.transport.send(ENVELOPE, _message(), before_data=started), timeout=5)

    assert started.called == 0
    assert peer.received == []


@pytest.mark.parametrize("stage", ["DATA", "END_OF_DATA"])
async def test_a_server_that_hangs_once_data_began_is_ambiguous(peer: Peer, stage):
    peer.script.hang_on = stage
    started = DataStarted()

    with pytest.raises(AmbiguousSendError, match="may have been sent"):
        await asyncio.wait_for(peer.transport.send(ENVELOPE, _message(), before_data=started), timeout=5)

    assert started.called == 1


async def test_a_connection_dropped_after_the_data_was_received_is_ambiguous_and_the_server_has_it(peer: Peer):
    peer.script.drop_after_data_once = True
    data = _message()

    with pytest.raises(AmbiguousSendError):
        await peer.transport.send(ENVELOPE, data)

    assert [m.data for m in peer.received] == [data]
    # The transport recovers: the next send goes out on a new connection.
    await peer.transport.send(ENVELOPE, _message(2))
    assert [m.connection for m in peer.received] == [1, 2]


async def test_dsn_options_are_omitted_when_the_server_does_not_advertise_dsn(peer: Peer):
    await peer.transport.send(ENVELOPE, _message())
    [received] = peer.received
    assert received.mail_options == [] and received.rcpt_options == []


async def test_dsn_options_are_sent_when_the_server_advertises_dsn(peer: Peer):
    peer.script.advertise_dsn = True

    await peer.transport.send(ENVELOPE, _message())

    [received] = peer.received
    assert received.mail_options == ["RET=HDRS", "ENVID=DELIVERY-1"]  # the server upper-cases parameters
    assert received.rcpt_options == ["NOTIFY=FAILURE,DELAY", "NOTIFY=FAILURE,DELAY"]


async def test_the_pool_reuses_one_connection_for_consecutive_messages(peer: Peer):
    for n in range(5):
        await peer.transport.send(ENVELOPE, _message(n))

    assert len(peer.received) == 5
    assert peer.connections == 1


async def test_the_transport_reconnects_after_the_server_dropped_an_idle_connection(peer: Peer):
    await peer.transport.send(ENVELOPE, _message(1))
    peer.drop_connections()
    await asyncio.sleep(0.05)

    await peer.transport.send(ENVELOPE, _message(2))

    assert [m.connection for m in peer.received] == [1, 2]

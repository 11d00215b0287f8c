"""The fake Slack's Socket Mode behaves as Slack does, checked with a bare WebSocket client.

The end-to-end tests (test_slack_socket_mode.py) trust it to redeliver what is not acked and
to refuse the wrong token; if it did not, they could pass while the app lost or repeated work.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import slash_command_body
from bot.sandbox.slack_socket import FakeSocketMode, SocketRequestClient
from tests.harness.slack import ALICE, BOT_TOKEN

APP_TOKEN = "xapp-1-A0INVOICEBOT-1-test-app-token"


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlackApi]:
    api = FakeSlackApi(token=BOT_TOKEN, socket_mode=FakeSocketMode(app_token=APP_TOKEN, ack_timeout=0.3))
    await api.start()
    yield api
    await api.stop()


async def open_url(http: aiohttp.ClientSession, fake_slack: FakeSlackApi, token: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.post(f"{fake_slack.base_url}apps.connections.open", headers=headers) as response:
        answer: dict[str, Any] = await response.json()
        return answer


async def next_json(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message: dict[str, Any] = await ws.receive_json(timeout=5)
    return message


async def connect(http: aiohttp.ClientSession, fake_slack: FakeSlackApi) -> aiohttp.ClientWebSocketResponse:
    """A fresh URL from `apps.connections.open`, connected; the first message is `hello`."""
    ws = await http.ws_connect((await open_url(http, fake_slack, APP_TOKEN))["url"])
    assert (await next_json(ws))["type"] == "hello"
    return ws


def socket_mode_of(fake_slack: FakeSlackApi) -> FakeSocketMode:
    assert fake_slack.socket_mode is not None
    return fake_slack.socket_mode


async def test_only_the_app_level_token_opens_a_connection_and_each_url_is_used_once(fake_slack: FakeSlackApi):
    async with aiohttp.ClientSession() as http:
        assert await open_url(http, fake_slack, BOT_TOKEN) == {"ok": False, "error": "not_allowed_token_type"}
        assert await open_url(http, fake_slack, "xapp-1-someone-else") == {"ok": False, "error": "invalid_auth"}
        answer = await open_url(http, fake_slack, APP_TOKEN)
        assert answer["ok"] is True and answer["url"].startswith("ws://127.0.0.1:")
        async with http.ws_connect(answer["url"]) as ws:
            hello = await next_json(ws)
            assert hello["type"] == "hello" and hello["connection_info"] == {"app_id": "A0INVOICEBOT"}
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await http.ws_connect(answer["url"])


async def test_an_envelope_not_acked_in_time_is_delivered_again_with_retry_attempt_and_the_ack_is_recorded(
    fake_slack: FakeSlackApi,
):
    socket_mode = socket_mode_of(fake_slack)
    async with aiohttp.ClientSession() as http, await connect(http, fake_slack) as ws:
        body = slash_command_body(text="due", user=ALICE, response_url=fake_slack.response_url())
        envelope_id = await socket_mode.command(body)

        first = await next_json(ws)
        assert first["type"] == "slash_commands" and first["envelope_id"] == envelope_id
        assert first["payload"]["command"] == "/invoices" and first["payload"]["text"] == "due"
        assert (first["accepts_response_payload"], first["retry_attempt"]) == (True, 0)
        again = await next_json(ws)  # not acked within ack_timeout
        assert (again["envelope_id"], again["retry_attempt"], again["retry_reason"]) == (envelope_id, 1, "timeout")

        await ws.send_json({"envelope_id": envelope_id, "payload": {"text": "ok"}})
        ack = await socket_mode.wait_acked(envelope_id, within=5)
        assert ack.payload == {"text": "ok"}
        with pytest.raises(TimeoutError):
            await ws.receive_json(timeout=socket_mode.ack_timeout * 3)  # acked: never delivered again
    assert [m["retry_attempt"] for m in socket_mode.delivered(envelope_id)] == [0, 1]


async def test_a_disconnect_message_asks_the_client_to_reconnect_and_what_was_sent_meanwhile_waits(
    fake_slack: FakeSlackApi,
):
    socket_mode = socket_mode_of(fake_slack)
    async with aiohttp.ClientSession() as http:
        async with await connect(http, fake_slack) as ws:
            await socket_mode.drop()
            assert (await next_json(ws))["type"] == "disconnect"
        envelope_id = await socket_mode.event('{"type": "event_callback", "event": {"type": "app_home_opened"}}')
        assert socket_mode.delivered(envelope_id) == []
        async with await connect(http, fake_slack) as ws:
            waiting = await next_json(ws)
            assert (waiting["type"], waiting["envelope_id"], waiting["accepts_response_payload"]) == (
                "events_api",
                envelope_id,
                False,
            )


async def test_the_request_client_turns_a_command_into_an_envelope_and_its_ack_into_the_answer_without_http(
    fake_slack: FakeSlackApi,
):
    client = SocketRequestClient(socket_mode_of(fake_slack))
    assert not [value for value in vars(client).values() if isinstance(value, httpx.AsyncClient)], "nothing to close"
    async with aiohttp.ClientSession() as http:
        ws = await connect(http, fake_slack)
        sent = asyncio.create_task(client.command("due", user=ALICE, response_url="https://hooks.example/1"))
        envelope = await next_json(ws)
        assert envelope["type"] == "slash_commands" and envelope["payload"]["team_id"] == ALICE.team_id
        await ws.send_json({"envelope_id": envelope["envelope_id"], "payload": {"text": "nothing due"}})
        answer = await asyncio.wait_for(sent, timeout=5)
        await ws.close()
    assert answer.status_code == 200 and answer.json() == {"text": "nothing due"}

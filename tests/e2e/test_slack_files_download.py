"""Reading uploaded files from the fake Slack (handlers.slack_files): the bot token goes only to Slack.

The real `slack_sdk` client is pointed at the fake Web API; the downloads are real HTTP requests
to it, and the fake records which token each one carried.
"""

from __future__ import annotations

import httpx
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.slack_api import FakeSlackApi
from handlers.slack_files import SlackFile, describe_files, download_files
from services.errors import FieldErrors
from tests.harness.slack import BOT_TOKEN

PDF = b"%PDF-1.4\n%%EOF\n"


async def test_files_are_described_and_downloaded_with_the_bot_token(fake_slack: FakeSlackApi):
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.base_url, timeout=5)
    file_id = fake_slack.files.upload("terms.pdf", PDF)

    [described] = await describe_files(client, [file_id])
    [fetched] = await download_files(client, [described])

    assert (described.name, described.size) == ("terms.pdf", len(PDF))
    assert (fetched.filename, fetched.content) == ("terms.pdf", PDF)
    assert fake_slack.files.downloads == [(file_id, BOT_TOKEN)]


async def test_the_fake_answers_a_download_without_the_token_with_a_login_page(fake_slack: FakeSlackApi):
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.base_url, timeout=5)
    [described] = await describe_files(client, [fake_slack.files.upload("terms.pdf", PDF)])

    async with httpx.AsyncClient() as http:
        anonymous = await http.get(described.download_url)

    assert anonymous.headers["content-type"].startswith("text/html") and PDF not in anonymous.content
    stranger = AsyncWebClient(token="xoxb-someone-else", base_url=fake_slack.base_url, timeout=5)
    with pytest.raises(FieldErrors, match=r"terms\.pdf could not be downloaded from Slack"):
        await download_files(stranger, [described])


async def test_a_download_url_off_slacks_host_is_never_sent_the_token(fake_slack: FakeSlackApi):
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.base_url, timeout=5)
    elsewhere = SlackFile(id="F1", name="terms.pdf", size=10, download_url="http://127.0.0.2:9/files-pri/F1/terms.pdf")

    with pytest.raises(FieldErrors, match=r"terms\.pdf is not stored by Slack"):
        await download_files(client, [elsewhere])


async def test_a_file_larger_than_slack_said_stops_at_the_limit(fake_slack: FakeSlackApi):
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.base_url, timeout=5)
    big = PDF + b"\0" * (5 * 1024 * 1024)
    [described] = await describe_files(client, [fake_slack.files.upload("big.pdf", big, size=100)])

    with pytest.raises(FieldErrors, match=r"big\.pdf is over 5 MB"):
        await download_files(client, [described])

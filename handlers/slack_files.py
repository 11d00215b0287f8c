"""The files a person added to the review modal, read from Slack with the bot token.

Slack's `file_input` hands over file ids only. `describe_files` asks `files.info` for each
(name, size, private download URL), fast enough to run before the ack so a file over a limit
is refused inline; `download_files` then fetches the bytes with `Authorization: Bearer
<bot token>`, never reading more than the per-file limit, and only from the Slack API's own
host or one of its subdomains (files.slack.com for slack.com; the stand-in's 127.0.0.1 in tests
and the demo), so the token never goes anywhere else. Every failure is a FieldErrors on the
modal's `extra_files` field, with a sentence saying which file and what to do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from services.errors import FieldErrors
from services.sending.extra_files import FIELD, MAX_FILE_BYTES, ExtraFile, megabytes

DOWNLOAD_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class SlackFile:
    """What `files.info` says of one uploaded file."""

    id: str
    name: str
    size: int
    download_url: str


def _refused(sentence: str) -> FieldErrors:
    return FieldErrors({FIELD: sentence})


async def _describe(client: AsyncWebClient, file_id: str) -> SlackFile:
    try:
        answer = await client.files_info(file=file_id)
    except SlackApiError as error:
        reason = error.response.get("error") or "an error"
        raise _refused(
            f"One of the files could not be read from Slack ({reason}); remove it and add it again."
        ) from error
    file = answer.get("file") or {}
    name = str(file.get("name") or file.get("title") or file_id)
    url = str(file.get("url_private_download") or file.get("url_private") or "")
    size = file.get("size")
    if not url or not isinstance(size, int):
        raise _refused(f"Slack did not say where {name} can be downloaded; remove it and add it again.")
    return SlackFile(id=file_id, name=name, size=size, download_url=url)


async def describe_files(client: AsyncWebClient, file_ids: Sequence[str]) -> tuple[SlackFile, ...]:
    """`files.info` for every id, concurrently; FieldErrors when Slack does not know one."""
    return tuple(await asyncio.gather(*(_describe(client, file_id) for file_id in file_ids)))


def _from_slack(client: AsyncWebClient, url: str) -> bool:
    """The download URL is on the Slack API's host or a subdomain of it, with the same scheme."""
    api, target = urlsplit(client.base_url), urlsplit(url)
    api_host, host = (api.hostname or "").lower(), (target.hostname or "").lower()
    return bool(host) and target.scheme == api.scheme and (host == api_host or host.endswith("." + api_host))


async def _download(http: httpx.AsyncClient, client: AsyncWebClient, file: SlackFile) -> ExtraFile:
    if not _from_slack(client, file.download_url):
        raise _refused(f"{file.name} is not stored by Slack, so it is not downloaded; attach it from your computer.")
    chunks: list[bytes] = []
    read = 0
    try:
        async with http.stream("GET", file.download_url, headers={"Authorization": f"Bearer {client.token}"}) as got:
            if got.status_code != 200 or got.headers.get("content-type", "").startswith("text/html"):
                raise _refused(f"{file.name} could not be downloaded from Slack; remove it and add it again.")
            async for chunk in got.aiter_bytes():
                read += len(chunk)
                if read > MAX_FILE_BYTES:  # Slack's size was wrong: stop reading, say the limit
                    raise _refused(f"{file.name} is over {megabytes(MAX_FILE_BYTES)}; each file may be at most that.")
                chunks.append(chunk)
    except httpx.HTTPError as error:
        raise _refused(
            f"{file.name} could not be downloaded from Slack ({type(error).__name__}); try again."
        ) from error
    return ExtraFile(filename=file.name, content=b"".join(chunks))


async def download_files(client: AsyncWebClient, files: Sequence[SlackFile]) -> tuple[ExtraFile, ...]:
    """The bytes of each file, in the order picked (the caller checked the sizes Slack gave)."""
    if not files:
        return ()
    async with httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT_SECONDS, follow_redirects=False) as http:
        return tuple(await asyncio.gather(*(_download(http, client, file) for file in files)))

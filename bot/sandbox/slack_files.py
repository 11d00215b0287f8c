"""Files uploaded to the fake Slack: `files.info` and the private download URL, as Slack serves them.

A test (or the demo) calls `upload(...)` to stand for a person dropping a file into the review
modal's `file_input`, then submits the file id. The download URL points at the stand-in on
127.0.0.1 and, like Slack's, answers only with `Authorization: Bearer <bot token>`: without it,
a login page (HTML), which is what Slack sends to an unauthenticated client.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class UploadedFile:
    id: str
    name: str
    content: bytes
    mimetype: str
    size: int  # what files.info reports (a test may make Slack's word differ from the bytes)


@dataclass
class FakeSlackFiles:
    token: str | None
    files: dict[str, UploadedFile] = field(default_factory=dict)
    downloads: list[tuple[str, str | None]] = field(default_factory=list)  # (file id, bearer token) per request

    def upload(
        self, name: str, content: bytes, *, mimetype: str = "application/octet-stream", size: int | None = None
    ) -> str:
        file_id = "F" + secrets.token_hex(5).upper()
        self.files[file_id] = UploadedFile(file_id, name, content, mimetype, len(content) if size is None else size)
        return file_id

    def attach(self, app: web.Application) -> None:
        app.router.add_get("/files-pri/{file_id}/{name}", self._download)

    def info(self, args: dict[str, Any], base_url: Callable[[], str]) -> dict[str, Any]:
        file = self.files.get(str(args.get("file", "")))
        if file is None:
            return {"ok": False, "error": "file_not_found"}
        url = f"{base_url().removesuffix('/api/')}/files-pri/{file.id}/{file.name}"
        return {
            "file": {
                "id": file.id,
                "name": file.name,
                "title": file.name,
                "mimetype": file.mimetype,
                "size": file.size,
                "url_private": url,
                "url_private_download": url,
            }
        }

    async def _download(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
        file_id = request.match_info["file_id"]
        self.downloads.append((file_id, token))
        if self.token is not None and token != self.token:
            return web.Response(text="<html>Sign in to Slack</html>", content_type="text/html")
        file = self.files.get(file_id)
        if file is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=file.content, content_type="application/octet-stream")

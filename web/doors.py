"""What every door of the web app does before anything else: bounded bodies, no tracebacks.

The web app faces the internet (Slack, the providers, customers' links), so a stranger
chooses the body size and the shape of what we parse. `read_bounded_body` refuses a body
past the endpoint's limit from its `Content-Length`, or while streaming it, so a 100 MB
body is never held whole. `ErrorReferenceMiddleware` is the last word on an unexpected
exception: the caller gets `500 error ref 7f3a…` and the log one line with the same
reference (`services.errors.log_unexpected`), never a traceback in either.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.errors import log_unexpected

MIB = 1024 * 1024


class BodyTooLarge(Exception):
    """The request body is over the endpoint's limit; nothing of it was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body is larger than {limit} bytes.")
        self.limit = limit


async def read_bounded_body(request: Request, limit: int) -> bytes:
    """The raw body (signatures cover the exact bytes); BodyTooLarge past `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(limit)
    return bytes(body)


def too_large(error: BodyTooLarge) -> Response:
    return PlainTextResponse(str(error), status_code=413)


class ErrorReferenceMiddleware:
    """Turn an exception escaping the app into `500 error ref <id>` and one log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            reference = log_unexpected(error, method=scope.get("method", "?"), path=scope.get("path", "?"))
            if not started:
                response = PlainTextResponse(f"Internal error, error ref {reference}", status_code=500)
                await response(scope, receive, send)

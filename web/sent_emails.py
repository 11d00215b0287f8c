"""The staff's download of an email as sent: `GET /e/{token}.eml`, a short-lived signed link.

The token (services.tracking.links.signed_token, purpose "email-as-sent") names the delivery
and its expiry, signed with the installation's secret; `/invoices show` → *View email as sent*
hands it to the people who may send. A forged, tampered or expired token — or an email purged
since — gets a 403 page and nothing else; a genuine one gets the exact bytes the mail server
received, as `message/rfc822`.
"""

from __future__ import annotations

import html
import logging
import secrets

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from services.db.models import utcnow
from services.errors import NotFound
from services.sending.sent_messages import downloaded_email
from services.tracking.links import LinkWithdrawn
from web.invoice_pages import SECURITY_HEADERS, SERVER_ERROR, Clock
from web.view_recorder import SessionOpener

log = logging.getLogger("invoicebot.sent_emails")

REFUSED = "This download link is not valid or has expired. Ask for a new one in Slack (/invoices show)."
MAX_TOKEN_CHARS = 100


def refused_page() -> str:
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Link not valid</title>"
        f"<h1>Link not valid</h1><p>{html.escape(REFUSED)}</p></html>"
    )


class SentEmailDownloads:
    def __init__(self, *, sessions: SessionOpener, secret: bytes, clock: Clock = utcnow) -> None:
        self.sessions = sessions
        self.secret = secret
        self.clock = clock

    async def download(self, request: Request) -> Response:
        token = str(request.path_params["token"])[:MAX_TOKEN_CHARS]
        try:
            async with self.sessions() as session:
                name, data = await downloaded_email(session, token=token, now=self.clock(), secret=self.secret)
        except (NotFound, LinkWithdrawn):
            return HTMLResponse(refused_page(), status_code=403, headers=SECURITY_HEADERS)
        except Exception:
            reference = secrets.token_hex(4)
            log.exception("email download failed (reference %s)", reference)
            message = SERVER_ERROR.format(reference=reference)
            return PlainTextResponse(message, status_code=500, headers=SECURITY_HEADERS)
        headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
        return Response(data, media_type="message/rfc822", headers=headers)


def sent_email_routes(downloads: SentEmailDownloads) -> list[BaseRoute]:
    return [Route("/e/{token}.eml", downloads.download, methods=["GET"])]

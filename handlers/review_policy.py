"""What the send listeners need beyond the workplace: the send context and the send identity.

`bot/` builds one `SendPolicy` (and its `SendContext`) from settings at startup, and the
app's middleware puts it into every listener's context as `send_policy` (handlers never
read settings themselves). The VERP secret travels inside the send context only so the
service can sign tokens: it is never shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.authorization import ApprovalRules
from services.sending.context import SendContext


@dataclass(frozen=True)
class SendPolicy:
    send: SendContext  # rules, Message-ID domain, VERP secret, clock: what every use case that sends takes
    public_url: str  # base of the invoice links, e.g. https://invoices.example.com
    approvers_channel: str | None = None
    preview_link_minutes: int = 15  # how long a *Preview PDF* link works

    @property
    def rules(self) -> ApprovalRules:
        return self.send.rules

    def public_link(self, path: str) -> str:
        """`path` (e.g. a preview link's `/p/…/pdf`) under the public URL."""
        return f"{self.public_url.rstrip('/')}{path}"

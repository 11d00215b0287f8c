"""What the send listeners need beyond the workplace: the approval rules and the send identity.

`bot/` builds one `SendPolicy` from settings and the app's middleware puts it into every
listener's context as `send_policy` (handlers never read settings themselves).
The VERP secret travels here only so the service can sign tokens: it is never shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from services.approvals import ApprovalRules


@dataclass(frozen=True)
class SendPolicy:
    rules: ApprovalRules
    public_url: str  # base of the invoice links, e.g. https://invoices.example.com
    message_id_domain: str
    verp_secret: Callable[[], bytes] = field(repr=False)  # read when a send is asked for, not before
    approvers_channel: str | None = None
    preview_link_minutes: int = 15  # how long a *Preview PDF* link works

    def public_link(self, path: str) -> str:
        """`path` (e.g. a preview link's `/p/…/pdf`) under the public URL."""
        return f"{self.public_url.rstrip('/')}{path}"

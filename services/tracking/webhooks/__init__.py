"""Email providers' delivery webhooks: Postmark, SendGrid, Mailgun and Amazon SES (via SNS).

Each provider module has `verify(...)` (raises `WebhookAuthError` for a forged, replayed or
unauthenticated request) and `parse(body)` (raises `WebhookFormatError` for a body that is
not the provider's documented shape) returning `IncomingEvent`s: one event model for every
source, recorded by `services.tracking.events.record_delivery_event`.
"""

from services.tracking.webhooks.errors import WebhookAuthError, WebhookFormatError

__all__ = ["WebhookAuthError", "WebhookFormatError"]

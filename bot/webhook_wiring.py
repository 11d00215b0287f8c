"""Which provider webhooks this installation accepts: one `WebhookProvider` per configured secret.

A provider without its secret is left out, so `/webhooks/<it>` answers 404 as if it did not exist.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.config import Settings
from services.tracking.webhooks import sns
from services.tracking.webhooks.keys import load_sendgrid_public_key
from web.webhooks.providers import (
    MailgunProvider,
    PostmarkProvider,
    SendGridProvider,
    SesProvider,
    WebhookProvider,
    fetch_from_aws,
)


def webhook_providers(
    settings: Settings,
    *,
    sns_fetch: sns.Fetch = fetch_from_aws,
    sns_trusts_url: Callable[[str], bool] = sns.is_aws_sns_url,
) -> dict[str, WebhookProvider]:
    """The providers by path name (`/webhooks/postmark`…). Tests inject `sns_fetch`/`sns_trusts_url`."""
    providers: dict[str, WebhookProvider] = {}
    if settings.postmark_webhook_user and settings.postmark_webhook_password is not None:
        providers["postmark"] = PostmarkProvider(
            user=settings.postmark_webhook_user, password=settings.postmark_webhook_password.get_secret_value()
        )
    if settings.sendgrid_webhook_public_key:
        providers["sendgrid"] = SendGridProvider(
            public_key=load_sendgrid_public_key(settings.sendgrid_webhook_public_key)
        )
    if settings.mailgun_signing_key is not None:
        providers["mailgun"] = MailgunProvider(signing_key=settings.mailgun_signing_key.get_secret_value())
    topics = frozenset(settings.ses_topic_arns)
    if topics:
        verifier = sns.SnsVerifier(fetch=sns_fetch, topic_arns=topics, trusts_url=sns_trusts_url)
        providers["ses"] = SesProvider(verifier=verifier)
    return providers

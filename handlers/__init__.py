"""The Slack surface: parse payloads, call one service, build blocks, answer."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from handlers import (
    actions,
    alerts,
    approvals,
    bulk,
    cancel,
    commands,
    email_texts,
    history,
    home,
    links,
    payments,
    reminders,
    review,
    search,
    sent_email,
    settings,
    window_preview,
)


def register(app: AsyncApp) -> None:
    """Attach every listener of the Slack surface to `app`."""
    settings.register(app)  # first: it takes `/invoices settings` before commands.py's listener
    payments.register(app)  # before commands.py too: it takes `/invoices paid`
    reminders.register(app)  # and `/invoices customer`
    commands.register(app)
    actions.register(app)
    review.register(app)
    bulk.register(app)
    approvals.register(app)
    alerts.register(app)
    home.register(app)
    links.register(app)
    history.register(app)
    sent_email.register(app)
    cancel.register(app)
    search.register(app)
    email_texts.register(app)
    window_preview.register(app)

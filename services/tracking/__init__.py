"""The tracking context: what happened to an email after it left, told truthfully.

Every event (SMTP reply, DSN, provider webhook, pixel, link view) is an `event_types`
`IncomingEvent` filed through one door, `events` (with `filing`'s set-based machinery and
`filer`'s group commit), ordered by `precedence` and reflected in the delivery's `status`.
The parsers — `dsn`, `bounce_report`, `bounce_fallback`, `bounces` and `webhooks/` — are pure
and load no database code (contract in pyproject.toml). Also here: `suppression`,
invoice links and their views (`links`, `page_views`, `visitors`), following an invoice's
emails (`follow`) and alerts (`alert_resolution`, `alert_actions`: fix the address and resend).
"""

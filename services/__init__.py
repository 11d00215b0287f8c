"""The domain of invoicebot: plain Python over a database session. Knows nothing of Slack.

Four bounded contexts over a shared kernel (docs/architecture.md, "Where things live"):

- `invoicing/` — the invoice and its customer: entry, states, totals, the organisation;
- `importing/` — a CSV or JSON file in, invoices and customers out, all or nothing;
- `sending/`   — from a due invoice to an email handed to SMTP: review, checks, approval,
  the delivery request and the worker's pipeline;
- `tracking/`  — what happened to an email after it left: events and their precedence,
  bounces and DSNs, provider webhooks, suppression, link views, alerts.

The shared kernel stays at this level: `db/` (the models, one metadata), `email/`,
`documents/` (PDF, UBL), `notifications`, `audit`, `errors`, `authorization`, `clock`,
`formatting`, `languages`, `field_rules`, `money`, `postal_address`, `safe_json`, `health`.
The contracts in pyproject.toml keep the arrows honest: the kernel imports no context,
invoicing imports no other context, tracking's parsers load no database code.
"""

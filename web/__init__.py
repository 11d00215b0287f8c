"""The HTTP surface beyond Slack: provider webhooks, the customer's invoice link pages and open
pixel, `/metrics` and `/healthz`.

Like `handlers/` for Slack, these endpoints parse a request, call services and answer; they are
handed everything they need (sessions, secrets, policies) by the composition root
(bot/bootstrap.py) and never read settings. They import neither `bot` nor `handlers`
(import-linter: `handlers | web` are independent siblings between `bot` and `services`).
"""

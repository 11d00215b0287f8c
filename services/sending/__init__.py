"""The sending context: from a due invoice to an email handed to SMTP, exactly once.

The request side: `due` (what must be sent, each with a verdict in `readiness`'s words),
`review` (the form and its validation), `checks` (what must hold before a request),
`approvals` (four eyes), `requests` (a delivery row is the send job) and `bulk`; each takes
the `context` (SendContext: rules, Message-ID domain, VERP secret, clock) whole.
`transitions` is the one table of a delivery's status moves and what each move owes,
read by both sides and by tracking's event filing.
The worker side: `queue` (claim, stale recovery), `pipeline` (render, SMTP, outcome),
`render_pool`, `writer` (group commit), `outcomes` and `ubl_checks`. Importing and
tracking never import the worker side (contract in pyproject.toml).
"""

"""The invoicing context: the invoice and its customer, from entry to paid or void.

Owns invoices (`invoices`: validate, mark paid/sent/void, recipients), their entry and
lines (`entry`), the one state table of an invoice (`states`), totals and tax (`totals`),
customers (`customers`), the organisation and its locale (`organisations`) and the demo
data (`seed`). It imports no other context except the two edges named in pyproject.toml.
"""

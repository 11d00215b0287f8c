"""Block Kit builders: pure functions from plain data to Slack blocks, one module per surface.

`elements` holds the shared pieces (escaping, sections, buttons, the due list) that every
builder uses; `review`, `approvals`, `bulk`, `deliveries`, `status` and `fix` build one
surface each. They import no database, SMTP or PDF library.
"""

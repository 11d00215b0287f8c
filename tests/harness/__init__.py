"""What tests share: real servers, signed requests, seeding and waiting, in one place.

Test modules import from here, never from each other (tests/unit/test_tests_import_no_tests.py).
The fixtures (`fake_slack`, the e2e `settings`/`runtime`/`web_url`/`slack`, `smtp`/`transport`,
`clock`/`notifier`, the healing tests' `served`) are registered for the whole suite by
`tests/conftest.py`; a module overrides one by defining its own.

Servers and clients
- `slack`      — who clicks, the fake Slack Web API and the real app's fixtures, `settings_with`, Slack's signature.
- `mail`       — the scripted SMTP server, the SMTP client (`@pytest.mark.smtp_client(...)`), the contract `peer`,
                 the Message-IDs a server received.
- `servers`    — uvicorn on 127.0.0.1, port 0: start, stop, serve a bare app.
- `web`        — the customer-facing pages: their secret, a browser's User-Agent, an invoice sent an hour ago.
- `providers`  — webhook providers' keys and signatures, the AWS stand-in.
- `canary`     — a server that must never be called.
- `healing`    — the healing tests' thresholds, the web app their worker reports to (`served`), a held lock.
- `processes`  — background work always stopped: `looping` (a loop in a task), `stopped`, `invoicebot worker`.
- `mailstack`, `postfix` — real Postfix and Dovecot, and sending through them.
- `cli`, `terminal` — the console script in a subprocess; the demo in tmux.

Data and actions
- `database`   — which database the suite runs on; `count_rows`.
- `seeding`    — invoices on the *due* list and for review.
- `requesting` — `request_send`: the review service with fixed inputs.
- `sending`    — the worker and its sender; queue (one or many), reload, bounce, a failed send.
- `events`     — a delivery the server accepted and an event about it.
- `importing`  — import files as tests write them.
- `documents`  — invoice documents for the renderers.
- `notifying`  — a clock that can jump ahead, the notifier fixture.

Reading and waiting
- `reading`    — what a person reads in blocks, modals and channels.
- `modals`     — clicking through modals and following a "⏳" ack to the view the work left.
- `waiting`    — `until` / `reached`: poll, bounded in count and time.
"""

import pytest

# The helpers assert (a modal answered 200…): rewritten as test modules are, their failures read as well.
HELPERS = (
    "canary",
    "modals",
    "postfix",
    "processes",
    "providers",
    "reading",
    "requesting",
    "seeding",
    "sending",
    "servers",
    "waiting",
)
pytest.register_assert_rewrite(*(f"tests.harness.{name}" for name in HELPERS))

"""What tests share: real servers, signed requests, seeding and waiting, in one place.

Test modules import from here, never from each other. The fixtures (`fake_slack`, the e2e
`settings`/`container`/`web_url`/`slack`, `smtp`/`transport`, `clock`/`notifier`) are registered
for the whole suite by `tests/conftest.py`; a module overrides one by defining its own.

- `waiting`   — `until`: poll a condition, bounded in count and time.
- `servers`   — start uvicorn on 127.0.0.1 port 0 and stop it; `Canary` (a server that must not be called).
- `slack`     — Slack identities and secrets, the fake Slack Web API and the real app's fixtures,
  `slack_settings`/`settings_with`, Slack's signature over raw bytes.
- `reading`   — what a person reads in blocks, modals and channels.
- `modals`    — clicking through: open *Review & send*, submit a modal, the *Send all* confirmation, the fix modal.
- `mail`      — the scripted SMTP server and the SMTP client fixtures (`@pytest.mark.smtp_client(...)`).
- `sending`   — the worker, its sender identity and VERP secret; queue a delivery, reload it, post an event.
- `notifying` — a clock that can jump ahead and the notifier fixture.
- `seeding`   — invoices on the *due* list and for review.
"""

import pytest

# The helpers assert (a modal answered 200…): rewritten as test modules are, their failures read as well.
HELPERS = (
    "canary",
    "modals",
    "postfix",
    "providers",
    "reading",
    "requesting",
    "seeding",
    "sending",
    "servers",
    "waiting",
)
pytest.register_assert_rewrite(*(f"tests.harness.{name}" for name in HELPERS))

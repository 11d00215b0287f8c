"""Handlers never own a transaction: services do (services.unit_of_work, services.use_cases).

A handler that commits, rolls back or opens a unit of work by hand would split a use case
across the Slack surface and the domain again; this scan keeps the rule from coming back.
"""

from __future__ import annotations

import re
from pathlib import Path

import handlers

HANDLERS = Path(handlers.__file__).parent
TRANSACTION_CALL = re.compile(r"\.(commit|rollback|begin|begin_nested)\(")


def test_no_handler_commits_or_rolls_back() -> None:
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(HANDLERS.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if TRANSACTION_CALL.search(line)
    ]
    assert found == [], "handlers must call a use case instead:\n" + "\n".join(found)


def test_the_scan_sees_the_handlers() -> None:
    assert (HANDLERS / "review.py").exists() and len(list(HANDLERS.rglob("*.py"))) > 10

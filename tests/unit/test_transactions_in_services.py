"""Only services own a transaction, and only the unit of work writes audit entries.

A handler, a loop, a CLI command or a web endpoint that commits, rolls back or begins a
transaction by hand would split a use case across a surface and the domain again: they call
a use case (services.use_cases) or a service function that opens and commits its own
transaction. And an audit entry follows from the change that owes it: a use case owes it to
its unit of work, or the one function that changes an aggregate writes it with the change,
both through services.unit_of_work.write_owed — never `record_audit` by hand at a call site.
These scans keep both rules from coming back.
"""

from __future__ import annotations

import re
from pathlib import Path

import bot
import handlers
import services
import web

SURFACES = {
    "bot": Path(bot.__file__).parent,
    "handlers": Path(handlers.__file__).parent,
    "web": Path(web.__file__).parent,
}
SERVICES = Path(services.__file__).parent
TRANSACTION_CALL = re.compile(r"\.(commit|rollback|begin|begin_nested)\(")
AUDIT_CALL = re.compile(r"(?<!def )\brecord_audit\(")
AUDIT_WRITER = SERVICES / "unit_of_work.py"  # write_owed: the one caller of record_audit


def lines_matching(roots: list[Path], pattern: re.Pattern[str]) -> list[tuple[Path, str]]:
    return [
        (path, f"{path.relative_to(root.parent)}:{number}: {line.strip()}")
        for root in roots
        for path in sorted(root.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line)
    ]


def test_no_surface_commits_rolls_back_or_begins_a_transaction() -> None:
    found = [where for _, where in lines_matching(list(SURFACES.values()), TRANSACTION_CALL)]
    assert found == [], "call a use case or a service function that owns its transaction instead:\n" + "\n".join(found)


def test_only_the_unit_of_work_writes_audit_entries() -> None:
    roots = [SERVICES, *SURFACES.values()]
    found = [where for path, where in lines_matching(roots, AUDIT_CALL) if path != AUDIT_WRITER]
    assert found == [], "owe the entry (unit.owe_audit) or write it with its change (write_owed):\n" + "\n".join(found)


def test_the_scans_see_the_code_they_guard() -> None:
    assert (SURFACES["handlers"] / "review.py").exists() and len(list(SURFACES["handlers"].rglob("*.py"))) > 10
    assert (SURFACES["bot"] / "notifier.py").exists() and (SURFACES["bot"] / "sandbox" / "demo.py").exists()
    assert (SURFACES["web"] / "view_recorder.py").exists()
    assert [where for _, where in lines_matching([SERVICES], AUDIT_CALL) if "unit_of_work.py" in where]
    assert lines_matching([SERVICES], TRANSACTION_CALL), "the services do commit: the pattern must find them"

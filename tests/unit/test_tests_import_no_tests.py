"""No test module imports another test module (or a conftest): what tests share lives in tests/harness/.

Importing `tests.integration.test_worker_heals` from another file runs that module again under a
second name, drags its fixtures and `pytestmark` along by accident, and ties two test files
together so that renaming a test breaks an unrelated one. Helpers and shared fixtures belong in
`tests/harness/` (fixtures registered by `tests/conftest.py`). This walks every module under
tests/ and benchmarks/ and fails on any import of a `test_*` module or a `conftest`, absolute
or relative.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("tests", "benchmarks")


def is_test_module(name: str) -> bool:
    """`tests.integration.test_worker_heals`, `test_render_pool`, `conftest`: a module pytest collects or loads."""
    return any(part.startswith("test_") or part == "conftest" for part in name.split("."))


def imported_test_modules(tree: ast.Module) -> list[str]:
    """The test modules `tree` imports: `import a.test_b`, `from a.test_b import c`, `from a import test_b`."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if is_test_module(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if is_test_module(module):
                found.append(module)
            else:
                found += [f"{module}.{alias.name}" for alias in node.names if is_test_module(alias.name)]
    return found


def imports_of_test_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [f"{path.relative_to(ROOT)}: imports {name}" for name in imported_test_modules(tree)]


def test_no_test_module_imports_another_test_module() -> None:
    found = [
        finding
        for folder in SCANNED
        for path in sorted((ROOT / folder).rglob("*.py"))
        for finding in imports_of_test_modules(path)
    ]

    assert found == [], "move what is shared into tests/harness/ and import it from there:\n" + "\n".join(found)


def test_the_check_sees_every_form_of_importing_a_test_module_and_lets_the_harness_pass() -> None:
    source = """
import tests.integration.test_worker_heals
from tests.services.test_render_pool import _wait_gone
from tests.integration import test_worker_heals as heals
from .test_worker_processes import queue_many
from tests import conftest
from tests.harness.processes import wait_gone
from tests import factories
from tests.fixtures.dsn import load_dsn
def inside():
    from tests.e2e.test_slack_ack import helper
"""

    assert imported_test_modules(ast.parse(source)) == [
        "tests.integration.test_worker_heals",
        "tests.services.test_render_pool",
        "tests.integration.test_worker_heals",
        ".test_worker_processes",
        "tests.conftest",
        "tests.e2e.test_slack_ack",
    ]

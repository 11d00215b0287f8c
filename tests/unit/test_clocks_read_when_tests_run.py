"""No test reads a clock when it is imported or collected, only when it runs.

A timestamp computed at collection goes stale while the rest of the suite is collected or run:
"six minutes in the future" at import was inside Slack's five-minute window by the time the
test ran on a busy machine. This walks every module under tests/ and benchmarks/ and fails on a
clock read in what runs at import: module and class bodies, decorators (`parametrize` values)
and default argument values. Function and lambda bodies run later, so they are not looked at.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("tests", "benchmarks")
CLOCK_METHODS = frozenset({"now", "utcnow", "today", "time", "time_ns", "monotonic", "perf_counter"})
CLOCK_FUNCTIONS = frozenset({"utcnow", "now", "monotonic", "perf_counter"})


def reads_a_clock(call: ast.Call) -> bool:
    """`datetime.now()`, `date.today()`, `time.time()`, `utcnow()`…: a call that answers the current time."""
    function = call.func
    if isinstance(function, ast.Attribute):
        return function.attr in CLOCK_METHODS and not (function.attr == "time" and call.args)
    if isinstance(function, ast.Name):
        return function.id in CLOCK_FUNCTIONS or (function.id == "time" and not call.args and not call.keywords)
    return False


def run_at_import(node: ast.AST) -> Iterator[ast.AST]:
    """Every node under `node` that is evaluated when its module is imported."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        yield from _evaluated_now([*node.decorator_list, *node.args.defaults, *node.args.kw_defaults])
        return
    if isinstance(node, ast.Lambda):
        yield from _evaluated_now([*node.args.defaults, *node.args.kw_defaults])
        return
    yield node
    for child in ast.iter_child_nodes(node):
        yield from run_at_import(child)


def _evaluated_now(expressions: list[ast.expr | None]) -> Iterator[ast.AST]:
    for expression in expressions:
        if expression is not None:
            yield from run_at_import(expression)


def clock_reads_at_import(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}"
        for node in run_at_import(tree)
        if isinstance(node, ast.Call) and reads_a_clock(node)
    ]


def test_no_module_reads_a_clock_at_import_or_collection() -> None:
    found = [
        finding
        for folder in SCANNED
        for path in sorted((ROOT / folder).rglob("*.py"))
        for finding in clock_reads_at_import(path)
    ]

    assert found == [], "read the clock inside the test (or a fixture), not at import:\n" + "\n".join(found)


def test_the_check_sees_a_clock_in_a_decorator_a_default_and_a_class_body_but_not_in_a_test_body() -> None:
    source = """
import time
from datetime import datetime
STAMP = time.time()
class Case:
    when = datetime.now()
@pytest.mark.parametrize("at", [utcnow()])
def test_a(at, later=datetime.now(UTC)):
    inside = time.time()
    run = lambda: utcnow()
"""
    tree = ast.parse(source)
    reads = [ast.unparse(n) for n in run_at_import(tree) if isinstance(n, ast.Call) and reads_a_clock(n)]

    assert reads == ["time.time()", "datetime.now()", "utcnow()", "datetime.now(UTC)"]

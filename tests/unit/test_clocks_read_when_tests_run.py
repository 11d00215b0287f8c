"""No test reads a clock when it is imported or collected, only when it runs.

A timestamp computed at collection goes stale while the rest of the suite is collected or run:
"six minutes in the future" at import was inside Slack's five-minute window by the time the
test ran on a busy machine. This walks every module under tests/ and benchmarks/ and fails on a
clock read in what runs at import or collection: module and class bodies, decorators
(`parametrize` values, fixture `params`), default argument values, and the bodies of the pytest
hooks that run while the suite is collected (`pytest_generate_tests`, …). Other function and
lambda bodies run later, so they are not looked at.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("tests", "benchmarks")
CLOCK_METHODS = frozenset(
    {"now", "utcnow", "today", "time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns"}
)
CLOCK_FUNCTIONS = frozenset({"utcnow", "now", "monotonic", "perf_counter"})
# `time.localtime()`, `time.strftime("%Y")`: the time module's readers that take the current time when
# given none (with a timestamp or struct_time they read no clock).
TIME_MODULE_READERS = {"localtime": 0, "gmtime": 0, "ctime": 0, "asctime": 0, "strftime": 1}
# Hooks pytest calls while it configures and collects the suite: their bodies run before any test.
COLLECTION_HOOKS = frozenset(
    {
        "pytest_configure",
        "pytest_generate_tests",
        "pytest_collect_file",
        "pytest_pycollect_makemodule",
        "pytest_pycollect_makeitem",
        "pytest_collection_modifyitems",
        "pytest_itemcollected",
        "pytest_make_parametrize_id",
    }
)


def reads_a_clock(call: ast.Call) -> bool:
    """`datetime.now()`, `date.today()`, `time.time()`, `utcnow()`…: a call that answers the current time."""
    function = call.func
    if isinstance(function, ast.Attribute):
        if (
            isinstance(function.value, ast.Name)
            and function.value.id == "time"
            and function.attr in TIME_MODULE_READERS
        ):
            return len(call.args) <= TIME_MODULE_READERS[function.attr]
        return function.attr in CLOCK_METHODS and not (function.attr == "time" and call.args)
    if isinstance(function, ast.Name):
        return function.id in CLOCK_FUNCTIONS or (function.id == "time" and not call.args and not call.keywords)
    return False


def run_at_import(node: ast.AST) -> Iterator[ast.AST]:
    """Every node under `node` that is evaluated when its module is imported."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        yield from _evaluated_now([*node.decorator_list, *node.args.defaults, *node.args.kw_defaults])
        if node.name in COLLECTION_HOOKS:
            for statement in node.body:
                yield from run_at_import(statement)
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


def test_the_check_sees_parametrize_values_fixture_params_lambda_defaults_and_collection_hooks() -> None:
    source = """
import time
from datetime import date, datetime
@pytest.mark.parametrize("day", [pytest.param(date.today(), id="today"), datetime.utcnow()])
def test_b(day): ...
@pytest.fixture(params=[time.monotonic_ns()])
def stamp(request): return time.perf_counter()
YEAR = time.strftime("%Y")
LOCAL = time.localtime()
FIXED = (time.strftime("%Y", time.gmtime(0)), time.localtime(0))
key = lambda at=time.time_ns(): at
def pytest_generate_tests(metafunc):
    metafunc.parametrize("at", [datetime.now()])
def pytest_runtest_setup(item):
    item.started = time.time()
"""
    tree = ast.parse(source)
    reads = [ast.unparse(n) for n in run_at_import(tree) if isinstance(n, ast.Call) and reads_a_clock(n)]

    assert reads == [
        "date.today()",
        "datetime.utcnow()",
        "time.monotonic_ns()",
        "time.strftime('%Y')",
        "time.localtime()",
        "time.time_ns()",
        "datetime.now()",
    ]

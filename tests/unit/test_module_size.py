"""No product module is over 400 lines (issue 12's house rule): a module that grows past it holds
two jobs, and the second one wants a name of its own. Tests and benchmarks are not counted."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("bot", "handlers", "services", "web", "migrations")
LIMIT = 400


def test_every_product_module_fits_in_four_hundred_lines() -> None:
    too_long = {
        str(path.relative_to(ROOT)): count
        for package in PRODUCT
        for path in sorted((ROOT / package).rglob("*.py"))
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > LIMIT
    }

    assert too_long == {}, f"split these modules (over {LIMIT} lines): {too_long}"

"""The real `invoicebot` console script, run in a subprocess against the test database."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

INVOICEBOT = str(Path(sys.executable).with_name("invoicebot"))


@pytest.fixture
def run(database_url: str, engine, tmp_path: Path):
    """`run("seed", "--today", …)` → CompletedProcess; `engine` empties PostgreSQL first."""

    def invoke(*args: str, database: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {
            key: value for key, value in os.environ.items() if not key.startswith(("INVOICEBOT_", "SLACK_", "DATABASE"))
        }
        env.update({"DATABASE_URL": database or database_url, "COLUMNS": "200", "NO_COLOR": "1"})
        return subprocess.run(
            [INVOICEBOT, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
        )

    return invoke


def test_upgrade_seed_and_due_listing(run):
    assert run("db", "upgrade").returncode == 0
    seeded = run("seed", "--today", "2026-11-23")
    assert seeded.returncode == 0, seeded.stderr
    assert "30 invoices" in seeded.stdout
    assert "0 invoices (30 already there)" in run("seed", "--today", "2026-11-23").stdout

    due = run("invoices", "due", "--today", "2026-11-23", "--page-size", "50")

    assert due.returncode == 0, due.stderr
    assert "DEMO-0001" in due.stdout and "DEMO-0011" in due.stdout
    assert "DEMO-0019" not in due.stdout  # sent
    assert "the customer has no recipient email" in due.stdout


def test_import_of_a_bad_file_prints_every_problem_with_its_line_and_exits_1(run, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "invoice_number,customer_ref,customer_name,issue_date,due_date,currency,description,quantity,"
        "unit_price,tax_rate,invoice_total\n"
        "A-1,ACME,Acme,2026-11-01,2026-12-01,EUR,Work,1,100,20,120\n"
        "A-2,ACME,Acme,2026-11-31,2026-12-01,EUR,Work,1,100,20,120\n"
        "A-3,ACME,Acme,2026-11-01,2026-12-01,EUR,Work,1,100,20,100\n"
    )

    result = run("import", str(path))

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "line 3: issue_date '2026-11-31' is not a date (write it as YYYY-MM-DD, e.g. 2026-11-23)"
    assert lines[1].startswith("line 4: invoice A-3: the lines add up to €120.00")
    assert lines[2] == "error: 2 problem(s) found; nothing was imported"
    assert run("invoices", "show", "A-1").returncode == 1


def test_import_of_a_good_file_prints_the_summary_and_the_invoice_can_be_shown(run):
    examples = Path(__file__).resolve().parent.parent / "examples"
    result = run("import", str(examples / "invoices.csv"))
    assert result.returncode == 0, result.stderr
    assert "3 invoices (3 created, 0 updated, 0 unchanged)" in result.stdout

    shown = run("invoices", "show", "EX-1002")

    assert shown.returncode == 0, shown.stderr
    for text in (
        "Invoice EX-1002 — validated",
        "Müller Maschinenbau GmbH (MUELLER)",
        "buchhaltung@mueller-maschinenbau.example, rechnungen@mueller-maschinenbau.example",
        "Cc:         einkauf@mueller-maschinenbau.example",
        "Fachbücher",
        "Tax 19 % on €792.50: €150.58",
        "Total:      €1,007.07",
    ):
        assert text in shown.stdout


def test_state_changes_from_the_command_line(run):
    run("seed", "--today", "2026-11-23")
    validated = run("invoices", "validate", "DEMO-0011")
    assert (validated.returncode, validated.stdout.strip()) == (0, "Invoice DEMO-0011 is validated.")
    assert run("invoices", "mark-sent", "DEMO-0011").returncode == 0
    assert run("invoices", "paid", "DEMO-0011").returncode == 0
    assert "— paid" in run("invoices", "show", "DEMO-0011").stdout

    refused = run("invoices", "void", "DEMO-0011")

    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: Invoice DEMO-0011 is already paid and cannot be voided."
    missing = run("invoices", "show", "NOPE-1")
    assert (missing.returncode, missing.stderr.strip()) == (1, "error: There is no invoice 'NOPE-1'.")


def test_a_bad_setting_is_one_line_naming_the_variable_and_exits_2(run):
    result = run("invoices", "due", database="mysql://nobody@127.0.0.1/x")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: setting DATABASE_URL is invalid: Value error, must be a sqlite:/// or postgresql:// URL"
    ]

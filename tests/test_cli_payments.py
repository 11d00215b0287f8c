"""`invoicebot invoices paid` and `invoicebot payments import`, run as the real console script."""


def test_partial_and_full_payments_from_the_command_line(run):
    run("seed", "--today", "2026-11-23")
    assert run("invoices", "validate", "DEMO-0011").returncode == 0
    shown = run("invoices", "show", "DEMO-0011").stdout
    assert "— validated" in shown

    partial = run("invoices", "paid", "DEMO-0011", "--amount", "1", "--date", "2026-11-20", "--reference", "B-1")

    assert partial.returncode == 0, partial.stderr
    assert partial.stdout.startswith("Payment of 1.00 ")
    assert "is still outstanding." in partial.stdout
    full = run("invoices", "paid", "DEMO-0011")
    assert full.returncode == 0, full.stderr
    assert "it is now paid in full." in full.stdout
    assert "— paid" in run("invoices", "show", "DEMO-0011").stdout

    bad = run("invoices", "paid", "DEMO-0011", "--amount", "ten")
    assert (bad.returncode, bad.stderr.strip()) == (2, "error: --amount 'ten' is not an amount like 120.50")
    again = run("invoices", "paid", "DEMO-0011", "--amount", "1")
    assert (again.returncode, again.stderr.strip()) == (1, "error: Invoice DEMO-0011 is already paid in full.")


def test_payments_import_lists_unmatched_lines_and_records_nothing_twice(run, tmp_path):
    run("seed", "--today", "2026-11-23")
    assert run("invoices", "validate", "DEMO-0011").returncode == 0
    path = tmp_path / "bank.csv"
    path.write_text("reference,amount,date\nDEMO-0011,1.00,2026-11-20\nNOPE-9,5,2026-11-20\n", encoding="utf-8")

    first = run("payments", "import", str(path))

    assert first.returncode == 1
    lines = first.stdout.strip().splitlines()
    assert lines[0].startswith("line 2: Payment of 1.00 ")
    assert lines[1] == "line 3: not recorded: There is no invoice 'NOPE-9'."
    assert lines[2] == "bank.csv: 1 payment(s) recorded, 0 already recorded, 1 line(s) not recorded."

    again = run("payments", "import", str(path)).stdout.strip().splitlines()

    assert again[0] == "line 2: already recorded by an earlier import; nothing recorded again"
    assert again[-1] == "bank.csv: 0 payment(s) recorded, 1 already recorded, 1 line(s) not recorded."

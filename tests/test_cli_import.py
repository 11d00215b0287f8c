"""`invoicebot import FILE` run as the real console script: every refusal is one line per
problem on stderr, exit 1, no traceback, and the database exactly as it was."""

import json

import pytest
from sqlalchemy import func, select

from services.db.models import AuditLog, Customer, Invoice, InvoiceLine

HEADER = (
    "invoice_number,customer_ref,customer_name,customer_emails,customer_language,issue_date,due_date,currency,"
    "description,quantity,unit_price,tax_rate,invoice_total"
)
GOOD = "INV-{n},ACME,Acme,ap@acme.example,en,2026-11-01,2026-12-01,EUR,Work,1,10,0,10"


@pytest.fixture
def unchanged(sessions):
    """Call it after the command: the database holds no customer, invoice, line or audit entry."""

    async def check() -> None:
        async with sessions() as session:
            for model in (Customer, Invoice, InvoiceLine, AuditLog):
                assert (await session.execute(select(func.count()).select_from(model))).scalar_one() == 0, model

    return check


def refused(result) -> list[str]:
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    return str(result.stderr).splitlines()


async def test_each_value_that_could_not_be_sent_is_one_line_naming_its_field_and_line(run, tmp_path, unchanged):
    rows = [
        GOOD.format(n=1).replace("Acme,ap", "Ac\u202eme,ap"),
        GOOD.format(n=2).replace("Work", "Wo\x1brk"),
        GOOD.format(n=3).replace("2026-11-01", "1900-01-01"),
        GOOD.format(n=4).replace(",1,10,0,10", ",1,NaN,0,10"),
        GOOD.format(n=5).replace(",en,", ",ja,"),
        GOOD.format(n=6).replace(",1,10,0,10", ",1,10,0,10.001"),
    ]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")

    lines = refused(run("import", str(path)))

    assert lines == [
        "line 2: customer_name contains the invisible character U+202E (RIGHT-TO-LEFT OVERRIDE) at position 3; "
        "remove it (control and text-direction characters cannot be sent)",
        "line 3: description contains the invisible character U+001B at position 3; "
        "remove it (control and text-direction characters cannot be sent)",
        "line 4: issue_date 1900-01-01 is outside 2000-01-01 … 2100-12-31",
        "line 5: unit_price 'NaN' is not a number",
        "line 6: customer_language 'ja' is not one of the supported languages: en, fr, de, nl, es, it",
        "line 7: invoice INV-6: invoice_total 10.001 has more decimals than EUR has (2)",
        "error: 6 problem(s) found; nothing was imported",
    ]
    await unchanged()


async def test_a_file_with_thousands_of_problems_prints_the_first_100_and_counts_the_rest(run, tmp_path, unchanged):
    path = tmp_path / "wide.csv"
    row = GOOD.format(n=1) + "".join(f",x{n}" for n in range(50_000 - 13))
    path.write_text("\n".join([HEADER, *(GOOD.format(n=n) + ",x" for n in range(1, 1_201)), row]) + "\n")

    lines = refused(run("import", str(path)))

    assert len(lines) == 102
    assert lines[0] == "line 2: this row has 14 values but the header has 13 columns"
    assert lines[99] == "line 101: this row has 14 values but the header has 13 columns"
    assert lines[100:] == ["… and 1,101 more problems", "error: 1,201 problem(s) found; nothing was imported"]
    await unchanged()


async def test_fifty_thousand_columns_in_a_row_are_one_line(run, tmp_path, unchanged):
    path = tmp_path / "wide.csv"
    path.write_text("\n".join([HEADER, GOOD.format(n=1) + "," * 49_987]) + "\n")

    lines = refused(run("import", str(path)))

    assert lines == [
        "line 2: this row has 50,000 values; at most 100 columns are read",
        "error: 1 problem(s) found; nothing was imported",
    ]
    await unchanged()


async def test_the_field_and_size_limits_are_settings(run, tmp_path, unchanged):
    path = tmp_path / "long.csv"
    path.write_text(
        "\n".join([HEADER, GOOD.format(n=1).replace("Work", '"Work\nmore"'), GOOD.format(n=2) + "W" * 1_500])
    )

    lines = refused(run("import", str(path), settings={"INVOICEBOT_IMPORT_MAX_FIELD_CHARS": "100"}))
    assert lines == [
        "line 4: invoice_total is longer than 100 characters",
        "error: 1 problem(s) found; nothing was imported",
    ]

    lines = refused(run("import", str(path), settings={"INVOICEBOT_IMPORT_MAX_BYTES": "1000"}))
    assert lines == [
        "error: long.csv is larger than 1,000 bytes, the most an import takes (INVOICEBOT_IMPORT_MAX_BYTES); "
        "split it into smaller files."
    ]
    await unchanged()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[" * 200_000 + "]" * 200_000, "line 1: the JSON is nested more than 20 levels deep"),
        ('[\n  {"number": "J-1", "total": 1' + "0" * 50_000 + "}\n]", "line 2: a number written with 50,001 digits"),
        ('[\n  {"number": "J-1", "total": 1.' + "0" * 50_000 + "}\n]", "line 2: a number written with 50,002 digits"),
    ],
)
async def test_hostile_json_is_one_line_not_a_traceback(run, tmp_path, unchanged, content, problem):
    path = tmp_path / "hostile.json"
    path.write_text(content)

    lines = refused(run("import", str(path)))

    assert len(lines) == 2 and lines[0].startswith(problem), lines
    assert lines[1] == "error: 1 problem(s) found; nothing was imported"
    await unchanged()


async def test_an_unreadable_path_is_one_line(run, tmp_path, unchanged):
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "latin1.json").write_bytes(json.dumps([{"number": "Caf\u00e9"}]).encode().replace(b"\\u00e9", b"\xe9"))

    assert refused(run("import", str(tmp_path / "folder.json")))[0].startswith("error: Cannot read ")
    assert refused(run("import", str(tmp_path / "latin1.json"))) == [
        "error: latin1.json is not UTF-8 text (byte 16); save it as UTF-8."
    ]
    await unchanged()

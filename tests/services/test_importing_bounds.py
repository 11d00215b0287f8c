"""An import file of any shape is read within bounds: streamed, limited in size, columns and
field length, every problem on its true line, the first 100 shown and the rest counted."""

from __future__ import annotations

import io
import json

import pytest

from services.db.models import Customer, Invoice
from services.errors import ImportRejected, InvalidInput
from services.importing.csv_rows import parse_csv
from services.importing.limits import MAX_JSON_DEPTH, ImportLimits
from services.importing.loader import import_file
from tests.harness.database import count_rows
from tests.harness.importing import HEADER

GOOD = "INV-{n},ACME,Acme,ap@acme.example,,en,2026-11-01,2026-12-01,EUR,,Work,1,10,0,10"


async def refused(session, org, path, limits=None) -> ImportRejected:
    with pytest.raises(ImportRejected) as caught:
        await import_file(session, organisation_id=org.id, path=path, actor="tester", limits=limits)
    await session.rollback()
    assert [await count_rows(session, model) for model in (Customer, Invoice)] == [0, 0]
    return caught.value


async def test_a_header_of_50000_columns_is_one_problem(session, org, tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(HEADER + "".join(f",extra{n}" for n in range(50_000 - 15)) + "\n" + GOOD.format(n=1) + "\n")

    rejection = await refused(session, org, path)

    assert rejection.problems == ["line 1: this row has 50,000 values; at most 100 columns are read"]
    assert str(rejection) == "1 problem(s) found; nothing was imported"


async def test_many_bad_rows_show_the_first_100_by_line_and_count_the_rest(session, org, tmp_path):
    path = tmp_path / "bad.csv"
    rows = [GOOD.format(n=n).replace("2026-11-01", "2026-13-01") for n in range(1, 1_001)]
    path.write_text("\n".join([HEADER, *rows]) + "\n")

    rejection = await refused(session, org, path)

    assert len(rejection.problems) == 100 and rejection.total == 1_000 and rejection.not_shown == 900
    assert rejection.problems[0].startswith("line 2: issue_date '2026-13-01' is not a date")
    assert [problem.split(":")[0] for problem in rejection.problems] == [f"line {n}" for n in range(2, 102)]
    assert str(rejection) == "1,000 problem(s) found; nothing was imported"


async def test_an_over_long_field_is_reported_on_the_line_its_record_starts_after_a_multi_line_field(
    session, org, tmp_path
):
    path = tmp_path / "long.csv"
    multi_line = GOOD.format(n=1).replace("Work", '"Work\nmore"')  # lines 2–3
    long_field = GOOD.format(n=2).replace("Work", "W" * 5_000)  # line 4
    path.write_text("\n".join([HEADER, multi_line, long_field]) + "\n")

    rejection = await refused(session, org, path, ImportLimits(max_field_chars=1_000))

    assert rejection.problems == ["line 4: description is longer than 1,000 characters"]


async def test_a_field_far_beyond_every_limit_stops_reading_at_the_line_its_record_starts(session, org, tmp_path):
    path = tmp_path / "huge.csv"
    quoted_multi_line = GOOD.format(n=1).replace("Work", '"Work\nmore\nlines"')  # lines 2–4
    huge = GOOD.format(n=2).replace("Work", '"' + "W\n" * 100_000 + '"')  # starts on line 5
    path.write_text("\n".join([HEADER, quoted_multi_line, huge, GOOD.format(n=3)]) + "\n")

    rejection = await refused(session, org, path, ImportLimits(max_columns=20, max_field_chars=1_000))

    assert rejection.problems == [
        "line 5: this row is longer than 20,060 characters (at most 20 columns of 1,000); "
        "the rest of the file was not read"
    ]


async def test_a_field_longer_than_the_csv_modules_own_limit_is_named_on_its_line(session, org, tmp_path):
    path = tmp_path / "huge.csv"
    huge = GOOD.format(n=2).replace("Work", "W" * 200_000)
    path.write_text("\n".join([HEADER, GOOD.format(n=1), huge]) + "\n")

    rejection = await refused(session, org, path)

    assert rejection.problems == ["line 3: a field is longer than 10,000 characters; the rest of the file was not read"]


async def test_trailing_empty_cells_are_bounded_by_the_row_length_and_the_column_count(session, org, tmp_path):
    path = tmp_path / "trailing.csv"
    path.write_text("\n".join([HEADER, GOOD.format(n=1) + "," * 2_000_000, GOOD.format(n=2) + "," * 200]) + "\n")

    rejection = await refused(session, org, path)

    assert rejection.problems == [
        "line 2: this row is longer than 1,000,300 characters (at most 100 columns of 10,000); "
        "the rest of the file was not read"
    ]
    path.write_text("\n".join([HEADER, GOOD.format(n=1) + "," * 20, GOOD.format(n=2) + "," * 200]) + "\n")
    rejection = await refused(session, org, path)
    assert rejection.problems == ["line 3: this row has 215 values; at most 100 columns are read"]


async def test_a_file_over_the_size_limit_is_refused_before_it_is_read(session, org, tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("\n".join([HEADER, *(GOOD.format(n=n) for n in range(100))]) + "\n")

    with pytest.raises(InvalidInput, match=r"^big.csv is larger than 2,000 bytes, the most an import takes"):
        await import_file(session, organisation_id=org.id, path=path, actor="t", limits=ImportLimits(max_bytes=2_000))


async def test_deep_json_is_one_problem_naming_its_line_not_a_recursion_error(session, org, tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('[\n  {"number": "J-1",\n   "customer": ' + "[" * 100_000 + "]" * 100_000 + "}\n]\n")

    rejection = await refused(session, org, path)

    assert rejection.problems == [f"line 3: the JSON is nested more than {MAX_JSON_DEPTH} levels deep"]


async def test_brackets_inside_json_strings_do_not_count_as_depth(session, org, tmp_path):
    path = tmp_path / "brackets.json"
    path.write_text(json.dumps([{"number": "[" * 50 + '\\"{' * 50}]))

    rejection = await refused(session, org, path)

    assert not any("nested" in problem for problem in rejection.problems)
    assert rejection.problems[0].startswith("line 1: invoice ")


async def test_a_huge_json_number_is_one_problem_naming_its_line(session, org, tmp_path):
    path = tmp_path / "number.json"
    path.write_text('[\n  {"number": "J-1"},\n  {"number": "J-2", "total": ' + "9" * 100_000 + "}\n]\n")

    rejection = await refused(session, org, path)

    assert rejection.problems == ["line 3: a number written with 100,000 digits (999999999999…) is far too large"]


async def test_a_byte_that_is_not_utf8_is_reported_on_its_own_line_past_the_read_ahead(session, org, tmp_path):
    path = tmp_path / "latin1.csv"
    rows = [GOOD.format(n=n) for n in range(1, 400)]
    rows[300] = rows[300].replace("Acme", "Caf\u00e9")
    path.write_bytes("\n".join([HEADER, *rows]).encode("latin-1") + b"\n")

    rejection = await refused(session, org, path)

    assert rejection.problems == [
        "line 302: this row is not UTF-8 text (save the file as UTF-8 CSV); the rest of the file was not read"
    ]


async def test_a_file_with_old_mac_line_ends_is_read_row_by_row(session, org, tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes(
        "\r".join([HEADER, GOOD.format(n=1), GOOD.format(n=2).replace("2026-11-01", "2026-11-31")]).encode()
    )

    rejection = await refused(session, org, path)

    assert rejection.problems == [
        "line 3: issue_date '2026-11-31' is not a date (write it as YYYY-MM-DD, e.g. 2026-11-23)"
    ]


def test_a_stream_that_outgrows_the_size_limit_stops_on_the_row_that_crosses_it():
    content = "\n".join([HEADER, *(GOOD.format(n=n) for n in range(1, 40))]) + "\n"  # a pipe: no size to stat

    parsed = parse_csv(io.StringIO(content), ImportLimits(max_bytes=1_000))

    assert [str(problem) for problem in parsed.problems] == [
        "line 12: the file is larger than 1,000 bytes; the rest of the file was not read"
    ]


async def test_nan_and_infinity_in_json_are_refused_on_their_line(session, org, tmp_path):
    path = tmp_path / "nan.json"
    path.write_text('[\n  {"number": "J-1"},\n  {"number": "J-2", "total": -Infinity}\n]\n')

    rejection = await refused(session, org, path)

    assert rejection.problems == ["line 3: -Infinity is not a number (JSON has no NaN or Infinity)"]

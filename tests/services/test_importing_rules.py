"""What gets in can always be sent: the import refuses, with the field and the line, every value
that would fail later (in the PDF, the UBL or the email), and writes nothing."""

from __future__ import annotations

import json

import pytest

from services.db.models import AuditLog, Customer, Invoice, InvoiceLine
from services.invoicing.invoices import get_invoice
from tests.harness.database import count_rows
from tests.harness.importing import rejected, run_import, write_csv

GOOD = "INV-9,ACME,Acme,ap@acme.example,,en,2026-11-01,2026-12-01,EUR,,Work,1,10,0,10"


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (
            GOOD.replace("Acme,ap", "Ac\u202eme,ap"),
            "line 2: customer_name contains the invisible character U+202E (RIGHT-TO-LEFT OVERRIDE) at position 3",
        ),
        (
            GOOD.replace("Work", "Wo\u2066rk"),
            "line 2: description contains the invisible character U+2066 (LEFT-TO-RIGHT ISOLATE) at position 3",
        ),
        (GOOD.replace("INV-9", "INV\x07-9"), "line 2: invoice_number contains the invisible character U+0007"),
        (GOOD.replace("Work", "Work\x00"), "line 2: description contains the invisible character U+0000"),
        (GOOD.replace("Acme,ap", "Acme\u00ad,ap"), "line 2: customer_name contains the invisible character U+00AD"),
        (GOOD.replace("Acme,ap", "Ac\tme,ap"), "line 2: customer_name contains a line break or tab at position 3"),
        (
            GOOD.replace("2026-11-01", "1999-12-31"),
            "line 2: issue_date 1999-12-31 is outside 2000-01-01 … 2100-12-31",
        ),
        (GOOD.replace("2026-12-01", "2101-01-01"), "line 2: due_date 2101-01-01 is outside 2000-01-01 … 2100-12-31"),
        (GOOD.replace(",1,10,0,10", ",1,NaN,0,10"), "line 2: unit_price 'NaN' is not a number"),
        (GOOD.replace(",1,10,0,10", ",1,Infinity,0,10"), "line 2: unit_price 'Infinity' is not a number"),
        (
            GOOD.replace(",1,10,0,10", ",1,10000000000000,0,10"),
            "line 2: unit_price 10000000000000 is too large (amounts must be below 10,000,000,000,000)",
        ),
        (
            GOOD.replace(",1,10,0,10", ",2000000,9999999.99,0,10"),
            "line 2: invoice INV-9: line item 1: quantity × unit_price 19999999980000.00 is too large",
        ),
        (
            GOOD.replace(",1,10,0,10", ",1,10.004,0,10.004"),
            "line 2: invoice INV-9: invoice_total 10.004 has more decimals than EUR has (2)",
        ),
        (
            GOOD.replace("EUR", "JPY").replace(",1,10,0,10", ",1,10.5,0,10.5"),
            "line 2: invoice INV-9: invoice_total 10.5 has more decimals than JPY has (0)",
        ),
        (
            GOOD.replace(",en,", ",ja,"),
            "line 2: customer_language 'ja' is not one of the supported languages: en, fr, de, nl, es, it",
        ),
        (
            GOOD.replace(",en,", ",tlh-Latn-x,"),
            "line 2: customer_language 'tlh-Latn-x' is not one of the supported languages",
        ),
    ],
)
async def test_a_value_that_could_not_be_sent_is_refused_with_field_and_line_and_nothing_is_written(
    session, org, tmp_path, row, problem
):
    problems = await rejected(session, org, write_csv(tmp_path, [row]))

    assert len(problems) == 1 and problems[0].startswith(problem), problems
    assert [await count_rows(session, model) for model in (Customer, Invoice, InvoiceLine, AuditLog)] == [0, 0, 0, 0]


async def test_a_multi_line_address_keeps_its_line_breaks_and_a_regional_language_is_stored_as_its_language(
    session, org, tmp_path
):
    path = tmp_path / "address.csv"
    path.write_text(
        "invoice_number,customer_ref,customer_name,customer_address,customer_language,issue_date,due_date,"
        "currency,description,quantity,unit_price,tax_rate,invoice_total\n"
        'A-1,ACME,Acme,"1 Rue X\n75001 Paris\tFrance",fr-BE,2026-11-01,2026-12-01,EUR,Work,1,10,0,10.000\n',
        encoding="utf-8",
    )

    await run_import(session, org, path)

    invoice = await get_invoice(session, organisation_id=org.id, number="A-1")
    customer = invoice.customer
    assert (customer.street, customer.postal_code, customer.city) == ("1 Rue X", "75001", "Paris France")
    assert invoice.customer.language == "fr"


async def test_json_values_are_held_to_the_same_rules(session, org, tmp_path):
    lines = [{"description": "Work\ud800", "quantity": 1, "unit_price": "10", "tax_rate": 0}]
    objects = [
        {
            "number": "J-1",
            "customer": {"ref": "A", "name": "Acme\u202e", "emails": ["ap@acme.example"], "language": "xx-long-code"},
            "issue_date": "1970-01-01",
            "due_date": "2026-12-01",
            "currency": "EUR",
            "lines": lines,
            "total": "10",
        },
        {
            "number": "J-2",
            "customer": {"ref": "B", "name": "Beta", "emails": ["ap@beta.example"]},
            "issue_date": "2026-11-01",
            "due_date": "2026-12-01",
            "currency": "EUR",
            "lines": [{"description": "Work", "quantity": 1, "unit_price": "10.001", "tax_rate": 0}],
            "total": 10.001,
        },
    ]
    path = tmp_path / "invoices.json"
    path.write_text(json.dumps(objects, indent=2, ensure_ascii=True), encoding="utf-8")

    problems = await rejected(session, org, path)

    assert problems == [
        "line 2: invoice J-1: customer name contains the invisible character U+202E (RIGHT-TO-LEFT OVERRIDE) "
        "at position 5; remove it (control and text-direction characters cannot be sent)",
        "line 2: invoice J-1: customer_language 'xx-long-code' is not one of the supported languages: "
        "en, fr, de, nl, es, it",
        "line 2: invoice J-1: issue_date 1970-01-01 is outside 2000-01-01 … 2100-12-31",
        "line 2: invoice J-1: line item 1: description contains the invisible character U+D800 at position 5; "
        "remove it (control and text-direction characters cannot be sent)",
        "line 25: invoice J-2: total 10.001 has more decimals than EUR has (2)",
    ]
    assert await count_rows(session, Invoice) == 0


async def test_a_good_file_still_imports_with_accents_and_non_latin_names(session, org, tmp_path):
    path = write_csv(tmp_path, [GOOD.replace("Acme,ap", "Müller & Søn — 株式会社,ap")])
    await run_import(session, org, path)
    invoice = await get_invoice(session, organisation_id=org.id, number="INV-9")
    assert invoice.customer.name == "Müller & Søn — 株式会社"


async def test_a_windows_file_keeps_plain_line_breaks_in_a_multi_line_field(session, org, tmp_path):
    path = tmp_path / "windows.csv"
    rows = [
        "invoice_number,customer_ref,customer_name,customer_address,issue_date,due_date,currency,description,"
        "quantity,unit_price,tax_rate,invoice_total",
        'A-1,ACME,Acme,"1 Main St\r\nSpringfield",2026-11-01,2026-12-01,EUR,Work,1,10,0,10',
    ]
    path.write_bytes("\r\n".join(rows).encode() + b"\r\n")

    await run_import(session, org, path)

    invoice = await get_invoice(session, organisation_id=org.id, number="A-1")
    assert (invoice.customer.street, invoice.customer.city) == ("1 Main St", "Springfield")

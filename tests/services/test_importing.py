"""Importing invoices from CSV and JSON through the real service: what is created, updated, refused and why."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from services.authorization import ApprovalRules
from services.db.models import AuditLog, Customer, Invoice, InvoiceLine, InvoiceStatus
from services.invoicing.invoices import InvoiceAct, get_invoice, mark_sent_manually
from tests.harness.database import count_rows
from tests.harness.importing import invoice_object, rejected, run_import, write_csv, write_json

RULES_FOR_TEST = ApprovalRules()  # no sender listed: everyone may change invoices

GOOD_ROWS = [
    "INV-1,ACME,Acme Corp,ap@acme.example;boss@acme.example,cfo@acme.example,en,"
    "2026-11-01,2026-12-01,EUR,validated,Consulting,2,100.00,20,252.00",
    "INV-1,ACME,Acme Corp,ap@acme.example;boss@acme.example,cfo@acme.example,en,"
    "2026-11-01,2026-12-01,EUR,validated,Books,1,10.00,20,252.00",
    "INV-2,DUPONT,Dupont SARL,compta@dupont.example,,fr,2026-11-02,2026-12-02,GBP,,Formation,1,50,0,50",
]


async def test_csv_import_creates_customers_invoices_lines_and_one_audit_entry(session, org, tmp_path):
    summary = await run_import(session, org, write_csv(tmp_path, GOOD_ROWS))

    assert (summary.invoices_created, summary.customers_created, summary.rows) == (2, 2, 3)
    invoice = await get_invoice(session, organisation_id=org.id, number="INV-1", with_lines=True)
    assert invoice.status == InvoiceStatus.VALIDATED and invoice.validated_at is not None
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        Decimal("210.00"),
        Decimal("42.00"),
        Decimal("252.00"),
    )
    assert [(line.position, line.description, line.net_amount) for line in invoice.lines] == [
        (1, "Consulting", Decimal("200.00")),
        (2, "Books", Decimal("10.00")),
    ]
    assert invoice.customer.emails == ["ap@acme.example", "boss@acme.example"]
    assert invoice.customer.cc == ["cfo@acme.example"]
    second = await get_invoice(session, organisation_id=org.id, number="INV-2")
    assert (second.status, second.currency, second.customer.language) == (InvoiceStatus.DRAFT, "GBP", "fr")
    audit = (await session.execute(select(AuditLog))).scalars().all()
    assert [(a.action, a.actor, a.detail["invoices_created"], a.detail["source"]) for a in audit] == [
        ("import", "tester", 2, "invoices.csv")
    ]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (
            "INV-9,ACME,Acme,ap@acme.example,,en,2026-02-30,2026-12-01,EUR,,X,1,10,0,10",
            "line 2: issue_date '2026-02-30' is not a date (write it as YYYY-MM-DD, e.g. 2026-11-23)",
        ),
        (
            "INV-9,ACME,Acme,ap@acme.example,,en,2026-11-01,2026-12-01,EURO,,X,1,10,0,10",
            "line 2: unknown currency 'EURO' (expected an ISO 4217 code such as EUR)",
        ),
        (
            "INV-9,ACME,Acme,ap@acme.example,,en,2026-11-01,2026-12-01,EUR,,X,1,10,20,10",
            "line 2: invoice INV-9: the lines add up to €12.00 (€10.00 + €2.00 tax) "
            "but the file says the total is €10.00",
        ),
        (
            "INV-9,ACME,Acme,ap@@acme.example,,en,2026-11-01,2026-12-01,EUR,,X,1,10,0,10",
            "line 2: customer_emails: 'ap@@acme.example' is not a valid email address",
        ),
        (
            "INV-9,ACME,Acme,ap@acme.example,,en,2026-11-01,2026-12-01,EUR,,X,1,10,5,10",
            "line 2: invoice INV-9: the lines add up to",
        ),
        (
            'INV-9,ACME,Acme,ap@acme.example,,en,2026-11-01,2026-12-01,EUR,,X,1,"10,50",0,10.50',
            "line 2: unit_price '10,50' is not a number (use a dot for decimals, e.g. 1234.50)",
        ),
        (
            "INV-9,ACME,Acme,ap@acme.example,,en,2026-11-01,2026-12-01,EUR,,X,-1,10,0,-10",
            "line 2: quantity -1 is negative; import a credit note as kind credit_note with positive amounts",
        ),
        (
            "INV-9,ACME,Acme,ap@acme.example,,en,2026-11-01,2026-12-01,EUR,sent,X,1,10,0,10",
            "line 2: status 'sent' cannot be imported: use draft or validated",
        ),
        (
            "INV-9,ACME,Acme,ap@acme.example,,en,2026-11-01,2026-12-01,EUR,,,1,10,0,10",
            "line 2: description is empty",
        ),
        (
            "INV-9,ACME,Acme,ap@acme.example,,en,2026-12-01,2026-11-01,EUR,,X,1,10,0,10",
            "line 2: invoice INV-9: due_date 2026-11-01 is before issue_date 2026-12-01",
        ),
        (
            "INV-9,ACME,Acme,ap@acme.example,,en,2026-11-01,2026-12-01,EUR,,X,1,10.12345,0,10.12",
            "line 2: unit_price 10.12345 has more than 4 decimal places",
        ),
    ],
)
async def test_each_bad_csv_value_is_reported_with_its_line_and_a_reason(session, org, tmp_path, row, reason):
    problems = await rejected(session, org, write_csv(tmp_path, [row]))
    assert any(problem.startswith(reason) for problem in problems), problems


async def test_every_bad_row_is_reported_not_only_the_first(session, org, tmp_path):
    rows = [
        GOOD_ROWS[0],
        GOOD_ROWS[1],
        "INV-2,B,Beta,b@beta.example,,en,2026-13-01,2026-12-01,EUR,,X,1,10,0,10",
        "INV-3,C,Gamma,c@gamma.example,,en,2026-11-01,2026-12-01,ABC,,X,1,10,0,10",
        "INV-4,D,Delta,not-an-address,,en,2026-11-01,2026-12-01,EUR,,X,abc,10,0,10",
    ]
    problems = await rejected(session, org, write_csv(tmp_path, rows))
    assert [problem.split(":")[0] for problem in problems] == ["line 4", "line 5", "line 6", "line 6"]


async def test_a_rejected_file_leaves_the_database_unchanged(session, org, tmp_path):
    await run_import(session, org, write_csv(tmp_path, GOOD_ROWS[2:]))
    before = [await count_rows(session, model) for model in (Customer, Invoice, InvoiceLine, AuditLog)]
    changed_and_bad = [
        GOOD_ROWS[0],
        GOOD_ROWS[1],
        GOOD_ROWS[2].replace("Formation,1,50,0,50", "Formation,2,50,0,100"),
        "INV-3,C,Gamma,c@gamma.example,,en,2026-11-01,2026-12-01,EUR,,X,1,10,0,11",
    ]
    problems = await rejected(session, org, write_csv(tmp_path, changed_and_bad))
    assert problems == [
        "line 5: invoice INV-3: the lines add up to €10.00 (€10.00 + €0.00 tax) but the file says the total is €11.00"
    ]
    assert [await count_rows(session, model) for model in (Customer, Invoice, InvoiceLine, AuditLog)] == before
    unchanged = await get_invoice(session, organisation_id=org.id, number="INV-2")
    assert unchanged.total == Decimal("50")


async def test_a_repeated_invoice_number_is_a_duplicate_naming_the_first_line(session, org, tmp_path):
    problems = await rejected(session, org, write_csv(tmp_path, [*GOOD_ROWS, GOOD_ROWS[0].replace("252.00", "240.00")]))
    assert "line 5: duplicate invoice number INV-1 (first seen on line 2)" in problems


async def test_rows_of_one_invoice_must_agree(session, org, tmp_path):
    rows = [GOOD_ROWS[0], GOOD_ROWS[1].replace("2026-12-01", "2026-12-02")]
    problems = await rejected(session, org, write_csv(tmp_path, rows))
    assert problems[0].startswith("line 3: invoice INV-1: due_date differs from line 2")


async def test_missing_and_unknown_columns_are_named(session, org, tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("invoice_number,customer_ref,custmer_name\nINV-1,ACME,Acme\n")
    problems = await rejected(session, org, path)
    assert problems[0].startswith("line 1: unknown column 'custmer_name'")
    assert "line 1: missing required column 'due_date'" in problems
    assert "line 1: missing required column 'customer_name'" in problems


async def test_reimport_updates_unsent_invoices_and_reports_unchanged_ones(session, org, tmp_path):
    await run_import(session, org, write_csv(tmp_path, GOOD_ROWS))
    changed = [
        GOOD_ROWS[0].replace(",2,100.00,20,252.00", ",3,100.00,20,372.00"),
        GOOD_ROWS[1].replace("252.00", "372.00"),
    ]
    summary = await run_import(
        session, org, write_csv(tmp_path, [*changed, GOOD_ROWS[2].replace("Dupont SARL", "Dupont & Fils")])
    )

    assert (summary.invoices_created, summary.invoices_updated, summary.invoices_unchanged) == (0, 1, 1)
    assert (summary.customers_created, summary.customers_updated) == (0, 1)
    session.expunge_all()
    invoice = await get_invoice(session, organisation_id=org.id, number="INV-1", with_lines=True)
    assert invoice.total == Decimal("372.00")
    assert [line.quantity for line in invoice.lines] == [Decimal(3), Decimal(1)]
    assert await count_rows(session, InvoiceLine) == 3
    dupont = await get_invoice(session, organisation_id=org.id, number="INV-2")
    assert dupont.customer.name == "Dupont & Fils"


async def test_reimport_refuses_to_change_a_sent_invoice(session, org, tmp_path):
    await run_import(session, org, write_csv(tmp_path, GOOD_ROWS))
    at = datetime(2026, 11, 5, 9, tzinfo=UTC)
    await mark_sent_manually(
        session, InvoiceAct(organisation_id=org.id, number="INV-1", actor="tester", rules=RULES_FOR_TEST, at=at)
    )
    await session.commit()
    changed = [GOOD_ROWS[0].replace("Consulting", "Advice"), GOOD_ROWS[1]]

    problems = await rejected(session, org, write_csv(tmp_path, changed))

    assert problems == ["line 2: invoice INV-1 was already sent on 2026-11-05; a sent invoice cannot be changed"]
    invoice = await get_invoice(session, organisation_id=org.id, number="INV-1", with_lines=True)
    assert invoice.lines[0].description == "Consulting"


async def test_reimporting_a_sent_invoice_unchanged_is_a_no_op(session, org, tmp_path):
    await run_import(session, org, write_csv(tmp_path, GOOD_ROWS))
    await mark_sent_manually(
        session, InvoiceAct(organisation_id=org.id, number="INV-1", actor="tester", rules=RULES_FOR_TEST)
    )
    await session.commit()

    summary = await run_import(session, org, write_csv(tmp_path, GOOD_ROWS))

    assert (summary.invoices_created, summary.invoices_updated, summary.invoices_unchanged) == (0, 0, 2)
    invoice = await get_invoice(session, organisation_id=org.id, number="INV-1")
    assert invoice.status == InvoiceStatus.SENT


async def test_json_import_creates_invoices_with_exact_decimals(session, org, tmp_path):
    summary = await run_import(session, org, write_json(tmp_path, [invoice_object(), invoice_object("J-2")]))
    assert (summary.invoices_created, summary.customers_created, summary.rows) == (2, 1, 4)
    invoice = await get_invoice(session, organisation_id=org.id, number="J-1", with_lines=True)
    assert invoice.total == Decimal("250.50")
    assert invoice.lines[1].unit_price == Decimal("10.5")
    assert invoice.due_date == date(2026, 12, 1)


async def test_json_problems_name_the_line_where_the_invoice_object_starts(session, org, tmp_path):
    bad_lines = [{"description": "Consulting", "quantity": "x", "unit_price": "100.00", "tax_rate": 20}]
    objects = [
        invoice_object(),
        invoice_object("J-2", currency="EURO", due_date="01/12/2026"),
        invoice_object("J-3", lines=bad_lines, total="1"),
        invoice_object("J-1"),
    ]
    missing = invoice_object("J-4")
    del missing["total"]
    objects.append(missing)
    path = write_json(tmp_path, objects)
    starts = [n for n, text in enumerate(path.read_text().splitlines(), start=1) if text == "  {"]

    problems = await rejected(session, org, path)

    assert problems == [
        f"line {starts[1]}: invoice J-2: due_date '01/12/2026' is not a date (write it as YYYY-MM-DD, e.g. 2026-11-23)",
        f"line {starts[1]}: invoice J-2: unknown currency 'EURO' (expected an ISO 4217 code such as EUR)",
        f"line {starts[2]}: invoice J-3: line item 1: quantity 'x' is not a number",
        f"line {starts[3]}: duplicate invoice number J-1 (first seen on line {starts[0]})",
        f"line {starts[4]}: invoice J-4: missing field 'total'",
    ]
    assert await count_rows(session, Invoice) == 0


async def test_json_totals_that_do_not_add_up_are_rejected(session, org, tmp_path):
    problems = await rejected(session, org, write_json(tmp_path, [invoice_object(total="250.49")]))
    assert problems == [
        "line 2: invoice J-1: the lines add up to €250.50 (€210.50 + €40.00 tax) but the file says the total is €250.49"
    ]


async def test_malformed_json_names_its_line(session, org, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"number": "J-1",\n   "total": }\n]\n')
    problems = await rejected(session, org, path)
    assert problems == ["line 3: the file is not valid JSON: Expecting value"]


async def test_the_example_files_import_cleanly(session, org):
    examples = Path(__file__).resolve().parents[2] / "examples"
    csv_summary = await run_import(session, org, examples / "invoices.csv")
    json_summary = await run_import(session, org, examples / "invoices.json")
    assert csv_summary.invoices_created >= 3
    assert json_summary.invoices_created >= 2

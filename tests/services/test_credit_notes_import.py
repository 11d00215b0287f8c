"""Credit notes come in through the import (CSV and JSON) correcting an issued invoice of the same
customer and currency; anything else is refused with a sentence naming the line, and nothing is
written. An issued credit note reduces the invoice's balance; a fully credited invoice is closed."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.authorization import ApprovalRules
from services.db.models import DocumentKind, Invoice, InvoiceStatus
from services.errors import IllegalTransition, InvalidInput
from services.invoice_import import run_invoice_import
from services.invoicing.aging import receivables
from services.invoicing.invoices import get_invoice
from services.invoicing.payments import balance_of_invoice, payment_draft
from services.unit_of_work import units_over
from services.use_cases import InvoiceChange, change_invoice
from tests.harness.importing import invoice_object, rejected, run_import

HEADER = (
    "invoice_number,customer_ref,customer_name,customer_emails,issue_date,due_date,currency,status,"
    "description,quantity,unit_price,tax_rate,invoice_total,kind,corrects_invoice,credit_reason"
)
INVOICE = "INV-1,ACME,Acme,ap@acme.example,2026-11-01,2026-12-01,EUR,validated,Work,1,100,0,100,,,"


def credit_row(amount: str = "30", *, number: str = "CN-1", corrects: str = "INV-1", customer: str = "ACME",
               currency: str = "EUR") -> str:  # fmt: skip
    return (
        f"{number},{customer},Acme,ap@acme.example,2026-11-05,2026-11-05,{currency},validated,"
        f"Discount,1,{amount},0,{amount},credit_note,{corrects},Agreed discount"
    )


def csv_file(tmp_path, rows: list[str], name: str = "file.csv"):
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


async def _numbers(session) -> list[str]:
    return sorted((await session.execute(select(Invoice.number))).scalars())


async def test_a_csv_credit_note_is_imported_against_its_invoice_and_reduces_its_balance(session, org, tmp_path):
    await run_import(session, org, csv_file(tmp_path, [INVOICE], "invoices.csv"))
    await run_import(session, org, csv_file(tmp_path, [credit_row("30")], "credits.csv"))
    await session.refresh(org)

    note = await get_invoice(session, organisation_id=org.id, number="CN-1")
    invoice = await get_invoice(session, organisation_id=org.id, number="INV-1")
    assert (note.kind, note.corrects_invoice_id, note.credit_reason) == (
        DocumentKind.CREDIT_NOTE, invoice.id, "Agreed discount",
    )  # fmt: skip
    assert note.total == Decimal("30.00") and note.status == InvoiceStatus.VALIDATED
    balance = await balance_of_invoice(session, invoice)
    assert [balance.total, balance.paid, balance.credited, balance.outstanding] == [100, 0, 30, 70]
    draft = await payment_draft(session, organisation_id=org.id, number="INV-1")
    assert draft.outstanding == Decimal("70.00")
    owed = await receivables(session, organisation_id=org.id, today=invoice.due_date)
    assert owed.totals() == {"EUR": Decimal("70.00")}  # the credit note itself is not owed


async def test_a_json_credit_note_for_the_whole_amount_closes_the_invoice(session, sessions, org, tmp_path):
    org_id = org.id
    await run_import(session, org, csv_file(tmp_path, [INVOICE], "invoices.csv"))
    path = tmp_path / "credit.json"
    note = invoice_object(
        "CN-9", kind="credit_note", corrects_invoice="INV-1", currency="EUR", total="100",
        customer={"ref": "ACME", "name": "Acme", "emails": ["ap@acme.example"], "language": "en"},
        lines=[{"description": "Cancelled order", "quantity": 1, "unit_price": "100", "tax_rate": 0}],
    )  # fmt: skip
    path.write_text(json.dumps([note]), encoding="utf-8")

    summary = await run_invoice_import(units_over(sessions), organisation_id=org_id, path=path, actor="tester")

    assert summary.invoices_created == 1
    session.expire_all()
    invoice = await get_invoice(session, organisation_id=org_id, number="INV-1")
    assert invoice.status == InvoiceStatus.PAID and invoice.paid_at is not None
    assert (await balance_of_invoice(session, invoice)).outstanding == 0
    try:
        await payment_draft(session, organisation_id=org_id, number="CN-9")
    except IllegalTransition as refused:
        assert "CN-9 is a credit note" in str(refused)
    else:
        raise AssertionError("a payment on a credit note was accepted")


async def test_credit_notes_that_cannot_correct_their_invoice_are_refused_by_line_and_nothing_is_written(
    session, org, tmp_path
):
    other_customer = INVOICE.replace("INV-1,ACME", "INV-2,BETA").replace("Acme,", "Beta,")
    await run_import(session, org, csv_file(tmp_path, [INVOICE, other_customer], "invoices.csv"))
    rows = [
        credit_row("80", number="CN-1"),  # accepted alone…
        credit_row("30", number="CN-2"),  # …but together they exceed the 100 owed
        credit_row("10", number="CN-3", corrects="NOPE"),
        credit_row("10", number="CN-4", corrects="INV-2"),
        credit_row("10", number="CN-5", currency="USD"),
    ]
    problems = await rejected(session, org, csv_file(tmp_path, rows, "credits.csv"))

    assert problems == [
        "line 3: credit note CN-2 of 30.00 EUR is more than the 20.00 EUR invoice INV-1 still has outstanding",
        "line 4: credit note CN-3 corrects invoice NOPE, which does not exist",
        "line 5: credit note CN-4 is for customer ACME but invoice INV-2 is not",
        "line 6: credit note CN-5 is in USD but invoice INV-1 is in EUR",
    ]
    assert await _numbers(session) == ["INV-1", "INV-2"]


async def test_a_json_credit_note_larger_than_the_invoice_is_refused(session, org, tmp_path):
    await run_import(session, org, csv_file(tmp_path, [INVOICE], "invoices.csv"))
    path = tmp_path / "credit.json"
    note = invoice_object(
        "CN-1", kind="credit_note", corrects_invoice="INV-1", total="150",
        customer={"ref": "ACME", "name": "Acme", "emails": ["ap@acme.example"], "language": "en"},
        lines=[{"description": "Too much", "quantity": 1, "unit_price": "150", "tax_rate": 0}],
    )  # fmt: skip
    path.write_text(json.dumps([note]), encoding="utf-8")

    problems = await rejected(session, org, path)

    assert problems == [
        "line 1: credit note CN-1 of 150.00 EUR is more than the 100.00 EUR invoice INV-1 still has outstanding"
    ]
    assert await _numbers(session) == ["INV-1"]


async def test_importing_the_same_credit_note_again_changes_nothing(session, org, tmp_path):
    await run_import(session, org, csv_file(tmp_path, [INVOICE], "invoices.csv"))
    await run_import(session, org, csv_file(tmp_path, [credit_row("60")], "credits.csv"))

    again = await run_import(session, org, csv_file(tmp_path, [credit_row("60")], "credits.csv"))

    assert (again.invoices_created, again.invoices_updated, again.invoices_unchanged) == (0, 0, 1)


async def test_a_credit_note_naming_no_invoice_is_refused_before_the_database_is_read(session, org, tmp_path):
    problems = await rejected(session, org, csv_file(tmp_path, [credit_row("10", corrects="")]))

    assert problems == ["line 2: credit note CN-1 does not say which invoice it corrects (corrects_invoice)"]
    assert await _numbers(session) == []


async def test_a_draft_credit_note_credits_nothing_until_validated_and_then_closes_the_invoice_it_settles(
    session, sessions, org, tmp_path
):
    org_id = org.id
    await run_import(session, org, csv_file(tmp_path, [INVOICE], "invoices.csv"))
    await run_import(session, org, csv_file(tmp_path, [credit_row("100").replace(",validated,", ",draft,")]))
    session.expire_all()
    invoice = await get_invoice(session, organisation_id=org_id, number="INV-1")
    assert (await balance_of_invoice(session, invoice)).outstanding == 100

    await change_invoice(
        units_over(sessions), rules=ApprovalRules(), organisation_id=org_id, number="CN-1", actor="U1",
        change=InvoiceChange.VALIDATE,
    )  # fmt: skip

    session.expire_all()
    invoice = await get_invoice(session, organisation_id=org_id, number="INV-1")
    assert invoice.status == InvoiceStatus.PAID
    assert (await balance_of_invoice(session, invoice)).outstanding == 0


async def test_a_draft_credit_note_that_no_longer_fits_is_refused_at_validation_and_nothing_changes(
    session, sessions, org, tmp_path
):
    org_id = org.id
    await run_import(session, org, csv_file(tmp_path, [INVOICE], "invoices.csv"))
    await run_import(session, org, csv_file(tmp_path, [credit_row("80").replace(",validated,", ",draft,")]))
    await run_import(session, org, csv_file(tmp_path, [credit_row("50", number="CN-2")], "more.csv"))

    with pytest.raises(InvalidInput) as refused:
        await change_invoice(
            units_over(sessions), rules=ApprovalRules(), organisation_id=org_id, number="CN-1", actor="U1",
            change=InvoiceChange.VALIDATE,
        )  # fmt: skip

    assert str(refused.value) == (
        "Credit note CN-1 credits 80.00 EUR but invoice INV-1 only has 50.00 EUR outstanding; "
        "correct the credit note before validating it."
    )
    session.expire_all()
    note = await get_invoice(session, organisation_id=org_id, number="CN-1")
    assert note.status == InvoiceStatus.DRAFT

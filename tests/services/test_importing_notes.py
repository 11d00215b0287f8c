"""Notes at import (issue 16 item 4): an invoice note and each line's note, marked internal or
customer-visible, stored as the file says; a bad visibility refused with its line and the words to use."""

from __future__ import annotations

from pathlib import Path

from services.db.models import Invoice
from services.invoicing.invoices import get_invoice
from tests.harness.database import count_rows
from tests.harness.importing import invoice_object, rejected, run_import, write_json

NOTES_HEADER = (
    "invoice_number,customer_ref,customer_name,customer_emails,issue_date,due_date,currency,status,"
    "invoice_total,notes,notes_visibility,description,quantity,unit_price,tax_rate,line_note,line_note_visibility"
)
CUSTOMER = "ACME,Acme Corp,ap@acme.example,2026-11-01,2026-12-01,EUR,validated,250.50"


def write_notes_csv(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "notes.csv"
    path.write_text("\n".join([NOTES_HEADER, *rows]) + "\n", encoding="utf-8")
    return path


async def test_csv_import_stores_invoice_and_line_notes_with_their_visibility(session, org, tmp_path):
    rows = [
        f'N-1,{CUSTOMER},"Thank you, see you in December",visible,Consulting,2,100.00,20,Workshop 3 Nov,',
        f'N-1,{CUSTOMER},"Thank you, see you in December",visible,Books,1,10.50,0,Margin 40% - do not show,internal',
        f"N-2,{CUSTOMER},Chased twice by phone,INTERNAL,Consulting,2,100.00,20,,",
        f"N-2,{CUSTOMER},Chased twice by phone,INTERNAL,Books,1,10.50,0,,",
    ]
    await run_import(session, org, write_notes_csv(tmp_path, rows))

    shown = await get_invoice(session, organisation_id=org.id, number="N-1", with_lines=True)
    assert (shown.notes, shown.notes_visible) == ("Thank you, see you in December", True)
    assert [(line.note, line.note_visible) for line in shown.lines] == [
        ("Workshop 3 Nov", True),
        ("Margin 40% - do not show", False),
    ]
    internal = await get_invoice(session, organisation_id=org.id, number="N-2", with_lines=True)
    assert (internal.notes, internal.notes_visible) == ("Chased twice by phone", False)
    assert [(line.note, line.note_visible) for line in internal.lines] == [(None, True), (None, True)]


async def test_json_import_stores_notes_and_a_file_without_them_keeps_today_s_behaviour(session, org, tmp_path):
    marked = invoice_object("J-1", notes="Paid by card last time", notes_visibility="internal")
    marked["lines"][0] |= {"note": "Delivered on site", "note_visibility": "visible"}
    marked["lines"][1] |= {"note": "Cost price 4.00", "note_visibility": "internal"}
    await run_import(session, org, write_json(tmp_path, [marked, invoice_object("J-2")]))

    first = await get_invoice(session, organisation_id=org.id, number="J-1", with_lines=True)
    assert (first.notes, first.notes_visible) == ("Paid by card last time", False)
    assert [(line.note, line.note_visible) for line in first.lines] == [
        ("Delivered on site", True),
        ("Cost price 4.00", False),
    ]
    plain = await get_invoice(session, organisation_id=org.id, number="J-2", with_lines=True)
    assert (plain.notes, plain.notes_visible) == (None, True)


async def test_a_bad_csv_visibility_is_refused_naming_its_line_and_nothing_is_stored(session, org, tmp_path):
    rows = [
        f"N-1,{CUSTOMER},Hello,secret,Consulting,2,100.00,20,,",
        f"N-1,{CUSTOMER},Hello,secret,Books,1,10.50,0,Cost price,hidden",
    ]
    problems = await rejected(session, org, write_notes_csv(tmp_path, rows))

    assert (
        "line 2: notes_visibility 'secret' is not a visibility: write internal or visible (empty means visible)"
        in problems
    )
    assert (
        "line 3: line_note_visibility 'hidden' is not a visibility: write internal or visible (empty means visible)"
        in problems
    )
    assert await count_rows(session, Invoice) == 0


async def test_a_bad_json_visibility_is_refused_naming_the_invoice_s_line_and_item(session, org, tmp_path):
    bad = invoice_object("J-1", notes="x", notes_visibility="private")
    bad["lines"][1] |= {"note": "y", "note_visibility": True}
    problems = await rejected(session, org, write_json(tmp_path, [bad]))

    assert any(
        item.startswith("line 2: invoice J-1: notes_visibility 'private' is not a visibility") for item in problems
    ), problems
    assert "line 2: invoice J-1: line item 2: note_visibility must be text" in problems, problems
    assert await count_rows(session, Invoice) == 0


async def test_reimporting_with_a_note_turned_internal_updates_the_invoice(session, org, tmp_path):
    await run_import(session, org, write_json(tmp_path, [invoice_object("J-1", notes="See you soon")]))
    changed = invoice_object("J-1", notes="See you soon", notes_visibility="internal")
    summary = await run_import(session, org, write_json(tmp_path, [changed]))

    assert summary.invoices_updated == 1
    invoice = await get_invoice(session, organisation_id=org.id, number="J-1")
    await session.refresh(invoice)
    assert invoice.notes_visible is False

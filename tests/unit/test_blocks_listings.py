"""Block builders for what `/invoices` answers: help, an unknown command, one invoice, the sent list, *Send all*.

Built from plain data, no server and no database; the assertions read what a person reads
(texts, buttons, their action ids and values) and check that user text arrives escaped.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from handlers.blocks.bulk import (
    MAX_LISTED,
    BulkItem,
    BulkResultLine,
    bulk_confirmation_view,
    bulk_result_view,
    decode_numbers,
)
from handlers.blocks.deliveries import deliveries_blocks, unmatched_events_block
from handlers.blocks.elements import (
    InvoiceView,
    LineView,
    help_blocks,
    invoice_blocks,
    unknown_command_blocks,
    with_notice,
)
from handlers.ids import BlockId, CallbackId
from services.errors import InvalidInput
from services.tracking.status import DeliverySummary
from tests.harness.reading import texts

HOSTILE = "<!channel> *pay*"
HOSTILE_SHOWN = "&lt;!channel&gt; ∗pay∗"


def an_invoice(**changes: object) -> InvoiceView:
    values: dict[str, object] = {
        "number": "INV-0001",
        "customer_name": "Acme Corp",
        "status": "validated",
        "issue_date": date(2026, 10, 1),
        "due_date": date(2026, 11, 1),
        "currency": "EUR",
        "subtotal": Decimal("100.00"),
        "tax_total": Decimal("20.00"),
        "total": Decimal("120.00"),
        "recipients": ("ap@acme.example",),
        "lines": (LineView("Consulting", Decimal("1.00"), Decimal("100.00")),),
    }
    return InvoiceView(**(values | changes))  # type: ignore[arg-type]


def test_help_names_every_subcommand_with_what_it_does() -> None:
    [read] = texts(help_blocks())

    assert read.startswith("*invoicebot* sends your customer invoices by email and follows each email.\n")
    sent = "sent [customer] [status] [since YYYY-MM-DD | until YYYY-MM-DD | last N days]"
    for usage in ("due [customer]", "show NUMBER", sent, "find TEXT", "problems", "help"):
        assert f"• `/invoices {usage}` — " in read


def test_an_unknown_subcommand_is_quoted_escaped_and_clipped_then_help_follows() -> None:
    first, help_text = texts(unknown_command_blocks(HOSTILE + "x" * 60))

    assert first.startswith(f"I don't know `{HOSTILE_SHOWN}")
    assert "<!channel>" not in first
    assert first.endswith("`. Here is what I can do:")
    assert help_text == texts(help_blocks())[0]


def test_a_notice_is_said_above_the_listing_it_refreshes() -> None:
    listing = help_blocks()

    assert texts(with_notice("✅ INV-7 marked as sent", listing)) == ["✅ INV-7 marked as sent", *texts(listing)]


def test_an_overdue_invoice_reads_its_facts_lines_and_that_no_email_went_out() -> None:
    blocks = invoice_blocks(an_invoice(), today=date(2026, 11, 23), locale="en_GB")

    assert blocks[0]["type"] == "header"
    header, facts, lines, emails = texts(blocks)
    assert header == "Invoice INV-0001"
    assert facts == (
        "*Customer:* Acme Corp\n*Status:* validated\n*Issued:* 1 October 2026\n"
        "*Due:* 1 November 2026 (22 days overdue)\n*Total:* €120.00 (€100.00 + tax €20.00)\n*To:* ap@acme.example"
    )
    assert lines == "*Lines*\n• Consulting × 1 — €100.00"
    assert emails == "*Emails*\nNo email has been sent for this invoice yet."


def test_an_invoice_shows_customer_text_escaped_and_who_sent_it() -> None:
    sent = an_invoice(
        customer_name=HOSTILE,
        lines=(LineView(HOSTILE, Decimal(2), Decimal("50.00")),),
        status="sent",
        sent_at=datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
        sent_via="email",
        sent_by="U0ALICE",
    )
    _header, facts, lines, emails = texts(invoice_blocks(sent, today=date(2026, 11, 23), locale="en_GB"))

    assert f"*Customer:* {HOSTILE_SHOWN}\n" in facts
    assert "*Due:* 1 November 2026\n" in facts  # a sent invoice is not overdue
    assert lines == f"*Lines*\n• {HOSTILE_SHOWN} × 2 — €50.00"
    assert emails == "*Emails*\nSent by email on 2 November 2026 by <@U0ALICE>."


def test_an_invoice_of_many_lines_shows_ten_and_counts_the_rest() -> None:
    many = tuple(LineView(f"Item {n}", Decimal(1), Decimal(1)) for n in range(13))
    _header, _facts, lines, _emails = texts(
        invoice_blocks(an_invoice(lines=many), today=date(2026, 11, 23), locale="en_GB")
    )

    assert lines.count("\n• ") == 10
    assert lines.endswith("\n…and 3 more lines")


def a_summary(**changes: object) -> DeliverySummary:
    moment = datetime(2026, 11, 23, 14, 3, tzinfo=UTC)
    values: dict[str, object] = {
        "delivery_id": 7,
        "invoice_number": "INV-0001",
        "customer_name": "Acme Corp",
        "amount": "€120.00",
        "to": ("ap@acme.example",),
        "status": "bounced",
        "requested_by": "U0ALICE",
        "created_at": moment,
        "updated_at": moment,
        "detail": None,
    }
    return DeliverySummary(**(values | changes))  # type: ignore[arg-type]


def test_the_sent_list_says_each_email_its_status_in_words_and_who_asked() -> None:
    blocks = deliveries_blocks([a_summary(detail=f"550 5.1.1 {HOSTILE}")], title="Latest invoice emails", empty="-")

    assert blocks[0]["text"]["text"] == "Latest invoice emails"
    [line] = texts(blocks[1:])
    first, second, third = line.split("\n")
    assert first == "*INV-0001* · Acme Corp · €120.00"
    assert second.startswith("To ap@acme.example · ❌ bounced · ")
    assert second.endswith(" · asked by <@U0ALICE>")
    assert third == f"> 550 5.1.1 {HOSTILE_SHOWN}"


def test_a_bounced_reminder_in_the_problems_reads_as_a_reminder_not_as_the_invoice_email() -> None:
    blocks = deliveries_blocks(
        [a_summary(reminder=True, requested_by="reminders", detail="550 5.1.1 no such user")],
        title="Emails that need a person",
        empty="-",
    )

    [line] = texts(blocks[1:])
    first, second, _ = line.split("\n")
    assert first == "Reminder for *INV-0001* · Acme Corp"  # no one invoice's amount: it lists several
    assert second.startswith("To ap@acme.example · ❌ bounced · ")


def test_an_empty_list_says_so_and_unmatched_events_are_counted_in_words() -> None:
    assert texts(deliveries_blocks([], title="Problems", empty="No email needs a person ✅")) == [
        "No email needs a person ✅"
    ]
    assert texts([unmatched_events_block(1)])[0].startswith("📭 1 bounce or provider message could not be matched")
    assert texts([unmatched_events_block(3)])[0].startswith("📭 3 bounce or provider messages could not be matched")


def test_the_send_all_confirmation_lists_each_invoice_with_its_recipients_and_names_them_in_its_metadata() -> None:
    items = [
        BulkItem("A-1", "Acme Corp", "€120.00", ("ap@acme.example",)),
        BulkItem("G-1", HOSTILE, "€50.00", ()),
    ]
    view = bulk_confirmation_view(items)

    assert (view["callback_id"], view["submit"]["text"], view["close"]["text"]) == (CallbackId.BULK, "Send 2", "Cancel")
    assert texts(view["blocks"]) == [
        "Send *2 invoices*, one email each, to these recipients?",
        "*A-1* · Acme Corp · €120.00\nTo ap@acme.example",
        f"*G-1* · {HOSTILE_SHOWN} · €50.00\nTo nobody",
    ]
    assert view["blocks"][-1]["block_id"] == BlockId.BULK_LIST
    assert decode_numbers(view["private_metadata"]) == ["A-1", "G-1"]


def test_a_long_confirmation_lists_the_first_ones_and_counts_the_rest() -> None:
    items = [BulkItem(f"INV-{n:04d}", "Acme Corp", "€1.00", ("ap@acme.example",)) for n in range(MAX_LISTED + 5)]
    read = texts(bulk_confirmation_view(items)["blocks"])

    assert len([line for line in read if line.startswith("*INV-")]) == MAX_LISTED
    assert "and 5 more" in read


def test_a_forged_confirmation_metadata_is_refused_in_a_sentence() -> None:
    with pytest.raises(InvalidInput, match="press Send all ready again"):
        decode_numbers('{"not": "a list"}')


def test_the_send_all_outcome_counts_what_was_asked_and_what_was_skipped_and_why() -> None:
    view = bulk_result_view(
        [BulkResultLine("A-1", "queued", sent=True), BulkResultLine("D-1", f"no email address {HOSTILE}", sent=False)]
    )

    assert view["close"]["text"] == "Done"
    assert texts(view["blocks"]) == [
        f"✅ *1 asked to send*\n• *A-1* — queued\n\n⚠️ *1 skipped*\n• *D-1* — no email address {HOSTILE_SHOWN}"
    ]

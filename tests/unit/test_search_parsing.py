"""The `/invoices sent` filter grammar and the amounts `/invoices find` reads: pure rules."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from handlers.blocks.search import SentListing
from services.db.models import DeliveryStatus
from services.errors import InvalidInput
from services.invoicing.search import WrittenAmount, escape_like, fold, parse_written_amount
from services.paging import Paging, clamped_page
from services.tracking.sent_filter import SentFilter, parse_sent_filter

DAY = date(2026, 11, 23)


@pytest.mark.parametrize(
    ("written", "amount", "currency"),
    [
        ("1 250,00", "1250.00", None),
        ("1\u00a0250,00", "1250.00", None),
        ("1250", "1250", None),
        ("EUR 1250.00", "1250.00", "EUR"),
        ("1250.00 eur", "1250.00", "EUR"),
        ("€1,250.00", "1250.00", "EUR"),
        ("1.250,00", "1250.00", None),
        ("1,250", "1250", None),
        ("1250,5", "1250.5", None),
        ("1'250.00", "1250.00", None),
    ],
)
def test_amounts_are_read_as_people_write_them(written: str, amount: str, currency: str | None) -> None:
    assert parse_written_amount(written) == WrittenAmount(Decimal(amount), currency)


@pytest.mark.parametrize("written", ["INV-0042", "acme", "12.5.3", "1,2,3", "EUR", "%", "EUR 12 USD", ""])
def test_what_is_no_amount_is_none(written: str) -> None:
    assert parse_written_amount(written) is None


def test_folding_ignores_case_and_accents_and_like_input_is_literal() -> None:
    assert fold("Société GÉNÉRALE") == fold("societe generale") == "societe generale"
    assert escape_like("100%_a\\b") == "100\\%\\_a\\\\b"


def test_the_sent_grammar_reads_customer_statuses_and_period_in_any_order() -> None:
    assert parse_sent_filter("", today=DAY) == SentFilter()
    assert parse_sent_filter("Acme Corp bounced unknown last 30 days", today=DAY) == SentFilter(
        "Acme Corp", frozenset({DeliveryStatus.BOUNCED, DeliveryStatus.UNKNOWN}), date(2026, 10, 24)
    )
    assert parse_sent_filter("viewed since 2026-11-01 until 2026-11-20 acme", today=DAY) == SentFilter(
        "acme", frozenset({DeliveryStatus.OPENED}), date(2026, 11, 1), date(2026, 11, 20)
    )
    assert parse_sent_filter("today", today=DAY).since == DAY


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("since", "“since”"),
        ("since 2026-02-30", "(got “2026-02-30”)"),
        ("until soon", "“until”"),
        ("last 0 days", "“last 0 days”"),
        ("last 30", "“last 30”"),
        ("last many days", "“last many days”"),
        ("since 2026-11-20 until 2026-11-01", "2026-11-20 is after 2026-11-01"),
        ("x" * 201, "too long"),
    ],
)
def test_a_bad_period_is_refused_naming_it(text: str, named: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_sent_filter(text, today=DAY)
    assert named in str(refused.value)


def test_the_one_paging_rule() -> None:
    assert clamped_page(0, total_count=25, page_size=10) == 1
    assert clamped_page(9, total_count=25, page_size=10) == 3
    assert clamped_page(5, total_count=0, page_size=10) == 1
    middle = Paging(total_count=25, page=2, page_size=10)
    assert (middle.page_count, middle.has_previous, middle.has_next, middle.offset) == (3, True, True, 10)
    assert not Paging(total_count=0, page=1, page_size=10).has_next


def test_the_sent_buttons_carry_page_and_filter_and_a_forged_value_is_a_sentence() -> None:
    listing = SentListing(3, "acme bounced last 30 days")
    assert SentListing.decode(listing.encode()) == listing
    for forged in ("", "not json", '{"p": 0}', '{"p": 1e30}', '{"p": 2, "f": 7}', '{"p": 2, "f": "' + "x" * 201 + '"}'):
        with pytest.raises(InvalidInput, match="older version of the listing"):
            SentListing.decode(forged)

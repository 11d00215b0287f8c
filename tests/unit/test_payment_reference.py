"""The payment reference (services/invoicing/payment_reference.py): made and read back by python-stdnum's
rules, so a reference a customer's bank passes on leads back to exactly one invoice."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import iso11649
from stdnum.be import ogm_vcs

from services.invoicing.payment_reference import (
    belgian_reference,
    compact_reference,
    creditor_reference,
    invoice_id_of,
    payment_reference,
)


def test_a_creditor_reference_is_rf_with_valid_check_digits_in_blocks_of_four() -> None:
    reference = creditor_reference(42)

    assert reference == "RF34 0000 0042"
    assert iso11649.is_valid(reference)


def test_a_belgian_reference_is_a_valid_structured_communication() -> None:
    reference = belgian_reference(42)

    assert reference == "+++000/0000/04242+++"
    assert ogm_vcs.is_valid(reference)


def test_the_sellers_country_chooses_the_kind() -> None:
    assert payment_reference(7, seller_country="BE").startswith("+++")
    assert payment_reference(7, seller_country="be").startswith("+++")
    assert payment_reference(7, seller_country="FR").startswith("RF")
    assert payment_reference(7, seller_country=None).startswith("RF")


@given(st.integers(min_value=1, max_value=9_999_999_999))
def test_every_reference_reads_back_to_its_invoice(invoice_id: int) -> None:
    assert invoice_id_of(creditor_reference(invoice_id)) == invoice_id
    assert invoice_id_of(belgian_reference(invoice_id)) == invoice_id


@pytest.mark.parametrize(
    "typed",
    ["RF34 0000 0042", "rf3400000042", " RF34-0000-0042 ", "+++000/0000/04242+++", "000000004242", "000/0000/04242"],
)
def test_what_a_customer_types_is_normalised(typed: str) -> None:
    assert invoice_id_of(typed) == 42


@pytest.mark.parametrize(
    "typed",
    ["RF35 0000 0042", "+++000/0000/04243+++", "INV-0042", "", "RF", "12345", "+++000/0000/00097+++"],
)
def test_a_mistyped_or_foreign_reference_finds_nothing(typed: str) -> None:
    assert invoice_id_of(typed) is None


def test_compact_reference_drops_what_banks_drop() -> None:
    assert compact_reference(" +++123/4567/89002+++ ") == "123456789002"
    assert compact_reference("rf18 5390 0754 7034") == "RF18539007547034"


def test_an_id_too_long_for_a_belgian_reference_is_refused_not_truncated() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        belgian_reference(10**10)

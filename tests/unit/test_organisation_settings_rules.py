"""The settings' one rule per field (services/invoicing/settings.py), without a database."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from services.authorization import ApprovalPolicy
from services.errors import FieldErrors
from services.invoicing.settings import OrganisationSettingsValues, check_settings, form_of
from services.postal_address import PostalAddress

STORED = OrganisationSettingsValues(
    admins=("U0ALICE",),
    approvers=("U0BOB", "S0FINANCE"),
    group_members={"S0FINANCE": ("U0CAROL",)},
    legal_name="Example Trading Ltd",
    address=PostalAddress(street="1 Example Street", city="London", country="GB"),
    tax_id="GB123456789",  # stored before the check existed: its checksum is wrong
    sender_email="invoices@example.com",
)


def test_the_stored_values_come_back_unchanged_through_the_form() -> None:
    assert check_settings(form_of(STORED), before=STORED) == STORED


def test_a_group_grants_its_role_to_its_members() -> None:
    rules = STORED.rules()
    assert rules.approvers == frozenset({"U0BOB", "U0CAROL"})
    assert rules.admins == frozenset({"U0ALICE"})


def test_an_unchanged_vat_number_is_not_held_against_another_change() -> None:
    form = replace(form_of(STORED), approval_policy="always")
    assert check_settings(form, before=STORED).approval_policy == ApprovalPolicy.ALWAYS


def test_a_changed_vat_number_is_checked_and_stored_compact_with_its_prefix() -> None:
    assert check_settings(replace(form_of(STORED), tax_id="GB 980 7806 84"), before=STORED).tax_id == "GB980780684"
    with pytest.raises(FieldErrors) as refused:
        check_settings(replace(form_of(STORED), tax_id="GB980780685"), before=STORED)
    assert set(refused.value.errors) == {"tax_id"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("senders", ("alice",)),
        ("admins", ()),
        ("notify_channel", "#general"),
        ("approval_threshold", "-1"),
        ("approval_threshold", "12.345"),
        ("approval_policy", "sometimes"),
        ("reply_to", "not-an-address"),
        ("bounce_domain", "bounces example"),
        ("default_currency", "EURO"),
        ("default_language", "xx"),
        ("country", "ZZ"),
        ("legal_name", ""),
        ("cc", ("archive@example.com", "nope")),
        ("preview_lead", "soon"),
        ("preview_lead", "1441"),
    ],
)
def test_each_bad_value_is_refused_on_its_own_field(field: str, value: Any) -> None:
    with pytest.raises(FieldErrors) as refused:
        check_settings(replace(form_of(STORED), **{field: value}), before=STORED)
    assert set(refused.value.errors) == {field}


def test_changes_name_each_field_old_and_new() -> None:
    after = replace(STORED, approval_threshold=Decimal("500"), cc=("archive@example.com",))
    assert after.changes_from(STORED) == {"approval_threshold": ["0", "500"], "cc": [[], ["archive@example.com"]]}


def test_bank_details_are_checked_by_stdnum_and_kept_compact() -> None:
    typed = replace(form_of(STORED), iban="de89 3704 0044 0532 0130 00", bic="cobadeffxxx", account_holder="Treasury")
    values = check_settings(typed, before=STORED)
    assert (values.iban, values.bic, values.account_holder) == ("DE89370400440532013000", "COBADEFFXXX", "Treasury")
    assert form_of(values).iban == "DE89 3704 0044 0532 0130 00"

    with pytest.raises(FieldErrors) as wrong:
        check_settings(replace(typed, iban="DE89 3704 0044 0532 0130 01", bic="COBA"), before=STORED)
    assert set(wrong.value.errors) == {"iban", "bic"}


def test_a_bic_alone_is_refused_and_an_unchanged_stored_iban_is_not_rechecked() -> None:
    with pytest.raises(FieldErrors) as wrong:
        check_settings(replace(form_of(STORED), bic="COBADEFFXXX"), before=STORED)
    assert wrong.value.errors == {"iban": "a BIC alone cannot be paid to: give the IBAN too (or clear the BIC)"}

    legacy = replace(STORED, iban="DE00370400440532013000")  # stored before the check: wrong check digits
    changed = replace(form_of(legacy), approval_policy="always")
    assert check_settings(changed, before=legacy).iban == "DE00370400440532013000"


def test_the_preview_lead_is_whole_minutes_and_comes_back_through_the_form() -> None:
    values = check_settings(replace(form_of(STORED), preview_lead=" 60 "), before=STORED)
    assert values.preview_lead == 60
    assert form_of(values).preview_lead == "60"
    with pytest.raises(FieldErrors) as refused:
        check_settings(replace(form_of(STORED), preview_lead="-5"), before=STORED)
    assert refused.value.errors == {"preview_lead": "the preview lead is between 0 and 1440 minutes (a day)"}

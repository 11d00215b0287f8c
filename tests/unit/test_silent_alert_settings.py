"""The silent-email alert's hours per route: one rule (0 to 720, whole hours), in the settings modal."""

from __future__ import annotations

from dataclasses import replace

import pytest

from handlers.blocks.settings import block_id, parse_settings, settings_view
from services.errors import FieldErrors
from services.invoicing.settings import OrganisationSettingsValues, check_settings, form_of
from services.postal_address import PostalAddress

STORED = OrganisationSettingsValues(
    admins=("U0ALICE",),
    legal_name="Example Trading Ltd",
    address=PostalAddress(city="London", country="GB"),
    sender_email="invoices@example.com",
)


def test_the_defaults_are_24_hours_for_a_provider_and_72_for_our_own_relay_and_0_turns_it_off() -> None:
    assert (STORED.silent_after_provider_hours, STORED.silent_after_smtp_hours) == (24, 72)
    form = replace(form_of(STORED), silent_after_provider_hours=" 0 ", silent_after_smtp_hours="720")
    checked = check_settings(form, before=STORED)
    assert (checked.silent_after_provider_hours, checked.silent_after_smtp_hours) == (0, 720)
    assert checked.changes_from(STORED) == {
        "silent_after_provider_hours": [24, 0],
        "silent_after_smtp_hours": [72, 720],
    }


@pytest.mark.parametrize(
    ("provider", "smtp", "wrong"),
    [
        ("-1", "72", "silent_after_provider_hours"),
        ("24", "721", "silent_after_smtp_hours"),
        ("a day", "72", "silent_after_provider_hours"),
        ("24", "1.5", "silent_after_smtp_hours"),
    ],
)
def test_hours_outside_0_to_720_or_not_whole_are_refused_on_their_field(provider: str, smtp: str, wrong: str) -> None:
    form = replace(form_of(STORED), silent_after_provider_hours=provider, silent_after_smtp_hours=smtp)
    with pytest.raises(FieldErrors) as refused:
        check_settings(form, before=STORED)
    assert list(refused.value.errors) == [wrong]


def test_the_modal_shows_both_hours_and_reads_them_back() -> None:
    view = settings_view(form_of(replace(STORED, silent_after_smtp_hours=48)), groups={})
    inputs = {block["block_id"]: block for block in view["blocks"] if block.get("type") == "input"}
    provider, smtp = inputs[block_id("silent_after_provider_hours")], inputs[block_id("silent_after_smtp_hours")]
    assert provider["element"]["initial_value"] == "24" and smtp["element"]["initial_value"] == "48"
    assert len(view["blocks"]) <= 100

    state = {
        key: {"input": {"type": "plain_text_input", "value": block["element"].get("initial_value", "")}}
        for key, block in inputs.items()
        if block["element"]["type"] == "plain_text_input"
    }
    state[block_id("silent_after_provider_hours")]["input"]["value"] = "12"
    form = parse_settings({"state": {"values": state}})
    assert (form.silent_after_provider_hours, form.silent_after_smtp_hours) == ("12", "48")

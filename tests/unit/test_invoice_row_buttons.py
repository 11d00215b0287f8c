"""An invoice row's button values in `/invoices customer` come back from Slack untrusted: a forged or
old one is refused with a sentence, never half-read."""

from __future__ import annotations

import pytest

from handlers.parsing import lift_button_value, stop_button_value, switch_button_value
from services.errors import InvalidInput

OLDER = "This button is from an older version of the message; run /invoices customer again."


def test_the_values_read_back_what_the_buttons_carry() -> None:
    assert stop_button_value(lift_button_value("ACME", "INV-1")) == ("ACME", "INV-1")
    assert switch_button_value(lift_button_value("ACME", "INV-1", on=True)) == ("ACME", "INV-1", True)
    assert switch_button_value(lift_button_value("ACME", "INV-1", on=False)) == ("ACME", "INV-1", False)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "not json",
        '{"c": "ACME", "n": "INV-1"}',  # a Lift dispute value on the switch: no on/off
        '{"c": "ACME", "n": "INV-1", "on": "yes"}',
        '{"c": "ACME", "n": "INV-1", "on": 1}',
        '{"c": "", "n": "INV-1", "on": true}',
        '["ACME", "INV-1", true]',
    ],
)
def test_a_forged_or_old_switch_value_is_refused_with_a_sentence(raw: str) -> None:
    with pytest.raises(InvalidInput, match=OLDER):
        switch_button_value(raw)

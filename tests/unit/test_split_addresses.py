"""One way to split a typed list of addresses: the review modal, the Fix modal and the import share it."""

from __future__ import annotations

from services.email.addresses import split_addresses


def test_commas_semicolons_spaces_and_line_breaks_all_separate_addresses() -> None:
    typed = " a@x.example, b@y.example;c@z.example\n\td@w.example  e@v.example ;; ,\n"
    assert split_addresses(typed) == ("a@x.example", "b@y.example", "c@z.example", "d@w.example", "e@v.example")


def test_nothing_typed_is_no_address() -> None:
    assert split_addresses("") == split_addresses(" ,; \n") == ()

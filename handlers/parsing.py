"""Slack payloads → small dataclasses, so listeners never dig through raw JSON.

Values we put into blocks come back in clicks; they carry only opaque ids and the
listing's own query (page and customer filter), never amounts, recipients or secrets.
A value that does not parse raises `InvalidInput` with a sentence for the user.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from handlers.ids import BlockId, MenuChoice
from services.errors import InvalidInput
from services.safe_json import load_untrusted_object

MAX_FILTER_LENGTH = 80  # keeps the listing state well inside Slack's 255-character block_id
MAX_PAGE = 100_000  # far past any listing; a larger page (10^20) would overflow the database's OFFSET
MAX_ROW_ID = 2**63 - 1  # the largest BIGINT: a larger id names no row and overflows the database driver


def row_id_of(raw: object, *, stale: str) -> int:
    """The row id a button value or `private_metadata` carries; InvalidInput(`stale`) for anything else.

    Digits only (no sign, no spaces, no `1e3`), within a database integer, so a forged
    value is a sentence for the user rather than an overflow deep in the driver.
    """
    text = str(raw)
    if not (text.isascii() and text.isdigit() and len(text) <= 19 and 0 < int(text) <= MAX_ROW_ID):
        raise InvalidInput(stale)
    return int(text)


@dataclass(frozen=True)
class InvoicesCommand:
    """`/invoices <subcommand> <argument>`; an empty text means help."""

    subcommand: str
    argument: str


def parse_invoices_command(text: str | None) -> InvoicesCommand:
    words = (text or "").strip().split(maxsplit=1)
    if not words:
        return InvoicesCommand(subcommand="help", argument="")
    return InvoicesCommand(subcommand=words[0].lower(), argument=words[1].strip() if len(words) > 1 else "")


def listing_state(raw: str, *, filter_key: str, command: str, max_filter: int | None = None) -> tuple[int, str | None]:
    """A listing button's state from its value (untrusted): the page, 1 to MAX_PAGE, and the filter
    as typed (None when absent; at most `max_filter` characters when given). Anything else is a
    button from an older version of the listing (or a forged one): `InvalidInput` says which command
    to run again. `/invoices due` and `sent` read their buttons through it."""
    try:
        data = load_untrusted_object(raw)
        page = int(data.get("p", 1))
        typed = data.get(filter_key)
    except (ValueError, TypeError, OverflowError):
        page, typed = 0, None
    too_long = isinstance(typed, str) and max_filter is not None and len(typed) > max_filter
    if not 1 <= page <= MAX_PAGE or not isinstance(typed, str | None) or too_long:
        raise InvalidInput(f"This button is from an older version of the listing; run {command} again.")
    return page, typed


@dataclass(frozen=True)
class DueListing:
    """Which page of `/invoices due` a message shows; carried by its buttons."""

    page: int = 1
    customer: str | None = None

    def encode(self) -> str:
        return json.dumps({"p": self.page, "c": self.customer}, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str) -> DueListing:
        page, customer = listing_state(raw, filter_key="c", command="/invoices due")
        return cls(page=page, customer=(customer or None) and customer[:MAX_FILTER_LENGTH])

    def row_block_id(self, index: int) -> str:
        """The block id of row `index`: unique in the message, and it carries the listing."""
        return f"{BlockId.DUE_ROW}:{index}:{self.encode()}"

    @classmethod
    def from_row_block_id(cls, block_id: str) -> DueListing:
        prefix, _, rest = block_id.partition(":")
        _, _, encoded = rest.partition(":")
        if prefix != BlockId.DUE_ROW or not encoded:
            raise InvalidInput("This button is from an older version of the listing; run /invoices due again.")
        return cls.decode(encoded)


@dataclass(frozen=True)
class InvoiceChoice:
    """A row's overflow choice: what to do to which invoice, seen from which listing."""

    choice: MenuChoice
    number: str
    listing: DueListing


def menu_value(choice: MenuChoice, number: str) -> str:
    return f"{choice}:{number}"


def parse_menu_action(action: Mapping[str, Any]) -> InvoiceChoice:
    raw = str((action.get("selected_option") or {}).get("value", ""))
    name, _, number = raw.partition(":")
    try:
        choice = MenuChoice(name)
    except ValueError:
        raise InvalidInput("That menu option is not known; run /invoices due again.") from None
    if not number:
        raise InvalidInput("That menu option names no invoice; run /invoices due again.")
    return InvoiceChoice(choice=choice, number=number, listing=DueListing.from_row_block_id(str(action["block_id"])))


@dataclass(frozen=True)
class Actor:
    """Who acted: the Slack user id is what the audit log records."""

    user_id: str
    team_id: str | None


def actor_of(body: Mapping[str, Any]) -> Actor:
    user = body.get("user")
    if isinstance(user, Mapping):
        return Actor(user_id=str(user.get("id", "")), team_id=user.get("team_id"))
    return Actor(user_id=str(body.get("user_id", "")), team_id=body.get("team_id"))


MAX_CUSTOMER_QUERY = 80


def customer_query(argument: str) -> str:
    """`/invoices customer NAME`'s NAME (a name, part of one, or a reference), or a sentence asking for it."""
    text = argument.strip()
    if not text:
        raise InvalidInput("Which customer? Try /invoices customer acme (a name or a reference).")
    if len(text) > MAX_CUSTOMER_QUERY:
        raise InvalidInput(f"A customer's name or reference is at most {MAX_CUSTOMER_QUERY} characters here.")
    return text


def lift_button_value(ref: str, number: str, *, on: bool | None = None) -> str:
    """An invoice row's button value: the customer (to show it again) and the invoice; `on` for the
    reminders switch (*Turn reminders on/off*), left out for *Lift dispute*."""
    data: dict[str, object] = {"c": ref, "n": number} | ({} if on is None else {"on": on})
    return json.dumps(data, separators=(",", ":"))


def switch_button_value(raw: str) -> tuple[str, str, bool]:
    """(customer ref, invoice number, on) from a reminders switch's value (untrusted)."""
    ref, number = stop_button_value(raw)
    on = load_untrusted_object(raw).get("on")
    if not isinstance(on, bool):
        raise InvalidInput("This button is from an older version of the message; run /invoices customer again.")
    return ref, number, on


def stop_button_value(raw: str) -> tuple[str, str]:
    """(customer ref, invoice number) from a *Lift dispute* value (untrusted); InvalidInput when it is not one."""
    try:
        data = load_untrusted_object(raw)
    except (ValueError, TypeError):
        data = {}
    ref, number = data.get("c"), data.get("n")
    if not isinstance(ref, str) or not isinstance(number, str) or not ref or not number:
        raise InvalidInput("This button is from an older version of the message; run /invoices customer again.")
    return ref, number

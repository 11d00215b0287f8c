"""`/invoices find TEXT`: an organisation's invoices by number, customer name or amount.

- The number matches as a case-insensitive fragment; the LIKE wildcards of the input (`%`,
  `_`) and the escape character are escaped, so "%" finds a literal percent sign.
- A customer matches when its reference is the text or its name contains it, compared
  folded (`fold`: case and accents ignored, "societe" finds "Société") — the same in Python
  on SQLite and PostgreSQL, so neither database's collation decides. The organisation's
  customers are read as (id, ref, name) and folded here: an organisation has thousands of
  customers, not millions (its invoices are the large table, and they are matched in SQL).
- An amount is read as people write it ("1 250,00", "1250", "EUR 1250.00", "€1,250.00")
  and matches an invoice's total (in that currency, when one is written).

Every query is scoped to one organisation: another workspace's invoices never appear.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import ColumnElement, func, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Customer, Invoice, InvoiceStatus
from services.invoicing.states import InvoiceStateView, invoice_state, latest_deliveries

MAX_FIND_TEXT = 80
FIND_LIMIT = 10

_CURRENCY_SIGNS = {"€": "EUR", "$": "USD", "£": "GBP", "¥": "JPY", "₣": "CHF"}
_AMOUNT = re.compile(
    r"^(?:(?P<pre>[A-Za-z]{3}|[€$£¥₣])\s*)?(?P<number>\d[\d\s.,'’]*)(?:\s*(?P<post>[A-Za-z]{3}|[€$£¥₣]))?$"
)
_SPACES = re.compile(r"[\s'’]")  # thousands separators written as spaces (incl. no-break) or apostrophes


def fold(text: str) -> str:
    """`text` without case and accents: "Société Générale" → "societe generale"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def escape_like(text: str) -> str:
    """`text` as a literal LIKE pattern fragment (escape character `\\`)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class WrittenAmount:
    amount: Decimal
    currency: str | None


def _decimal_of(digits: str) -> Decimal | None:
    """ "1.250,00", "1,250.00", "1250,5", "1.250" (a thousands dot) → Decimal; None if no amount."""
    text = _SPACES.sub("", digits)
    separators = [char for char in text if char in ".,"]
    if separators:
        last = max(text.rfind("."), text.rfind(","))
        decimals = text[last + 1 :]
        whole = text[:last]
        # A single kind of separator followed by three digits groups thousands ("1,250", "1.250.000").
        if len(set(separators)) == 1 and (len(separators) > 1 or len(decimals) == 3):
            if not re.fullmatch(rf"\d{{1,3}}(?:{re.escape(separators[0])}\d{{3}})+", text):
                return None
            whole, decimals = text.replace(separators[0], ""), ""
        elif not decimals:
            return None
        whole = whole.replace(".", "").replace(",", "")
        text = f"{whole}.{decimals}" if decimals else whole
    if not text.isdigit() and not re.fullmatch(r"\d+\.\d+", text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def parse_written_amount(text: str) -> WrittenAmount | None:
    """An amount as people write it, with its currency if written; None when `text` is none."""
    match = _AMOUNT.match(text.strip())
    if match is None or (match["pre"] and match["post"]):
        return None
    amount = _decimal_of(match["number"].strip())
    if amount is None or len(match["number"]) > 24:
        return None
    sign = match["pre"] or match["post"]
    currency = _CURRENCY_SIGNS.get(sign, sign.upper()) if sign else None
    return WrittenAmount(amount, currency)


async def matching_customer_ids(session: AsyncSession, *, organisation_id: int, text: str) -> list[int]:
    """The organisation's customers whose reference is `text` or whose name contains it, folded."""
    needle = fold(text.strip())
    if not needle:
        return []
    rows = await session.execute(
        select(Customer.id, Customer.ref, Customer.name).where(Customer.organisation_id == organisation_id)
    )
    return [id_ for id_, ref, name in rows.all() if fold(ref) == needle or needle in fold(name)]


def spellings(amount: Decimal) -> list[Decimal]:
    """`amount` with 0 to 4 decimal places, where exact: "1250", "1250.0" … "1250.0000".

    SQLite keeps money as exact text (services.db.models.base.Money), written as its Decimal
    was; comparing with every exact spelling finds it on the index (organisation_id, total),
    as PostgreSQL's NUMERIC equality does with any of them.
    """
    forms = []
    for places in range(5):
        shaped = amount.quantize(Decimal(1).scaleb(-places))
        if shaped == amount:
            forms.append(shaped)
    return forms


def amount_condition(written: WrittenAmount) -> ColumnElement[bool]:
    """Invoices whose total is `written` (in its currency, when one is written)."""
    same = Invoice.total.in_(spellings(written.amount))
    if written.currency:
        return same & (Invoice.currency == written.currency)
    return same


@dataclass(frozen=True)
class FoundInvoice:
    number: str
    customer_name: str
    total: Decimal
    currency: str
    status: InvoiceStatus
    state: InvoiceStateView


@dataclass(frozen=True)
class FoundInvoices:
    items: tuple[FoundInvoice, ...]
    total_count: int  # every match; `items` are the newest FIND_LIMIT of them


async def find_invoices(
    session: AsyncSession, *, organisation_id: int, text: str, limit: int = FIND_LIMIT
) -> FoundInvoices:
    """The organisation's invoices whose number, customer or amount matches `text`, newest first."""
    needle = text.strip()[:MAX_FIND_TEXT]
    if not needle:
        return FoundInvoices((), 0)
    # One subquery per way of matching, each on its own index (the number's unique index,
    # ix_invoices_customer, ix_invoices_org_total), their ids united: an OR of the three
    # would scan every invoice of the organisation.
    own = Invoice.organisation_id == organisation_id
    ways = [
        select(Invoice.id).where(own, func.lower(Invoice.number).like(f"%{escape_like(needle.lower())}%", escape="\\"))
    ]
    customer_ids = await matching_customer_ids(session, organisation_id=organisation_id, text=needle)
    if customer_ids:
        ways.append(select(Invoice.id).where(Invoice.customer_id.in_(customer_ids)))  # the organisation's customers
    written = parse_written_amount(needle)
    if written is not None:
        ways.append(select(Invoice.id).where(own, amount_condition(written)))
    # Each way is the organisation's already; restating it here or on the customer's way lets
    # SQLite's planner (no ANALYZE) scan the organisation's index instead of these.
    # The count rides on the page's rows (a window over every match, before the LIMIT): the
    # ways are read once, not once for the count and again for the page.
    rows = (
        await session.execute(
            select(Invoice.id, Invoice.number, Customer.name, Invoice.total, Invoice.currency)
            .add_columns(Invoice.status, Invoice.sent_via, func.count().over())
            .join(Customer, Customer.id == Invoice.customer_id)
            .where(Invoice.id.in_(union(*ways)))
            .order_by(Invoice.issue_date.desc(), Invoice.id.desc())
            .limit(max(1, limit))
        )
    ).all()
    if not rows:
        return FoundInvoices((), 0)
    latest = await latest_deliveries(session, [row[0] for row in rows])
    items = tuple(
        FoundInvoice(
            number=number,
            customer_name=customer_name,
            total=amount,
            currency=currency,
            status=InvoiceStatus(status),
            state=invoice_state(status=status, sent_via=sent_via, latest=latest.get(id_)),
        )
        for id_, number, customer_name, amount, currency, status, sent_via, _ in rows
    )
    return FoundInvoices(items, rows[0][-1])

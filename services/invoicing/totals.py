"""Invoice totals from lines: net per line, tax per rate, rounding per currency.

Each line carries its own tax rate. Line nets are rounded to the currency's minor unit;
tax is computed on the sum of nets of each rate and rounded once per rate, which is what
EN 16931 (BR-CO-17) and the UBL export require, so the PDF, the UBL and the database
always agree to the cent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from services.money import round_money


@dataclass(frozen=True)
class LineAmounts:
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal  # percent


@dataclass(frozen=True)
class TaxBreakdown:
    rate: Decimal
    taxable: Decimal
    tax: Decimal


@dataclass(frozen=True)
class Totals:
    line_nets: tuple[Decimal, ...]
    taxes: tuple[TaxBreakdown, ...]
    subtotal: Decimal
    tax_total: Decimal
    total: Decimal


def line_net(line: LineAmounts, currency: str) -> Decimal:
    return round_money(line.quantity * line.unit_price, currency)


def compute_totals(lines: Iterable[LineAmounts], currency: str) -> Totals:
    nets: list[Decimal] = []
    by_rate: dict[Decimal, Decimal] = defaultdict(Decimal)
    for line in lines:
        net = line_net(line, currency)
        nets.append(net)
        by_rate[line.tax_rate.normalize()] += net
    taxes = tuple(
        TaxBreakdown(rate=rate, taxable=taxable, tax=round_money(taxable * rate / 100, currency))
        for rate, taxable in sorted(by_rate.items())
    )
    subtotal = round_money(sum(nets, Decimal(0)), currency)
    tax_total = round_money(sum((t.tax for t in taxes), Decimal(0)), currency)
    return Totals(tuple(nets), taxes, subtotal, tax_total, subtotal + tax_total)

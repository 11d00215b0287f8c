"""Import refuses an address the mail server could not carry, naming the line and the column."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from services.db.models import Customer
from tests.services.test_importing import rejected, run_import, write_csv

ROW = "INV-1,ACME,Acme Corp,{emails},{cc},en,2026-11-01,2026-12-01,EUR,validated,Consulting,1,100.00,20,120.00"


async def test_import_refuses_a_non_ascii_name_before_the_at_naming_line_and_column(session, org, tmp_path: Path):
    path = write_csv(tmp_path, [ROW.format(emails="ap@acme.example", cc="zoë@acme.example")])

    problems = await rejected(session, org, path)

    assert problems == [
        "line 2: customer_cc: zoë@… has a non-ASCII name before the @; your mail server does not accept such "
        "addresses (no SMTPUTF8)"
    ]
    assert await session.scalar(select(func.count()).select_from(Customer)) == 0


async def test_import_keeps_an_idn_domain_readable(session, org, tmp_path: Path):
    await run_import(session, org, write_csv(tmp_path, [ROW.format(emails="ap@Bücher.example", cc="")]))

    assert await session.scalar(select(Customer.emails)) == ["ap@bücher.example"]

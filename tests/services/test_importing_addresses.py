"""Import refuses an address the mail server could not carry, naming the line and the column."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from services.db.models import Customer
from tests.harness.importing import invoice_object, rejected, run_import, write_csv, write_json

ROW = "INV-1,ACME,Acme Corp,{emails},{cc},en,2026-11-01,2026-12-01,EUR,validated,Consulting,1,100.00,20,120.00"


async def test_import_refuses_a_non_ascii_name_before_the_at_naming_line_and_column(session, org, tmp_path: Path):
    path = write_csv(tmp_path, [ROW.format(emails="ap@acme.example", cc="zoë@acme.example")])

    problems = await rejected(session, org, path)

    assert problems == [
        "line 2: customer_cc: zoë@… has a non-ASCII name before the @; your mail server does not accept such "
        "addresses (no SMTPUTF8)"
    ]
    assert await session.scalar(select(func.count()).select_from(Customer)) == 0


async def test_import_takes_a_non_ascii_name_before_the_at_when_the_mail_server_offers_smtputf8(
    session, org, tmp_path: Path
):
    org.smtp_utf8 = True  # recorded when the SMTP settings were verified (services.email.verification)
    await session.commit()
    csv_path = write_csv(tmp_path, [ROW.format(emails="zoë@acme.example", cc="")])
    customer = {"ref": "GLOBEX", "name": "Globex", "emails": ["josé@globex.example"], "cc": ["zoë@globex.example"]}
    json_path = write_json(tmp_path, [invoice_object("J-1", customer=customer)])

    await run_import(session, org, csv_path)
    await run_import(session, org, json_path)

    stored = (await session.execute(select(Customer.ref, Customer.emails, Customer.cc).order_by(Customer.ref))).all()
    assert [tuple(row) for row in stored] == [
        ("ACME", ["zoë@acme.example"], []),
        ("GLOBEX", ["josé@globex.example"], ["zoë@globex.example"]),
    ]


async def test_a_json_import_refuses_a_non_ascii_name_before_the_at_without_smtputf8(session, org, tmp_path: Path):
    customer = {"ref": "GLOBEX", "name": "Globex", "emails": ["josé@globex.example"]}

    problems = await rejected(session, org, write_json(tmp_path, [invoice_object("J-1", customer=customer)]))

    assert problems == [
        "line 2: invoice J-1: customer emails: josé@… has a non-ASCII name before the @; your mail server does not "
        "accept such addresses (no SMTPUTF8)"
    ]
    assert await session.scalar(select(func.count()).select_from(Customer)) == 0


async def test_import_keeps_an_idn_domain_readable(session, org, tmp_path: Path):
    await run_import(session, org, write_csv(tmp_path, [ROW.format(emails="ap@Bücher.example", cc="")]))

    assert await session.scalar(select(Customer.emails)) == ["ap@bücher.example"]


async def test_import_splits_addresses_on_commas_semicolons_and_spaces_as_the_modals_do(session, org, tmp_path: Path):
    row = ROW.format(emails='"ap@acme.example billing@acme.example;cfo@acme.example"', cc="")

    await run_import(session, org, write_csv(tmp_path, [row]))

    assert await session.scalar(select(Customer.emails)) == [
        "ap@acme.example",
        "billing@acme.example",
        "cfo@acme.example",
    ]

"""Customer addresses in an import file: in parts, or as the old one text read into parts the way
the database migration reads it; refused with the field and the line when they cannot be kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.db.models import Customer, Invoice
from services.invoicing.invoices import get_invoice
from tests.harness.database import count_rows
from tests.harness.importing import invoice_object, rejected, run_import, write_json

PARTS_HEADER = (
    "invoice_number,customer_ref,customer_name,customer_street,customer_additional,customer_city,"
    "customer_postal_code,customer_subdivision,customer_country,customer_address,issue_date,due_date,currency,"
    "description,quantity,unit_price,tax_rate,invoice_total"
)
ROW = (
    "A-1,ACME,Acme,{street},{additional},{city},{postal_code},{subdivision},{country},{address},"
    "2026-11-01,2026-12-01,EUR,Work,1,10,0,10"
)
EMPTY = dict(street="", additional="", city="", postal_code="", subdivision="", country="", address="")


def _csv(tmp_path: Path, **cells: str) -> Path:
    path = tmp_path / "postal.csv"
    path.write_text(PARTS_HEADER + "\n" + ROW.format(**{**EMPTY, **cells}) + "\n", encoding="utf-8")
    return path


def _parts(customer: Customer) -> tuple[str | None, ...]:
    return (
        customer.street,
        customer.additional,
        customer.city,
        customer.postal_code,
        customer.subdivision,
        customer.country,
    )


async def test_csv_address_columns_are_stored_as_parts(session, org, tmp_path):
    path = _csv(
        tmp_path,
        street="Via Torino 42",
        additional="Scala B",
        city="Milano",
        postal_code="20123",
        subdivision="MI",
        country="it",
    )

    await run_import(session, org, path)

    invoice = await get_invoice(session, organisation_id=org.id, number="A-1")
    assert _parts(invoice.customer) == ("Via Torino 42", "Scala B", "Milano", "20123", "MI", "IT")


async def test_the_old_one_text_address_is_read_into_parts_in_csv_and_json_alike(session, org, tmp_path):
    await run_import(session, org, _csv(tmp_path, address='"14 Fleet Street\nLondon EC4Y 1AA\nUnited Kingdom"'))
    old_json = invoice_object(
        "J-1",
        customer={"ref": "DUPONT", "name": "Dupont", "address": "27 rue de la République\n69002 Lyon\nFrance"},
    )
    await run_import(session, org, write_json(tmp_path, [old_json]))

    csv_customer = (await get_invoice(session, organisation_id=org.id, number="A-1")).customer
    json_customer = (await get_invoice(session, organisation_id=org.id, number="J-1")).customer
    assert _parts(csv_customer) == ("14 Fleet Street", "", "London", "EC4Y 1AA", "", "GB")
    assert _parts(json_customer) == ("27 rue de la République", "", "Lyon", "69002", "", "FR")


async def test_json_address_fields_are_stored_as_parts(session, org, tmp_path):
    customer = {
        "ref": "ROTT",
        "name": "Rotterdam BV",
        "street": "Havenstraat 112",
        "city": "Rotterdam",
        "postal_code": "3011 AK",
        "country": "NL",
    }

    await run_import(session, org, write_json(tmp_path, [invoice_object(customer=customer)]))

    stored = (await get_invoice(session, organisation_id=org.id, number="J-1")).customer
    assert _parts(stored) == ("Havenstraat 112", "", "Rotterdam", "3011 AK", "", "NL")


@pytest.mark.parametrize(
    ("cells", "problem"),
    [
        (
            {"address": "1 Main St", "city": "Springfield"},
            "line 2: customer_address and customer_city are both given; write the address in the separate fields only",
        ),
        ({"country": "EU"}, "line 2: customer_country 'EU' is not a two-letter ISO 3166 country code (e.g. GB, FR)"),
        ({"country": "France"}, "line 2: customer_country is longer than 2 characters"),
        ({"city": "Lyon\u202e"}, "line 2: customer_city contains the invisible character U+202E"),
        ({"postal_code": "1" * 21}, "line 2: customer_postal_code is longer than 20 characters"),
        ({"street": '"1 Main St\nBuilding 2"'}, "line 2: customer_street contains a line break or tab at position 10"),
    ],
)
async def test_an_address_that_cannot_be_kept_is_refused_with_field_and_line(session, org, tmp_path, cells, problem):
    problems = await rejected(session, org, _csv(tmp_path, **cells))

    assert len(problems) == 1 and problems[0].startswith(problem), problems
    assert (await count_rows(session, Customer), await count_rows(session, Invoice)) == (0, 0)


async def test_json_names_the_address_fields_it_refuses(session, org, tmp_path):
    customer = {"ref": "X", "name": "X", "address": "1 Main St\nSpringfield", "street": "1 Main St", "country": "ZZ"}

    problems = await rejected(session, org, write_json(tmp_path, [invoice_object(customer=customer)]))

    assert problems == [
        "line 2: invoice J-1: customer country 'ZZ' is not a two-letter ISO 3166 country code (e.g. GB, FR)"
    ]

"""`money_sum` adds money up exactly on both databases (SQLite keeps money as text, which its
own SUM would add as floats: 1234567890123.4567 + 0.0001 would not come back exact)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Invoice, Organisation, money_sum
from tests import factories

AMOUNTS = (Decimal("1234567890123.4567"), Decimal("0.0001"), Decimal("-0.1000"), Decimal("0.2000"), Decimal("1E+2"))


async def test_money_sum_is_exact_where_floats_are_not(session: AsyncSession, org: Organisation) -> None:
    owner = await factories.customer(session, org.id)
    for number, amount in enumerate(AMOUNTS):
        created = await factories.invoice(session, org.id, owner, number=f"S-{number}")
        await session.execute(update(Invoice).where(Invoice.id == created.id).values(total=amount))
    await session.commit()
    mine = Invoice.organisation_id == org.id
    exact = (await session.execute(select(money_sum(Invoice.total)).where(mine))).scalar_one()
    assert exact == sum(AMOUNTS) == Decimal("1234567890223.5568")
    assert (await session.execute(select(money_sum(Invoice.total)).where(mine, Invoice.id < 0))).scalar_one() is None
    by_number = dict(
        (await session.execute(select(Invoice.number, money_sum(Invoice.total)).where(mine).group_by(Invoice.number)))
        .tuples()
        .all()
    )
    assert by_number == {f"S-{n}": amount for n, amount in enumerate(AMOUNTS)}
    count = (await session.execute(select(func.count()).where(mine))).scalar_one()
    assert count == len(AMOUNTS)

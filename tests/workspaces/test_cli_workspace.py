"""`invoicebot --workspace T123 …`: the CLI and import name the organisation when there are several."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.db.models import Invoice, Organisation
from tests import factories

HEADER = (
    "invoice_number,customer_ref,customer_name,customer_emails,customer_language,issue_date,due_date,currency,"
    "description,quantity,unit_price,tax_rate,invoice_total"
)
ROW = "INV-1,ACME,Acme,ap@acme.example,en,2026-11-01,2026-12-01,EUR,Work,1,10,0,10"


async def _two_workspaces(session: AsyncSession) -> tuple[int, int]:
    one = Organisation(name="One Trading", slack_team_id="T0ONE", sender_email="a@one.example")
    two = Organisation(name="Two Imports", slack_team_id="T0TWO", sender_email="b@two.example")
    session.add_all([one, two])
    await session.commit()
    return one.id, two.id


async def _invoices_of(sessions: async_sessionmaker[AsyncSession], organisation_id: int) -> int:
    async with sessions() as session:
        query = select(func.count()).select_from(Invoice).where(Invoice.organisation_id == organisation_id)
        return int((await session.execute(query)).scalar_one())


async def test_import_without_a_workspace_is_refused_when_several_exist(run, tmp_path, session, sessions):
    one, two = await _two_workspaces(session)
    path = tmp_path / "invoices.csv"
    path.write_text(f"{HEADER}\n{ROW}\n", encoding="utf-8")

    result = run("import", str(path))

    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "serves 2 organisations" in result.stderr and "--workspace" in result.stderr
    assert await _invoices_of(sessions, one) == 0 and await _invoices_of(sessions, two) == 0


async def test_import_with_a_workspace_lands_in_that_organisation_only(run, tmp_path, session, sessions):
    one, two = await _two_workspaces(session)
    path = tmp_path / "invoices.csv"
    path.write_text(f"{HEADER}\n{ROW}\n", encoding="utf-8")

    result = run("--workspace", "T0TWO", "import", str(path))

    assert result.returncode == 0, result.stderr
    assert await _invoices_of(sessions, two) == 1 and await _invoices_of(sessions, one) == 0


async def test_an_unknown_workspace_is_refused_naming_the_known_ones(run, tmp_path, session):
    await _two_workspaces(session)

    result = run("--workspace", "T0NOPE", "invoices", "due")

    assert result.returncode == 1
    assert "No organisation belongs to workspace T0NOPE" in result.stderr and "T0ONE (One Trading)" in result.stderr


async def test_workspaces_lists_each_organisation_and_says_which_sending_is_paused(run, session):
    one, _two = await _two_workspaces(session)
    paused = await session.get(Organisation, one)
    assert paused is not None
    paused.sending_paused = "the app was uninstalled from the Slack workspace"
    await session.commit()

    result = run("workspaces")

    assert result.returncode == 1, "a paused workspace needs a person"
    assert "T0ONE" in result.stdout and "PAUSED: the app was uninstalled" in result.stdout
    assert "T0TWO" in result.stdout and "Two Imports" in result.stdout


async def test_due_in_a_paused_workspace_says_sending_is_paused(run, session):
    one, _two = await _two_workspaces(session)
    paused = await session.get(Organisation, one)
    assert paused is not None
    paused.sending_paused = "the bot's token was revoked in the Slack workspace"
    customer = await factories.customer(session, one)
    await factories.invoice(session, one, customer, number="ONE-1", due=date(2026, 1, 1))
    await session.commit()

    result = run("--workspace", "T0ONE", "invoices", "due")

    assert result.returncode == 0, result.stderr
    assert "ONE-1" in result.stdout and "sending is paused" in result.stdout

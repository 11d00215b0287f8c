"""The real `invoicebot` console script, run in a subprocess against the test database."""

from datetime import UTC, datetime
from pathlib import Path


def test_upgrade_seed_and_due_listing(run):
    assert run("db", "upgrade").returncode == 0
    seeded = run("seed", "--today", "2026-11-23")
    assert seeded.returncode == 0, seeded.stderr
    assert "31 invoices" in seeded.stdout
    assert "0 invoices (31 already there)" in run("seed", "--today", "2026-11-23").stdout

    due = run("invoices", "due", "--today", "2026-11-23", "--page-size", "50")

    assert due.returncode == 0, due.stderr
    assert "DEMO-0001" in due.stdout and "DEMO-0011" in due.stdout
    assert "DEMO-0019" not in due.stdout  # sent
    assert "the customer has no recipient email" in due.stdout
    assert "DEMO-0031" in due.stdout  # the demo's credit note, issued and unsent


def test_import_of_a_bad_file_prints_every_problem_with_its_line_and_exits_1(run, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "invoice_number,customer_ref,customer_name,issue_date,due_date,currency,description,quantity,"
        "unit_price,tax_rate,invoice_total\n"
        "A-1,ACME,Acme,2026-11-01,2026-12-01,EUR,Work,1,100,20,120\n"
        "A-2,ACME,Acme,2026-11-31,2026-12-01,EUR,Work,1,100,20,120\n"
        "A-3,ACME,Acme,2026-11-01,2026-12-01,EUR,Work,1,100,20,100\n"
    )

    result = run("import", str(path))

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "line 3: issue_date '2026-11-31' is not a date (write it as YYYY-MM-DD, e.g. 2026-11-23)"
    assert lines[1].startswith("line 4: invoice A-3: the lines add up to €120.00")
    assert lines[2] == "error: 2 problem(s) found; nothing was imported"
    assert run("invoices", "show", "A-1").returncode == 1


def test_import_of_a_good_file_prints_the_summary_and_the_invoice_can_be_shown(run):
    examples = Path(__file__).resolve().parent.parent / "examples"
    result = run("import", str(examples / "invoices.csv"))
    assert result.returncode == 0, result.stderr
    assert "3 invoices (3 created, 0 updated, 0 unchanged)" in result.stdout

    shown = run("invoices", "show", "EX-1002")

    assert shown.returncode == 0, shown.stderr
    for text in (
        "Invoice EX-1002 — validated",
        "Müller Maschinenbau GmbH (MUELLER)",
        "buchhaltung@mueller-maschinenbau.example, rechnungen@mueller-maschinenbau.example",
        "Cc:         einkauf@mueller-maschinenbau.example",
        "Fachbücher",
        "Tax 19% on €792.50: €150.58",  # the organisation's locale (en_GB) writes the rate
        "Total:      €1,007.07",
    ):
        assert text in shown.stdout


def test_state_changes_from_the_command_line(run):
    run("seed", "--today", "2026-11-23")
    validated = run("invoices", "validate", "DEMO-0011")
    assert (validated.returncode, validated.stdout.strip()) == (0, "Invoice DEMO-0011 is validated.")
    assert run("invoices", "mark-sent", "DEMO-0011").returncode == 0
    assert run("invoices", "paid", "DEMO-0011").returncode == 0
    assert "— paid" in run("invoices", "show", "DEMO-0011").stdout

    refused = run("invoices", "void", "DEMO-0011")

    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: Invoice DEMO-0011 is already paid and cannot be voided."
    missing = run("invoices", "show", "NOPE-1")
    assert (missing.returncode, missing.stderr.strip()) == (1, "error: There is no invoice 'NOPE-1'.")


def test_a_bad_setting_is_one_line_naming_the_variable_and_exits_2(run):
    result = run("invoices", "due", database="mysql://nobody@127.0.0.1/x")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: setting DATABASE_URL is invalid: Value error, must be a sqlite:/// or postgresql:// URL"
    ]


def test_an_unsupported_default_language_stops_start_up_naming_the_setting(run):
    result = run("invoices", "due", settings={"INVOICEBOT_DEFAULT_LANGUAGE": "klingon"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: setting INVOICEBOT_DEFAULT_LANGUAGE is invalid: Value error, "
        "language 'klingon' is not one of the supported languages: en, fr, de, nl, es, it"
    ]
    assert run("db", "upgrade", settings={"INVOICEBOT_DEFAULT_LANGUAGE": "fr-BE"}).returncode == 0


def test_a_broken_email_template_is_refused_with_its_line_and_a_good_one_is_saved(run, tmp_path, database_url):
    assert run("db", "upgrade").returncode == 0
    (tmp_path / "bad.j2").write_text("Invoice {{ invoice_number }}\n{{ nope }}\n")
    (tmp_path / "good.j2").write_text("Your invoice {{ invoice_number }} from {{ organisation_name }}\n")

    bad = run("templates", "set", "en", "subject", "bad.j2")
    good = run("templates", "set", "en", "subject", "good.j2")

    assert bad.returncode == 1
    assert "Line 2: 'nope' is undefined" in bad.stderr
    assert good.returncode == 0, good.stderr


async def test_suppressions_are_listed_and_lifted_by_the_operator_with_an_audit_entry(run, sessions):
    from sqlalchemy import select

    from services.db.models import AuditLog, Organisation, Suppression
    from services.formatting import format_day

    assert run("db", "upgrade").returncode == 0
    assert run("suppressions", "list").returncode == 0  # creates the organisation from settings
    async with sessions() as session:
        organisation = (await session.execute(select(Organisation))).scalar_one()
        session.add(
            Suppression(organisation_id=organisation.id, email="gone@acme.example", reason="hard_bounce", detail="550")
        )
        await session.commit()

    listed = run("suppressions", "list")
    lifted = run("suppressions", "lift", "Gone@Acme.example")
    unknown = run("suppressions", "lift", "nobody@x.example")

    assert "gone@acme.example" in listed.stdout and "hard_bounce" in listed.stdout
    assert format_day(datetime.now(UTC).date(), "en_GB") in listed.stdout  # the team's locale, not ISO
    assert lifted.returncode == 0, lifted.stderr
    assert unknown.returncode == 1 and "nobody@x.example is not on the suppression list" in unknown.stderr
    async with sessions() as session:
        row = (await session.execute(select(Suppression))).scalar_one()
        audit = (await session.execute(select(AuditLog.action, AuditLog.actor))).all()
    assert (row.active, row.lifted_by) == (False, "cli")
    assert ("suppression.lifted", "cli") in audit


async def test_links_revoke_withdraws_the_sent_link_issues_a_new_one_and_is_audited(run, sessions):
    from sqlalchemy import select

    from services.db.models import AuditLog, Invoice, RevokedInvoiceLink
    from services.tracking.links import token_sha256

    assert run("db", "upgrade").returncode == 0
    assert run("seed", "--today", "2026-11-23").returncode == 0
    async with sessions() as session:
        old_token = (await session.execute(select(Invoice.public_token).where(Invoice.number == "DEMO-0019"))).scalar()

    revoked = run("links", "revoke", "DEMO-0019")
    unknown = run("links", "revoke", "NOPE-1")

    assert revoked.returncode == 0, revoked.stderr
    assert "the links sent for DEMO-0019 are revoked; a new link goes with the next email" in revoked.stdout
    assert unknown.returncode == 1 and unknown.stderr.strip() == "error: There is no invoice NOPE-1."
    async with sessions() as session:
        invoice = (await session.execute(select(Invoice).where(Invoice.number == "DEMO-0019"))).scalar_one()
        withdrawn = (await session.execute(select(RevokedInvoiceLink))).scalar_one()
        audit = (await session.execute(select(AuditLog.action, AuditLog.actor, AuditLog.detail))).all()
    assert invoice.public_token != old_token and invoice.token_revoked_at is None
    assert (withdrawn.token_sha256, withdrawn.invoice_id, withdrawn.revoked_by) == (
        token_sha256(old_token),
        invoice.id,
        "cli",
    )
    assert ("invoice_link_revoked", "cli", {"number": "DEMO-0019", "reissued": True}) in audit


async def test_health_lists_the_loops_other_processes_report_and_forgets_a_retired_worker(run, sessions):
    from datetime import timedelta

    from services.loop_reports import LoopReport, publish_reports

    assert run("db", "upgrade").returncode == 0
    now = datetime.now(UTC)
    async with sessions() as session:
        await publish_reports(
            session,
            [
                LoopReport("worker@live", "worker", True, None, 0.5, now),
                LoopReport("worker@gone", "worker", True, None, 0.5, now - timedelta(days=2)),
            ],
        )
        await session.commit()

    hour = {"INVOICEBOT_HEALTH_STALL_SECONDS": "3600"}  # worker@live stays fresh however slow this machine is
    listed = run("health", "list", settings=hour)
    forgotten = run("health", "forget", "worker@gone")
    again = run("health", "forget", "worker@gone")
    green = run("health", "list", settings=hour)

    assert listed.returncode == 1
    assert "worker@live" in listed.stdout and "worker@gone" in listed.stdout
    assert "worker@gone: no report from its loops (worker) for 172" in listed.stdout  # 172,800 s and a few
    assert forgotten.returncode == 0 and "forgot 1 loop report(s) of worker@gone" in forgotten.stdout
    assert again.returncode == 1 and "no reports from worker@gone" in again.stdout
    assert green.returncode == 0 and "worker@gone" not in green.stdout and "worker@live" in green.stdout

"""`invoicebot texts list|set|delete|default` through the real console script against the test database."""

from __future__ import annotations

from sqlalchemy import select

from services.db.models import AuditLog, Customer, EmailText, Organisation

FRIENDLY_MESSAGE = "Hello {{ customer_name }},\n\nA friendly reminder about {{ invoice_number }} ({{ amount }}).\n"


async def _texts(sessions) -> list[tuple[str, str, str]]:
    async with sessions() as session:
        rows = await session.scalars(select(EmailText).order_by(EmailText.name, EmailText.language))
        return [(row.name, row.language, row.subject) for row in rows]


async def test_texts_are_set_listed_and_deleted_with_audit_entries(run, sessions, tmp_path):
    assert run("db", "upgrade").returncode == 0
    (tmp_path / "friendly.j2").write_text(FRIENDLY_MESSAGE)

    added = run(
        "texts", "set", "Friendly reminder", "--language", "fr",
        "--subject", "Petit rappel : {{ invoice_number }}", "--message-file", "friendly.j2",
    )  # fmt: skip
    replaced = run(
        "texts", "set", "Friendly reminder", "--language", "fr",
        "--subject", "Rappel {{ invoice_number }}", "--message-file", "friendly.j2",
    )  # fmt: skip
    listed = run("texts", "list")

    assert added.returncode == 0, added.stderr
    assert "the text “Friendly reminder” (fr) is added" in added.stdout
    assert "is replaced" in replaced.stdout
    assert "Friendly reminder" in listed.stdout and "Rappel {{ invoice_number }}" in listed.stdout
    assert await _texts(sessions) == [("Friendly reminder", "fr", "Rappel {{ invoice_number }}")]

    deleted = run("texts", "delete", "Friendly reminder", "--language", "fr")

    assert deleted.returncode == 0, deleted.stderr
    assert await _texts(sessions) == []
    async with sessions() as session:
        actions = list(await session.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    assert actions == ["email_text.saved", "email_text.saved", "email_text.deleted"]


async def test_refusals_say_why_exit_2_and_change_nothing(run, sessions, tmp_path):
    assert run("db", "upgrade").returncode == 0
    (tmp_path / "ok.j2").write_text(FRIENDLY_MESSAGE)
    (tmp_path / "unknown.j2").write_text("Hello\n{{ custmer_name }}\n")
    (tmp_path / "broken.j2").write_text("Hello {% if %}\n")

    def set_text(name: str, language: str, file: str, subject: str = "Invoice {{ invoice_number }}"):
        return run("texts", "set", name, "--language", language, "--subject", subject, "--message-file", file)

    klingon = set_text("Reminder", "tlh", "ok.j2")
    unknown = set_text("Reminder", "en", "unknown.j2")
    broken = set_text("Reminder", "en", "broken.j2")
    standard = set_text("Standard", "en", "ok.j2")
    delete_standard = run("texts", "delete", "Standard", "--language", "en")

    for result in (klingon, unknown, broken, standard, delete_standard):
        assert result.returncode == 2, (result.stdout, result.stderr)
        assert "Nothing was changed." in result.stderr
    assert "'tlh' is not one of them" in klingon.stderr
    assert "Line 2: 'custmer_name' is undefined" in unknown.stderr
    assert "Line 1:" in broken.stderr
    assert "“Standard” is the built-in text" in standard.stderr
    assert "cannot be deleted" in delete_standard.stderr
    assert await _texts(sessions) == []


async def test_a_customers_default_text_cannot_be_deleted_and_the_refusal_names_the_customer(run, sessions, tmp_path):
    assert run("db", "upgrade").returncode == 0
    assert run("texts", "list").returncode == 0  # creates the organisation from settings
    async with sessions() as session:
        organisation = (await session.execute(select(Organisation))).scalar_one()
        session.add(Customer(organisation_id=organisation.id, ref="ACME", name="Acme Corp", emails=[], cc=[]))
        await session.commit()
    (tmp_path / "ok.j2").write_text(FRIENDLY_MESSAGE)
    assert run(
        "texts", "set", "Project closing", "--language", "en",
        "--subject", "Closing {{ invoice_number }}", "--message-file", "ok.j2",
    ).returncode == 0  # fmt: skip

    unknown_text = run("texts", "default", "ACME", "Nope")
    chosen = run("texts", "default", "ACME", "Project closing")
    refused = run("texts", "delete", "Project closing", "--language", "en")
    listed = run("texts", "list")

    assert unknown_text.returncode == 2 and "There is no text “Nope”" in unknown_text.stderr
    assert chosen.returncode == 0, chosen.stderr
    assert refused.returncode == 2
    assert "“Project closing” is the default text of Acme Corp" in refused.stderr
    assert await _texts(sessions) == [("Project closing", "en", "Closing {{ invoice_number }}")]
    assert "Acme Corp" in listed.stdout

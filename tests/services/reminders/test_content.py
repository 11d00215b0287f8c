"""The reminder email a customer receives: its words per language and tone, its amounts, its HTML and its PDFs."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from email import policy
from email.parser import BytesParser
from html.parser import HTMLParser

import pytest

from bot.sandbox.smtp_server import ScriptedSmtpServer
from services.clock import utcnow
from services.documents.formats import payment_details
from services.email.message import OutgoingEmail, compose_message_bytes, make_message_id
from services.email.smtp import SmtpTransport
from services.email.templates import PaymentDetails
from services.email.transport import Envelope
from services.errors import InvalidInput
from services.formatting import format_money, reader_locale
from services.languages import SUPPORTED_LANGUAGES
from services.reminders.content import (
    TONES,
    FeeLine,
    ReminderFacts,
    ReminderInvoice,
    reminder_attachments,
    reminder_invoice,
    render_reminder_email,
)
from tests.harness.documents import document

LADDER = (-3, 0, 7, 14, 30)
HOSTILE = "<script>alert('x')</script> Acme"

# How each language writes an invoice's distance from its due date (the status column), by hand,
# so the test checks the wording rather than repeating the template's logic.
STATUS = {
    "en": {-3: "due in 3 days", 0: "due today", 7: "7 days overdue", 14: "14 days overdue", 30: "30 days overdue"},
    "de": {-3: "fällig in 3 Tagen", 0: "heute fällig", 7: "7 Tage überfällig", 14: "14 Tage überfällig",
           30: "30 Tage überfällig"},
    "fr": {-3: "échéance dans 3 jours", 0: "échéance aujourd'hui", 7: "en retard de 7 jours",
           14: "en retard de 14 jours", 30: "en retard de 30 jours"},
    "nl": {-3: "vervalt over 3 dagen", 0: "vervalt vandaag", 7: "7 dagen te laat", 14: "14 dagen te laat",
           30: "30 dagen te laat"},
    "es": {-3: "vence dentro de 3 días", 0: "vence hoy", 7: "7 días de retraso", 14: "14 días de retraso",
           30: "30 días de retraso"},
    "it": {-3: "scade tra 3 giorni", 0: "scade oggi", 7: "scaduta da 7 giorni", 14: "scaduta da 14 giorni",
           30: "scaduta da 30 giorni"},
}  # fmt: skip
FEE_WORD = {"en": "Reminder fee", "de": "Mahngebühr", "fr": "Frais de rappel", "nl": "Aanmaningskosten",
            "es": "Gastos de reclamación", "it": "Spese di sollecito"}  # fmt: skip


def _invoice(number: str, *, currency: str = "EUR", total: str = "1210.00", outstanding: str | None = None,
             days_overdue: int = 7) -> ReminderInvoice:  # fmt: skip
    today = utcnow().date()  # read when the test runs
    due = today - timedelta(days=days_overdue)
    return ReminderInvoice(
        number=number,
        issue_date=due - timedelta(days=30),
        due_date=due,
        currency=currency,
        total=Decimal(total),
        outstanding=Decimal(outstanding or total),
        days_overdue=days_overdue,
        invoice_url=f"https://invoices.example.com/i/{number.lower()}",
        payment=PaymentDetails(
            reference=f"RF18 0000 {number[-4:]}",
            iban="BE71 0961 2345 6769",
            bic="GKCCBEBB",
            account_holder="Example Trading SRL",
        ),
    )


def _facts(language: str = "en", tone: str = "neutral", offset: int = 7, **changes: object) -> ReminderFacts:
    facts = ReminderFacts(
        organisation_name="Example Trading SRL",
        sender_name="Sam Sender",
        customer_name="Acme NV",
        language=language,
        locale=reader_locale(language, "BE"),
        tone=tone,
        offset_days=offset,
        invoices=(
            _invoice("INV-2026-0041", total="1210.00", days_overdue=offset),
            _invoice("INV-2026-0042", total="484.00", outstanding="242.50", days_overdue=offset),
        ),
    )
    return replace(facts, **changes)  # type: ignore[arg-type]


class _Paragraphs(HTMLParser):
    """The text of each <p> of the HTML part except the footer, as a reader sees it."""

    def __init__(self) -> None:
        super().__init__()
        self.paragraphs: list[str] = []
        self._current: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "p" and "footer" not in (dict(attrs).get("class") or ""):
            self._current = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "p" and self._current is not None:
            self.paragraphs.append(" ".join("".join(self._current).split()))
            self._current = None

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current.append(data)


def _paragraphs(markup: str) -> list[str]:
    parser = _Paragraphs()
    parser.feed(markup)
    return [paragraph for paragraph in parser.paragraphs if paragraph]


def _visible(markup: str) -> str:
    """The HTML as text: tags dropped, entities read, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
@pytest.mark.parametrize("tone", TONES)
@pytest.mark.parametrize("offset", LADDER)
def test_reminder_names_each_invoice_its_balance_and_how_late_it_is(language: str, tone: str, offset: int) -> None:
    facts = _facts(language, tone, offset)
    email = render_reminder_email(facts)
    shown = _visible(email.html)
    locale = facts.locale

    for number in ("INV-2026-0041", "INV-2026-0042"):
        assert number in email.subject
        assert number in email.text
        assert number in shown
    for amount in (Decimal("1210.00"), Decimal("242.50")):
        written = format_money(amount, "EUR", locale)
        assert written in email.text
        assert " ".join(written.split()) in shown
    total = format_money(Decimal("1452.50"), "EUR", locale)  # 1,210.00 + 242.50 still owed
    assert total in email.text
    status = STATUS[language][offset]
    for number in ("INV-2026-0041", "INV-2026-0042"):  # each invoice's own line says how late it is
        assert any(number in line and line.endswith(status) for line in email.text.splitlines())
    assert shown.count(status) >= 2
    assert "Example Trading SRL" in email.subject
    assert "BE71 0961 2345 6769" in email.text and "BE71 0961 2345 6769" in shown


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_text_and_html_say_the_same_sentences(language: str) -> None:
    for tone in TONES:
        for offset in LADDER:
            email = render_reminder_email(_facts(language, tone, offset))
            text = " ".join(email.text.split())
            paragraphs = _paragraphs(email.html)
            assert len(paragraphs) >= 5  # organisation, greeting, opening, request, closing…
            for paragraph in paragraphs:
                assert paragraph in text, f"{language}/{tone}/{offset}: {paragraph!r} is not in the text part"


def test_overdue_wording_grows_firmer_and_names_consequences_only_when_firm() -> None:
    friendly = render_reminder_email(_facts("en", "friendly", -3))
    due_today = render_reminder_email(_facts("en", "friendly", 0))
    neutral = render_reminder_email(_facts("en", "neutral", 7))
    firm = render_reminder_email(_facts("en", "firm", 30))

    assert "A friendly heads-up" in friendly.text and "due in 3 days" in friendly.text
    assert "are due today" in due_today.text
    assert "overdue by 7 days" in neutral.text
    assert "overdue by 30 days" in firm.text and "without further delay" in firm.text
    consequence = "further steps set out in our terms of payment"
    assert consequence in firm.text and consequence in _visible(firm.html)
    assert all(consequence not in email.text for email in (friendly, due_today, neutral))


def test_one_invoice_reads_in_the_singular() -> None:
    facts = _facts("en", "neutral", 7, invoices=(_invoice("INV-7", days_overdue=7),))
    email = render_reminder_email(facts)

    assert email.subject == "Reminder: invoice INV-7 is overdue by 7 days – Example Trading SRL"
    assert "invoice INV-7 is overdue by 7 days and has not yet been paid in full." in email.text


def test_several_currencies_give_separate_totals_never_added_together() -> None:
    invoices = (
        _invoice("INV-1", currency="EUR", total="100.00"),
        _invoice("INV-2", currency="USD", total="50.00"),
        _invoice("INV-3", currency="EUR", total="20.00"),
    )
    email = render_reminder_email(_facts("en", "neutral", 7, invoices=invoices, locale="en_GB"))

    assert "Total due (EUR): €120.00" in email.text
    assert "Total due (USD): US$50.00" in email.text
    assert "170" not in email.text
    shown = _visible(email.html)
    assert "Total due (EUR) €120.00" in shown and "Total due (USD) US$50.00" in shown
    assert "3 invoices" not in email.subject  # three numbers still fit the subject
    more = render_reminder_email(_facts("en", invoices=(*invoices, _invoice("INV-4")), locale="en_GB"))
    assert "4 invoices" in more.subject and all(f"INV-{n}" in more.text for n in range(1, 5))


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_fee_line_is_shown_and_counted_only_when_the_step_gives_one(language: str) -> None:
    without = render_reminder_email(_facts(language, "firm", 14))
    fee = FeeLine(amount=Decimal("15.00"), currency="EUR")
    with_fee = render_reminder_email(_facts(language, "firm", 14, fee=fee))
    locale = reader_locale(language, "BE")

    assert FEE_WORD[language] not in without.text and FEE_WORD[language] not in without.html
    assert f"{FEE_WORD[language]}" in with_fee.text and FEE_WORD[language] in _visible(with_fee.html)
    assert format_money(Decimal("15.00"), "EUR", locale) in with_fee.text
    assert format_money(Decimal("1467.50"), "EUR", locale) in with_fee.text  # 1,452.50 owed + 15.00 fee
    labelled = render_reminder_email(_facts(language, "firm", 14, fee=replace(fee, label="Late interest (8%)")))
    assert "Late interest (8%)" in labelled.text and FEE_WORD[language] not in labelled.text


def test_html_escapes_a_hostile_customer_name() -> None:
    email = render_reminder_email(_facts("en", "friendly", 7, customer_name=HOSTILE))

    assert "<script>" not in email.html
    assert "&lt;script&gt;" in email.html
    assert f"Hello {HOSTILE}," in email.text  # the text part is plain text: shown as typed
    assert f"Hello {HOSTILE}," in _visible(email.html)


def test_partly_paid_invoice_shows_its_total_and_what_is_left() -> None:
    email = render_reminder_email(_facts("en", "neutral", 7, locale="en_GB"))

    assert "Invoice total: €484.00 | Outstanding: €242.50" in email.text
    assert "Outstanding: €1,210.00" in email.text


def test_each_invoice_carries_its_own_payment_reference() -> None:
    email = render_reminder_email(_facts("de", "neutral", 7))

    assert "Verwendungszweck: RF18 0000 0041" in email.text
    assert "Verwendungszweck: RF18 0000 0042" in email.text
    assert "jeweiligen Verwendungszwecks" in email.text


def test_no_bank_account_asks_for_the_reference_without_inventing_an_account() -> None:
    no_account = PaymentDetails(reference="+++000/0000/04242+++")
    invoices = (replace(_invoice("INV-9"), payment=no_account),)
    email = render_reminder_email(_facts("en", "neutral", 7, invoices=invoices))

    assert "IBAN" not in email.text and "account" not in email.text
    assert "Please transfer the outstanding amount quoting the payment reference." in email.text
    assert "+++000/0000/04242+++" in email.text


@pytest.mark.parametrize(
    ("changes", "sentence"),
    [
        ({"tone": "angry"}, "'angry' is not a reminder tone"),
        ({"invoices": ()}, "at least one invoice"),
        ({"fee": FeeLine(amount=Decimal("-5"), currency="EUR")}, "positive amount"),
        ({"invoices": (_invoice("INV-1", outstanding="0"),)}, "INV-1 has nothing outstanding"),
    ],
)
def test_facts_no_reminder_should_be_written_from_are_refused_with_a_sentence(
    changes: dict[str, object], sentence: str
) -> None:
    with pytest.raises(InvalidInput, match=re.escape(sentence)):
        render_reminder_email(_facts(**changes))  # type: ignore[arg-type]


def test_reminder_invoice_reads_the_document_the_worker_loads() -> None:
    source = document(number="INV-2026-0050", due_date=date(2026, 10, 31))

    listed = reminder_invoice(source, outstanding=Decimal("20.00"), today=date(2026, 11, 7))

    assert listed.days_overdue == 7
    assert listed.total == source.total == Decimal("120.00")
    assert listed.outstanding == Decimal("20.00")
    assert listed.payment == payment_details(source.payment)
    assert listed.invoice_url == source.invoice_url


async def test_reminder_with_two_pdfs_arrives_at_a_real_smtp_server(
    smtp: ScriptedSmtpServer, transport: SmtpTransport
) -> None:
    documents = [
        document(number="INV-2026-0051", due_date=date(2026, 10, 31)),
        document(number="INV-2026-0052", due_date=date(2026, 10, 31)),
    ]
    today = date(2026, 11, 14)
    invoices = tuple(reminder_invoice(d, outstanding=d.total, today=today) for d in documents)
    facts = _facts("fr", "firm", 14, invoices=invoices, locale=documents[0].locale, customer_name="Acme SARL")
    rendered = render_reminder_email(facts)
    message = compose_message_bytes(
        OutgoingEmail(
            from_addr="invoices@example.com",
            from_name="Example Trading Ltd",
            reply_to=None,
            to=["ap@acme.example"],
            cc=[],
            bcc=[],
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            attachments=reminder_attachments(documents),
            message_id=make_message_id("example.com"),
            correlation_id="reminder-1",
        )
    )

    await transport.send(Envelope(mail_from="bounces+r1@example.com", recipients=["ap@acme.example"]), message)

    assert len(smtp.received) == 1
    arrived = BytesParser(policy=policy.default).parsebytes(smtp.received[0].data)
    assert arrived["Subject"] == rendered.subject
    assert arrived["Subject"].startswith("Relance : factures INV-2026-0051 et INV-2026-0052 impayées depuis 14 jours")
    assert arrived["From"].addresses[0].addr_spec == "invoices@example.com"
    pdfs = [part for part in arrived.iter_attachments() if part.get_content_type() == "application/pdf"]
    assert [part.get_filename() for part in pdfs] == ["INV-2026-0051.pdf", "INV-2026-0052.pdf"]
    assert all(part.get_content().startswith(b"%PDF") for part in pdfs)
    body = arrived.get_body(preferencelist=("plain",))
    assert body is not None and "en retard de 14 jours" in body.get_content()


def test_invoices_at_different_distances_are_each_shown_with_their_own() -> None:
    """A catch-up can list invoices that passed the step on different days: the opening names no count
    of days, each invoice's line its own."""
    invoices = (_invoice("INV-1", days_overdue=8), _invoice("INV-2", days_overdue=10))
    email = render_reminder_email(_facts("en", "neutral", 7, invoices=invoices))

    assert "invoices INV-1 and INV-2 are overdue and have not yet been paid in full." in email.text
    assert "Invoice INV-1: 8 days overdue" in email.text
    assert "Invoice INV-2: 10 days overdue" in email.text
    assert email.subject == "Reminder: invoices INV-1 and INV-2 are overdue – Example Trading SRL"

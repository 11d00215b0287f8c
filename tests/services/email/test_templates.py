"""Invoice email wording: every language, escaping, inlined CSS, and user templates checked at edit time."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from services.documents.labels import label
from services.email.templates import (
    TEMPLATE_VARIABLES,
    EmailContext,
    check_template,
    render_html_body,
    render_invoice_email,
)
from services.languages import SUPPORTED_LANGUAGES

CONTEXT = EmailContext(
    organisation_name="Example Trading Ltd",
    customer_name="Acme Corp",
    invoice_number="INV-0042",
    amount="€1,234.50",
    total=Decimal("1234.50"),
    currency="EUR",
    issue_date="1 October 2026",
    due_date="31 October 2026",
    invoice_url="https://invoices.example.com/i/tok123",
    sender_name="Sam Sender",
    language="en",
)

GREETING = {"en": "Dear", "fr": "Bonjour", "de": "Guten Tag", "nl": "Beste", "es": "Estimado", "it": "Gentile"}


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_every_language_renders_subject_text_and_html_with_the_invoice_facts(language: str):
    email = render_invoice_email(language=language, context=CONTEXT)

    assert "INV-0042" in email.subject and "Example Trading Ltd" in email.subject
    assert "\n" not in email.subject
    assert email.text.startswith(GREETING[language])
    for fact in ("INV-0042", "€1,234.50", "31 October 2026", "https://invoices.example.com/i/tok123", "Sam Sender"):
        assert fact in email.text
        assert fact in email.html
    assert f'<html lang="{language}"' in email.html
    assert 'href="https://invoices.example.com/i/tok123"' in email.html


def test_each_language_has_its_own_wording():
    subjects = {render_invoice_email(language=lang, context=CONTEXT).subject for lang in SUPPORTED_LANGUAGES}
    texts = {render_invoice_email(language=lang, context=CONTEXT).text for lang in SUPPORTED_LANGUAGES}
    assert len(subjects) == len(texts) == len(SUPPORTED_LANGUAGES)


def test_html_css_is_inlined_and_the_style_block_removed():
    html = render_invoice_email(language="en", context=CONTEXT).html
    assert "<style" not in html
    assert 'style="' in html and "background-color: #1264a3" in html


def test_html_escapes_a_script_in_the_customer_name_but_the_text_part_keeps_it_verbatim():
    context = replace(CONTEXT, customer_name='<script>alert("x")</script> & Sons')
    email = render_invoice_email(language="en", context=context)
    assert "<script>" not in email.html
    assert "&lt;script&gt;" in email.html and "&amp; Sons" in email.html
    assert '<script>alert("x")</script> & Sons' in email.text


def test_an_unknown_language_falls_back_to_english_and_regional_codes_use_their_language():
    assert render_invoice_email(language="pt", context=CONTEXT).subject.startswith("Invoice ")
    assert render_invoice_email(language="fr-BE", context=CONTEXT).subject.startswith("Facture ")


def test_without_a_sender_name_the_email_is_signed_by_the_organisation():
    email = render_invoice_email(language="en", context=replace(CONTEXT, sender_name=None))
    assert email.text.rstrip().endswith("Kind regards,\nExample Trading Ltd")


def test_html_body_is_built_from_the_edited_text_with_paragraphs_line_breaks_and_links():
    edited = "Hello Acme,\n\nHere is the invoice <b>now</b>.\nSee https://pay.example.com/x?a=1&b=2.\n\nThanks"
    html = render_html_body(language="de", context=CONTEXT, text=edited)
    assert html.count("<p ") >= 3 + 1  # three paragraphs, the organisation line, the button
    assert "Hello Acme," in html
    assert "Here is the invoice &lt;b&gt;now&lt;/b&gt;.<br>" in html
    assert '<a href="https://pay.example.com/x?a=1&amp;b=2">https://pay.example.com/x?a=1&amp;b=2</a>.' in html
    assert "Rechnung ansehen" in html  # the German layout around the English edit


def test_an_organisation_override_replaces_the_shipped_wording():
    overrides = {"subject": "{{ organisation_name }} — invoice {{ invoice_number }} ({{ amount }})"}
    email = render_invoice_email(language="en", context=CONTEXT, overrides=overrides)
    assert email.subject == "Example Trading Ltd — invoice INV-0042 (€1,234.50)"
    assert email.text.startswith("Dear Acme Corp")


def test_a_broken_override_never_stops_the_invoice_going_out():
    email = render_invoice_email(language="en", context=CONTEXT, overrides={"text": "Hi {{ customr }}"})
    assert email.text.startswith("Dear Acme Corp")


def test_a_good_user_template_has_no_problems():
    assert check_template("text", "Hello {{ customer_name }},\n\n{{ invoice_url }}\n") == []
    assert (
        check_template(
            "html",
            '{% extends "layout.html.j2" %}{% set labels = {"invoice": "I", "number": "N",'
            ' "amount": "A", "due_date": "D", "view": "V", "footer": "F"} %}',
        )
        == []
    )


def test_a_syntax_error_is_reported_with_its_line_number():
    problems = check_template("text", "Hello {{ customer_name }},\n\n{% if total > 100 %}\nBig invoice.\n")
    assert len(problems) == 1
    assert problems[0].startswith("Line 4:") or problems[0].startswith("Line 5:")
    assert "endif" in problems[0]


def test_an_unknown_variable_is_reported_with_its_line_and_the_variables_to_use():
    problems = check_template("text", "Hello {{ customer_name }},\n\nInvoice {{ invoice_no }}\n")
    assert problems[0].startswith("Line 3:")
    assert "'invoice_no' is undefined" in problems[0]
    assert "invoice_number" in problems[0]


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "Hi\n{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ customer_name.__class__.__init__.__globals__ }}",
    ],
)
def test_the_sandbox_refuses_reaching_python_internals(source: str):
    problems = check_template("text", source)
    assert problems and "may not touch" in problems[0]


def test_an_empty_subject_or_an_unknown_part_is_a_problem():
    assert check_template("subject", "{{ '' }}") == ["The subject comes out empty."]
    assert "no template part" in check_template("footer", "x")[0]


def test_every_template_variable_is_documented_in_the_readme():
    readme = (Path(__file__).parents[3] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Email templates", 1)[1].split("\n## ", 1)[0]
    for name in TEMPLATE_VARIABLES:
        assert f"`{name}`" in section


def test_a_sender_name_equal_to_the_organisation_name_signs_once():
    email = render_invoice_email(language="en", context=replace(CONTEXT, sender_name="Example Trading Ltd"))
    assert email.text.count("Example Trading Ltd") == 1


PAYING = replace(
    CONTEXT,
    payment_reference="RF34 0000 0042",
    iban="BE71 0961 2345 6769",
    bic="GKCCBEBB",
    account_holder="Example Treasury BV",
)


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_every_language_tells_how_to_pay_the_account_and_the_reference(language: str):
    email = render_invoice_email(language=language, context=PAYING)

    # the email says "account holder" in the PDF's words (services/documents/labels.py)
    holder = label("account_holder", language)
    for fact in ("BE71 0961 2345 6769", "GKCCBEBB", "RF34 0000 0042", "Example Treasury BV", holder):
        assert fact in email.text, fact
        assert fact in email.html, fact


def test_without_an_iban_the_email_gives_the_reference_alone():
    email = render_invoice_email(language="en", context=replace(PAYING, iban="", bic="", account_holder=""))

    assert "Payment reference: RF34 0000 0042" in email.text
    assert "IBAN" not in email.text and "transfer the amount" not in email.text


CREDIT_WORD = {
    "en": "this credit note",
    "fr": "cet avoir",
    "de": "dieser Gutschrift",
    "nl": "deze creditnota",
    "es": "esta factura rectificativa",
    "it": "questa nota di credito",
}


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_a_credit_note_email_speaks_of_the_credit_note_to_its_last_line(language: str):
    credit = replace(CONTEXT, language=language, credit_note_for="INV-0041")
    invoice = render_invoice_email(language=language, context=replace(CONTEXT, language=language))

    text = render_invoice_email(language=language, context=credit).text

    assert CREDIT_WORD[language] in text.split("https://invoices.example.com/i/tok123")[1]
    assert CREDIT_WORD[language] not in invoice.text
    assert "cette facture" not in text and "this invoice" not in text

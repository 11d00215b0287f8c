"""Invoice email wording: jinja2 templates per language, shipped defaults and organisation overrides.

Every template — ours and the ones users write — renders in jinja2's sandbox with
`StrictUndefined`, so a typo in a variable name is an error, not a silently empty gap.
Users' templates are checked with `check_template` when they are saved, so a mistake is
shown to the person editing, never discovered at send time.

The HTML part is never rendered from a user's text directly: in the review modal a person
edits the subject and the *text* body, and `render_html_body` wraps that final text
(escaped, split into paragraphs, links made clickable) in the language's HTML layout.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any

import css_inline
from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from services.formatting import format_day, format_money
from services.languages import DEFAULT_LANGUAGE, normalise_language

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).parent / "templates"

# part name (as stored in TemplateOverride.part) → file name in templates/<lang>/
PART_FILES: Mapping[str, str] = {"subject": "subject.j2", "text": "body.txt.j2", "html": "body.html.j2"}
MAX_TEMPLATE_CHARS = 20_000

# Variables every template receives; documented in the README, section "Email templates".
TEMPLATE_VARIABLES: Mapping[str, str] = {
    "organisation_name": "your organisation's name",
    "customer_name": "the customer's name",
    "invoice_number": "the invoice number, e.g. INV-0042",
    "amount": "the total, formatted for the email's locale (its language in your country), e.g. £1,234.50",
    "total": "the total as a number, e.g. 1234.50",
    "currency": "the ISO currency code, e.g. EUR",
    "issue_date": "the issue date, written out for the email's locale, e.g. 1 October 2026",
    "due_date": "the due date, written out for the email's locale",
    "invoice_url": "the link to the invoice page",
    "sender_name": "the name of the person sending, or empty",
    "payment_reference": "the reference the customer's transfer must carry (RF… or, for a Belgian seller, +++…+++)",
    "iban": "your IBAN in blocks of four, or empty when none is set",
    "bic": "your BIC, or empty",
    "account_holder": "the bank account's holder, or empty",
    "language": "the language code, e.g. fr",
    "credit_note_for": "on a credit note, the number of the invoice it corrects; empty on an invoice",
}


@dataclass(frozen=True, slots=True)
class EmailContext:
    """What an invoice email may say. Amounts and dates arrive already formatted for the language."""

    organisation_name: str
    customer_name: str
    invoice_number: str
    amount: str
    total: Decimal
    currency: str
    issue_date: str
    due_date: str
    invoice_url: str
    sender_name: str | None = None
    language: str = DEFAULT_LANGUAGE
    payment_reference: str = ""
    iban: str = ""
    bic: str = ""
    account_holder: str = ""
    credit_note_for: str = ""  # a credit note: the invoice it corrects (the templates word it so)


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentDetails:
    """How the customer pays, as the email prints it: the reference and the account (IBAN shown in blocks)."""

    reference: str
    iban: str = ""
    bic: str = ""
    account_holder: str = ""


@dataclass(frozen=True, kw_only=True)
class InvoiceEmailFacts:
    """What an invoice email says before formatting: the total and dates as values, and the
    `locale` that writes them (`invoice_email_context` turns them into an `EmailContext`)."""

    locale: str
    language: str
    organisation_name: str
    customer_name: str
    invoice_number: str
    total: Decimal
    currency: str
    issue_date: date
    due_date: date
    invoice_url: str
    sender_name: str | None
    payment: PaymentDetails | None = None
    credit_note_for: str = ""  # a credit note: the number of the invoice it corrects


def invoice_email_context(facts: InvoiceEmailFacts) -> EmailContext:
    """The context of an invoice email, its amount and dates formatted once in the document's `locale`.

    The review modal and the send worker both build it here, so the email a person reviews
    and the email that leaves write the amount and dates alike — and alike the PDF beside it.
    """
    locale = facts.locale
    return EmailContext(
        organisation_name=facts.organisation_name,
        customer_name=facts.customer_name,
        invoice_number=facts.invoice_number,
        amount=format_money(facts.total, facts.currency, locale),
        total=facts.total,
        currency=facts.currency,
        issue_date=format_day(facts.issue_date, locale),
        due_date=format_day(facts.due_date, locale),
        invoice_url=facts.invoice_url,
        sender_name=facts.sender_name,
        language=facts.language,
        payment_reference=facts.payment.reference if facts.payment else "",
        iban=facts.payment.iban if facts.payment else "",
        bic=facts.payment.bic if facts.payment else "",
        account_holder=facts.payment.account_holder if facts.payment else "",
        credit_note_for=facts.credit_note_for,
    )


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


SAMPLE_CONTEXT = EmailContext(
    organisation_name="Example Trading Ltd",
    customer_name="Acme Corp",
    invoice_number="INV-0042",
    amount="€1,234.50",
    total=Decimal("1234.50"),
    currency="EUR",
    issue_date="1 October 2026",
    due_date="31 October 2026",
    invoice_url="https://invoices.example.com/i/sample",
    sender_name="Sam Sender",
    language=DEFAULT_LANGUAGE,
    payment_reference="RF71 0000 0042",
    iban="BE71 0961 2345 6769",
    bic="GKCCBEBB",
    account_holder="Example Trading Ltd",
)


@cache
def _environment(*, html: bool) -> SandboxedEnvironment:
    """One sandboxed environment per kind: HTML autoescapes, subject and text do not."""
    return SandboxedEnvironment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=html,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,
    )


@cache
def _inliner() -> css_inline.CSSInliner:
    return css_inline.CSSInliner(load_remote_stylesheets=False)


def _template(part: str, language: str, overrides: Mapping[str, str] | None) -> Template:
    environment = _environment(html=part == "html")
    source = (overrides or {}).get(part)
    if source:
        try:
            return environment.from_string(source)
        except TemplateError:
            # check_template refused such a template when it was saved; a template that
            # broke later (e.g. after an upgrade) must not stop the invoice going out.
            log.warning("organisation template %r (%s) no longer compiles; using the default", part, language)
    return environment.get_template(f"{language}/{PART_FILES[part]}")


def _render(part: str, language: str, variables: Mapping[str, Any], overrides: Mapping[str, str] | None) -> str:
    template = _template(part, language, overrides)
    try:
        return template.render(variables)
    except TemplateError:
        if not (overrides or {}).get(part):
            raise
        log.warning("organisation template %r (%s) failed to render; using the default", part, language)
        return _template(part, language, None).render(variables)


def _variables(context: EmailContext, language: str) -> dict[str, Any]:
    variables = asdict(context)
    variables["language"] = language
    variables["sender_name"] = context.sender_name or ""
    return variables


_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")


def _linkify_line(line: str) -> Markup:
    """Escape one line of text and make its http(s) URLs clickable."""
    pieces: list[Markup] = []
    position = 0
    for match in _URL.finditer(line):
        pieces.append(escape(line[position : match.start()]))
        url = escape(match.group(0))
        pieces.append(Markup('<a href="{0}">{0}</a>').format(url))
        position = match.end()
    pieces.append(escape(line[position:]))
    return Markup("").join(pieces)


def text_to_paragraphs(text: str) -> list[Markup]:
    """Blank lines separate paragraphs; single line breaks are kept as <br>."""
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip())
    return [
        Markup("<br>\n").join(_linkify_line(line) for line in block.split("\n")) for block in blocks if block.strip()
    ]


def render_html_body(
    *,
    language: str,
    context: EmailContext,
    text: str,
    overrides: Mapping[str, str] | None = None,
    pixel_url: str | None = None,
) -> str:
    """The HTML part for the final (possibly hand-edited) `text`, in the language's layout, CSS inlined.

    `pixel_url` (only when the open pixel is switched on) adds a 1x1 image at the end of the
    layout; an organisation's own HTML template shows it only if it extends the layout.
    """
    language = normalise_language(language)
    variables = _variables(context, language) | {"paragraphs": text_to_paragraphs(text), "pixel_url": pixel_url}
    html = _render("html", language, variables, overrides)
    return _inliner().inline(html)


def render_invoice_email(
    *, language: str, context: EmailContext, overrides: Mapping[str, str] | None = None
) -> RenderedEmail:
    """Subject, text and HTML in `language` (English if we have no wording for it).

    `overrides` maps a part (`subject`, `text`, `html`) to the organisation's own template
    source (see `template_overrides.load_overrides`).
    """
    language = normalise_language(language)
    variables = _variables(context, language)
    subject = " ".join(_render("subject", language, variables, overrides).split())
    text = _render("text", language, variables, overrides).strip() + "\n"
    html = render_html_body(language=language, context=context, text=text, overrides=overrides)
    return RenderedEmail(subject=subject, text=text, html=html)


def render_shipped_template(name: str, variables: Mapping[str, Any], *, html: bool) -> str:
    """One of our own templates by its path under templates/ (`reminders/subject.j2`), in the same
    sandboxed environment as the invoice email's; HTML autoescaped and its CSS inlined.

    For wording other than the invoice email (reminders) that reuses the layout and environment
    but not the organisation overrides, which are stored per part of the invoice email only.
    """
    rendered = _environment(html=html).get_template(name).render(variables)
    return _inliner().inline(rendered) if html else rendered


def _template_line(traceback: TracebackType | None) -> int | None:
    """The line of the user's template where rendering failed (jinja rewrites the traceback)."""
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == "<template>":
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def _problem(line: int | None, text: str) -> str:
    """`Line 3: 'customr' is undefined.` — one readable sentence, with the line when known."""
    text = text.strip()
    return f"{f'Line {line}: ' if line else ''}{text}{'' if text.endswith(('.', '!', '?')) else '.'}"


def check_template(part: str, source: str) -> list[str]:
    """Readable problems with a user's template for `part`, or [] when it compiles and renders.

    Compiles the source, then renders it with sample values so an unknown variable, a
    forbidden attribute or a broken filter is caught now, with its line number.
    """
    if part not in PART_FILES:
        return [f"There is no template part called {part!r}; use one of: {', '.join(PART_FILES)}."]
    if not source.strip():
        return ["The template is empty."]
    if len(source) > MAX_TEMPLATE_CHARS:
        return [f"The template is {len(source):,} characters long; the limit is {MAX_TEMPLATE_CHARS:,}."]
    environment = _environment(html=part == "html")
    try:
        template = environment.from_string(source)
    except TemplateSyntaxError as exc:
        return [_problem(exc.lineno, exc.message or "the template cannot be read")]
    variables = _variables(SAMPLE_CONTEXT, DEFAULT_LANGUAGE)
    if part == "html":
        variables["paragraphs"] = text_to_paragraphs("Dear Acme Corp,\n\nPlease find attached invoice INV-0042.")
        variables["pixel_url"] = None
    try:
        rendered = template.render(variables)
    except SecurityError as exc:
        line = _template_line(sys.exc_info()[2])
        return [_problem(line, f"this template tries to use something templates may not touch ({exc})")]
    except UndefinedError as exc:
        line = _template_line(sys.exc_info()[2])
        known = ", ".join(TEMPLATE_VARIABLES)
        return [_problem(line, f"{exc.message}; the variables you can use are: {known}")]
    except Exception as exc:  # any other failure of a user's template is shown to the user
        line = _template_line(sys.exc_info()[2])
        return [_problem(line, f"{type(exc).__name__}: {exc}")]
    if part == "subject" and not rendered.strip():
        return ["The subject comes out empty."]
    return []

"""Preset email texts: named subject + message templates per language, and a customer's default.

A preset is the same kind of thing as a template override (services.email.template_overrides):
jinja2 sources for the `subject` and `text` parts, checked by the same `check_template` before
they are saved, and rendered by the same `render_invoice_email` (as overrides of those two
parts). The built-in "Standard" text is no row: it is the language's template as it is today
(ours, or the organisation's override), so it can be neither saved nor deleted here.

Every change is authorised (admins; the CLI is the operator) and audited in the unit of work
that stores it. Refusals are typed errors with a sentence; nothing is changed by a refusal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import Action, ApprovalRules, authorize
from services.db.models import Customer, EmailText, utcnow
from services.email.template_overrides import checked_language
from services.email.templates import check_template
from services.errors import FieldErrors, InvalidInput, NotFound
from services.unit_of_work import AuditEntry, UnitsOfWork

STANDARD_TEXT = "Standard"
MAX_NAME_CHARS = 60


@dataclass(frozen=True, kw_only=True)
class EmailTextEdit:
    """What an admin wants stored: one named text in one language (jinja2 sources)."""

    name: str
    language: str
    subject: str
    message: str


@dataclass(frozen=True, kw_only=True)
class PresetText:
    """A stored preset as callers see it (no ORM object crosses the layer)."""

    name: str
    language: str
    subject: str
    message: str
    default_for: tuple[str, ...] = ()  # the customers whose default it is


def is_standard(name: str) -> bool:
    return name.strip().casefold() == STANDARD_TEXT.casefold()


def check_email_text(edit: EmailTextEdit) -> dict[str, str]:
    """{field: sentence} for every problem of `edit` (name, language, subject, message); {} when fine.

    The subject and message go through `check_template`, the check every user template passes.
    """
    problems: dict[str, str] = {}
    name = edit.name.strip()
    if not name:
        problems["name"] = "Give the text a name, like “Friendly reminder”."
    elif len(name) > MAX_NAME_CHARS:
        problems["name"] = f"The name is {len(name)} characters long; the limit is {MAX_NAME_CHARS}."
    elif is_standard(name):
        problems["name"] = f"“{STANDARD_TEXT}” is the built-in text (the language's template); choose another name."
    try:
        checked_language(edit.language)
    except InvalidInput as error:
        problems["language"] = str(error)
    for field, part in (("subject", "subject"), ("message", "text")):
        found = check_template(part, getattr(edit, field))
        if found:
            problems[field] = " ".join(found)
    return problems


async def _row(session: AsyncSession, organisation_id: int, name: str, language: str) -> EmailText | None:
    return await session.scalar(
        select(EmailText).where(
            EmailText.organisation_id == organisation_id,
            EmailText.name == name.strip(),
            EmailText.language == language,
        )
    )


async def save_email_text(
    units: UnitsOfWork, *, organisation_id: int, edit: EmailTextEdit, actor: str, rules: ApprovalRules
) -> bool:
    """Store (or replace) a preset; True when it is new. FieldErrors (nothing saved) when it has problems."""
    authorize(rules, actor, Action.CHANGE_TEMPLATES)
    problems = check_email_text(edit)
    if problems:
        raise FieldErrors(problems)
    language, name = checked_language(edit.language), edit.name.strip()
    async with units() as unit:
        row = await _row(unit.session, organisation_id, name, language)
        created = row is None
        if row is None:
            row = EmailText(organisation_id=organisation_id, name=name, language=language, subject="", message="")
            unit.session.add(row)
        row.subject, row.message = edit.subject, edit.message
        row.updated_by, row.updated_at = actor, utcnow()
        await unit.session.flush()
        unit.owe_audit(
            AuditEntry(
                organisation_id=organisation_id,
                actor=actor,
                action="email_text.saved",
                subject_type="email_text",
                subject_id=row.id,
                detail={"name": name, "language": language, "new": created},
            )
        )
    return created


async def _customers_defaulting_to(session: AsyncSession, organisation_id: int, name: str) -> list[str]:
    rows = await session.scalars(
        select(Customer.name)
        .where(Customer.organisation_id == organisation_id, Customer.default_email_text == name)
        .order_by(Customer.name)
    )
    return list(rows)


async def delete_email_text(
    units: UnitsOfWork, *, organisation_id: int, name: str, language: str, actor: str, rules: ApprovalRules
) -> None:
    """Delete one language's version of a preset. Refused (InvalidInput, nothing changed) for
    Standard, and for the last version of a text that is some customers' default (they are named)."""
    authorize(rules, actor, Action.CHANGE_TEMPLATES)
    if is_standard(name):
        raise InvalidInput(f"“{STANDARD_TEXT}” is the built-in text and cannot be deleted.")
    language = checked_language(language)
    async with units() as unit:
        row = await _row(unit.session, organisation_id, name, language)
        if row is None:
            raise NotFound(f"There is no text “{name.strip()}” in {language}.")
        others = await unit.session.scalars(
            select(EmailText.id).where(
                EmailText.organisation_id == organisation_id, EmailText.name == row.name, EmailText.id != row.id
            )
        )
        users = await _customers_defaulting_to(unit.session, organisation_id, row.name)
        if users and not list(others):
            raise InvalidInput(
                f"“{row.name}” is the default text of {', '.join(users)}: choose another default for "
                f"{'them' if len(users) > 1 else 'it'} first."
            )
        unit.owe_audit(
            AuditEntry(
                organisation_id=organisation_id,
                actor=actor,
                action="email_text.deleted",
                subject_type="email_text",
                subject_id=row.id,
                detail={"name": row.name, "language": language},
            )
        )
        await unit.session.delete(row)


async def list_email_texts(session: AsyncSession, *, organisation_id: int) -> list[PresetText]:
    """Every stored preset, by name then language, each with the customers whose default it is."""
    rows = await session.scalars(
        select(EmailText)
        .where(EmailText.organisation_id == organisation_id)
        .order_by(EmailText.name, EmailText.language)
    )
    defaults: dict[str, list[str]] = {}
    customers = await session.execute(
        select(Customer.default_email_text, Customer.name).where(
            Customer.organisation_id == organisation_id, Customer.default_email_text.is_not(None)
        )
    )
    for text_name, customer in customers.all():
        defaults.setdefault(str(text_name), []).append(customer)
    return [
        PresetText(
            name=row.name,
            language=row.language,
            subject=row.subject,
            message=row.message,
            default_for=tuple(sorted(defaults.get(row.name, []))),
        )
        for row in rows
    ]


async def email_texts_to_edit(
    session: AsyncSession, *, organisation_id: int, rules: ApprovalRules, actor: str
) -> list[PresetText]:
    """The presets for the admins' modal; NotAllowed (said to the person) for anyone else."""
    authorize(rules, actor, Action.CHANGE_TEMPLATES)
    return await list_email_texts(session, organisation_id=organisation_id)


async def email_text_to_edit(
    session: AsyncSession, *, organisation_id: int, name: str, language: str, rules: ApprovalRules, actor: str
) -> PresetText:
    """One preset to fill the edit form; NotAllowed for a non-admin, NotFound when it was deleted meanwhile."""
    authorize(rules, actor, Action.CHANGE_TEMPLATES)
    row = await _row(session, organisation_id, name, language)
    if row is None:
        raise NotFound(f"There is no text “{name.strip()}” in {language} any more.")
    return PresetText(name=row.name, language=row.language, subject=row.subject, message=row.message)


async def set_customer_default_text(
    units: UnitsOfWork, *, organisation_id: int, customer_ref: str, name: str | None, actor: str, rules: ApprovalRules
) -> None:
    """Make `name` the text a customer's review starts with (None or Standard: back to Standard).

    Refused when no language has a text of that name; a language without it falls back to Standard.
    """
    authorize(rules, actor, Action.CHANGE_TEMPLATES)
    chosen = None if name is None or is_standard(name) else name.strip()
    async with units() as unit:
        customer = await unit.session.scalar(
            select(Customer).where(Customer.organisation_id == organisation_id, Customer.ref == customer_ref)
        )
        if customer is None:
            raise NotFound(f"There is no customer with the reference “{customer_ref}”.")
        if chosen is not None:
            found = await unit.session.scalar(
                select(EmailText.id).where(EmailText.organisation_id == organisation_id, EmailText.name == chosen)
            )
            if found is None:
                raise NotFound(f"There is no text “{chosen}”; `invoicebot texts list` shows the texts.")
        customer.default_email_text = chosen
        unit.owe_audit(
            AuditEntry(
                organisation_id=organisation_id,
                actor=actor,
                action="customer.default_email_text",
                subject_type="customer",
                subject_id=customer.id,
                detail={"text": chosen or STANDARD_TEXT},
            )
        )


@dataclass(frozen=True, kw_only=True)
class ChosenText:
    """The text a review shows: its name, the names it could switch to, and the sources to render."""

    name: str
    names: tuple[str, ...]  # Standard first, then the presets of that language by name
    overrides: Mapping[str, str]  # part → source, for `render_invoice_email`


async def choose_text(
    session: AsyncSession,
    *,
    organisation_id: int,
    language: str,
    wanted: Sequence[str | None],
    template_overrides: Mapping[str, str],
) -> ChosenText:
    """The first of `wanted` (e.g. the one picked in the modal, then the customer's default) that
    exists in `language`, else Standard; its sources laid over the organisation's templates."""
    rows = {
        row.name: row
        for row in await session.scalars(
            select(EmailText).where(EmailText.organisation_id == organisation_id, EmailText.language == language)
        )
    }
    names = (STANDARD_TEXT, *sorted(rows))
    for name in wanted:
        if name and is_standard(name):
            break  # Standard picked on purpose: not overridden by the customer's default
        if name and name in rows:
            row = rows[name]
            return ChosenText(
                name=name, names=names, overrides={**template_overrides, "subject": row.subject, "text": row.message}
            )
    return ChosenText(name=STANDARD_TEXT, names=names, overrides=template_overrides)

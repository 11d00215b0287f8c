"""An organisation's own email wording, stored per language and part, checked when it is saved.

A template is checked (compiled and test-rendered in the sandbox) before it is stored, so
the person editing it sees the problem with its line number, and nothing broken is ever
saved. The caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import Action, ApprovalRules, authorize
from services.db.models import TemplateOverride, utcnow
from services.email.templates import PART_FILES, check_template
from services.errors import InvalidInput
from services.languages import SUPPORTED_LANGUAGES, normalise_language
from services.unit_of_work import AuditEntry, UnitsOfWork, write_owed


def checked_language(language: str) -> str:
    """`language` as a code we ship templates for; InvalidInput naming the codes otherwise."""
    code = (language or "").strip().lower()
    if code not in SUPPORTED_LANGUAGES:
        raise InvalidInput(
            f"Email templates exist for {', '.join(SUPPORTED_LANGUAGES)}; {language!r} is not one of them."
        )
    return code


@dataclass(frozen=True, kw_only=True)
class TemplateEdit:
    """The wording someone wants for one part (`subject`, `text`, `html`) of one language's email."""

    language: str
    part: str
    source: str


async def save_template_override(
    session: AsyncSession, *, organisation_id: int, edit: TemplateEdit, actor: str, rules: ApprovalRules
) -> TemplateOverride:
    """Store (or replace) the organisation's template for one part; InvalidInput if it has problems."""
    authorize(rules, actor, Action.CHANGE_TEMPLATES)
    part, source = edit.part, edit.source
    language = checked_language(edit.language)
    if part not in PART_FILES:
        raise InvalidInput(f"There is no template part called {part!r}; use one of: {', '.join(PART_FILES)}.")
    problems = check_template(part, source)
    if problems:
        raise InvalidInput(f"The {part} template was not saved: " + " ".join(problems))
    existing = await session.scalar(
        select(TemplateOverride).where(
            TemplateOverride.organisation_id == organisation_id,
            TemplateOverride.language == language,
            TemplateOverride.part == part,
        )
    )
    if existing is None:
        existing = TemplateOverride(organisation_id=organisation_id, language=language, part=part, source=source)
        session.add(existing)
    existing.source = source
    existing.updated_by = actor
    existing.updated_at = utcnow()
    await session.flush()
    entry = AuditEntry(
        organisation_id=organisation_id,
        actor=actor,
        action="template.saved",
        subject_type="template_override",
        subject_id=existing.id,
        detail={"language": language, "part": part},
    )
    await write_owed(session, audits=[entry])
    return existing


async def save_template(
    units: UnitsOfWork, *, organisation_id: int, edit: TemplateEdit, actor: str, rules: ApprovalRules
) -> None:
    """`invoicebot templates set`: `save_template_override` in a unit of work, committed when this returns."""
    async with units() as unit:
        await save_template_override(
            unit.session,
            organisation_id=organisation_id,
            edit=edit,
            actor=actor,
            rules=rules,
        )


async def delete_template_override(
    session: AsyncSession, *, organisation_id: int, language: str, part: str, actor: str, rules: ApprovalRules
) -> bool:
    """Go back to the shipped wording for one part; False when there was no override."""
    authorize(rules, actor, Action.CHANGE_TEMPLATES)
    existing = await session.scalar(
        select(TemplateOverride).where(
            TemplateOverride.organisation_id == organisation_id,
            TemplateOverride.language == checked_language(language),
            TemplateOverride.part == part,
        )
    )
    if existing is None:
        return False
    entry = AuditEntry(
        organisation_id=organisation_id,
        actor=actor,
        action="template.reset",
        subject_type="template_override",
        subject_id=existing.id,
        detail={"language": existing.language, "part": part},
    )
    await write_owed(session, audits=[entry])
    await session.delete(existing)
    await session.flush()
    return True


async def load_overrides(session: AsyncSession, organisation_id: int, language: str) -> dict[str, str]:
    """{part: source} of the organisation's templates for `language` (empty when it uses ours)."""
    rows = await session.execute(
        select(TemplateOverride.part, TemplateOverride.source).where(
            TemplateOverride.organisation_id == organisation_id,
            TemplateOverride.language == normalise_language(language),
        )
    )
    return {part: source for part, source in rows.all()}

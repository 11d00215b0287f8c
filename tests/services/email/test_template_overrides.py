"""Organisation templates are checked when saved: a broken one is refused with its line, and nothing is stored."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import ApprovalRules
from services.db.models import AuditLog, Organisation, TemplateOverride
from services.email.template_overrides import (
    TemplateEdit,
    delete_template_override,
    load_overrides,
    save_template_override,
)
from services.errors import InvalidInput

RULES_FOR_TEST = ApprovalRules(admins=frozenset({"U123", "U1", "U"}))  # templates: admins only


async def _count(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(TemplateOverride)) or 0


async def test_a_bad_template_is_refused_with_its_line_number_and_nothing_is_saved(session: AsyncSession, org):
    with pytest.raises(InvalidInput) as error:
        await save_template_override(
            session,
            organisation_id=org.id,
            edit=TemplateEdit(
                language="fr", part="text", source="Bonjour {{ customer_name }},\n\nFacture {{ numero }}\n"
            ),
            actor="U123",
            rules=RULES_FOR_TEST,
        )
    assert "Line 3:" in str(error.value) and "'numero' is undefined" in str(error.value)
    await session.commit()
    assert await _count(session) == 0


async def test_a_template_reaching_python_internals_is_refused(session: AsyncSession, org):
    with pytest.raises(InvalidInput, match="may not touch"):
        await save_template_override(
            session,
            organisation_id=org.id,
            edit=TemplateEdit(language="en", part="subject", source="{{ ''.__class__ }}"),
            actor="U1",
            rules=RULES_FOR_TEST,
        )
    assert await _count(session) == 0


async def test_a_good_template_is_saved_audited_and_loaded_for_its_language(session: AsyncSession, org: Organisation):
    await save_template_override(
        session,
        organisation_id=org.id,
        edit=TemplateEdit(language="de", part="subject", source="Ihre Rechnung {{ invoice_number }}"),
        actor="U123",
        rules=RULES_FOR_TEST,
    )
    await session.commit()

    assert await load_overrides(session, org.id, "de") == {"subject": "Ihre Rechnung {{ invoice_number }}"}
    assert await load_overrides(session, org.id, "de-AT") == {"subject": "Ihre Rechnung {{ invoice_number }}"}
    assert await load_overrides(session, org.id, "fr") == {}
    audit = (await session.scalars(select(AuditLog).where(AuditLog.action == "template.saved"))).all()
    assert [(a.actor, a.detail) for a in audit] == [("U123", {"language": "de", "part": "subject"})]


async def test_saving_again_replaces_the_template_and_reset_goes_back_to_ours(session: AsyncSession, org):
    for source in ("First {{ invoice_number }}", "Second {{ invoice_number }}"):
        await save_template_override(
            session,
            organisation_id=org.id,
            edit=TemplateEdit(language="en", part="subject", source=source),
            actor="U1",
            rules=RULES_FOR_TEST,
        )
        await session.commit()
    assert await load_overrides(session, org.id, "en") == {"subject": "Second {{ invoice_number }}"}
    assert await _count(session) == 1

    assert await delete_template_override(
        session, organisation_id=org.id, language="en", part="subject", actor="U1", rules=RULES_FOR_TEST
    )
    await session.commit()
    assert await load_overrides(session, org.id, "en") == {}


async def test_an_unsupported_language_or_part_is_refused(session: AsyncSession, org):
    with pytest.raises(InvalidInput, match="'pt' is not one of them"):
        await save_template_override(
            session,
            organisation_id=org.id,
            edit=TemplateEdit(language="pt", part="text", source="x"),
            actor="U",
            rules=RULES_FOR_TEST,
        )
    with pytest.raises(InvalidInput, match="no template part"):
        await save_template_override(
            session,
            organisation_id=org.id,
            edit=TemplateEdit(language="en", part="body", source="x"),
            actor="U",
            rules=RULES_FOR_TEST,
        )

"""`.env.example` lists every setting of bot/config.py, and nothing else, each with its real default.

It is what an operator copies to start (docs/production.md), so it must not drift from the code:
a setting added to `Settings` without a line here fails this test, naming it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import AliasChoices
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from bot.config import Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
SETTING_LINE = re.compile(r"^#([A-Z][A-Z0-9_]*)=(.*)$")


class GivenOnly(Settings):
    """The settings from the values given here only: neither the environment nor a `.env` may speak."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def environment_names() -> dict[str, str]:
    """Each setting's environment name → its field name."""
    names = {}
    for field, info in Settings.model_fields.items():
        alias = info.validation_alias
        assert isinstance(alias, AliasChoices), field
        names[str(alias.choices[0])] = field
    return names


def example_lines() -> list[str]:
    """The `#NAME=value` lines, uncommented (explanations are `# text`, with a space)."""
    return [line[1:] for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines() if SETTING_LINE.match(line)]


def test_env_example_lists_exactly_the_settings(tmp_path: Path):
    listed = [line.partition("=")[0] for line in example_lines()]
    expected = environment_names()

    missing = sorted(set(expected) - set(listed))
    unknown = sorted(set(listed) - set(expected))
    assert not missing, f"add to .env.example (#NAME=default and a one-line meaning): {missing}"
    assert not unknown, f".env.example names settings bot/config.py does not have: {unknown}"
    assert len(listed) == len(set(listed)), "a setting is listed twice"


def test_each_value_shown_is_the_default(tmp_path: Path):
    uncommented = tmp_path / "example.env"
    uncommented.write_text("\n".join(example_lines()) + "\n", encoding="utf-8")
    shown: dict[str, Any] = {name: value for name, value in dotenv_values(uncommented).items() if value}
    names = environment_names()

    from_example = GivenOnly(**shown)
    defaults = GivenOnly()

    for name in shown:
        field = names[name]
        assert getattr(from_example, field) == getattr(defaults, field), f"{name}: .env.example shows a non-default"

"""`mypy --strict` (run by .ci/run) checks every package of the repository, not the ones someone remembered.

A package missing from `[tool.mypy] files` is silently unchecked: `web/` was, for a while. This
compares the list with the folders at the top of the repository that hold Python modules.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_OURS = {".venv", "build", "dist"}


def test_mypy_checks_every_top_level_folder_that_holds_python() -> None:
    checked = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]["files"])
    folders = {
        folder.name
        for folder in ROOT.iterdir()
        if folder.is_dir()
        and not folder.name.startswith(".")
        and folder.name not in NOT_OURS
        and not folder.name.endswith(".egg-info")
        and any(folder.rglob("*.py"))
    }

    assert folders - checked == set(), "add them to [tool.mypy] files in pyproject.toml"

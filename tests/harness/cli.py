"""The real `invoicebot` console script, run in a subprocess against the test database (the `run` fixture)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

INVOICEBOT = str(Path(sys.executable).with_name("invoicebot"))


@pytest.fixture
def run(database_url: str, engine: AsyncEngine, tmp_path: Path) -> Any:
    """`run("seed", …, settings={"INVOICEBOT_…": …})` → CompletedProcess; `engine` empties PostgreSQL first."""

    def invoke(
        *args: str, database: str | None = None, settings: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {
            key: value for key, value in os.environ.items() if not key.startswith(("INVOICEBOT_", "SLACK_", "DATABASE"))
        }
        env.update({"DATABASE_URL": database or database_url, "COLUMNS": "200", "NO_COLOR": "1", **(settings or {})})
        return subprocess.run(
            [INVOICEBOT, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
        )

    return invoke

"""Running `invoicebot demo` as a user does: its own process, its own terminal (tmux) when one is needed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.terminal import TmuxTerminal


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[TmuxTerminal]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (Debian/Ubuntu: apt-get install tmux)")
    term = TmuxTerminal(f"invoicebot-test-{os.getpid()}-{tmp_path.name}")
    yield term
    term.kill()

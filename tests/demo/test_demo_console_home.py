"""The demo console opens App Home: `home` sends a signed `app_home_opened` and shows the published view."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox.console import Console
from bot.sandbox.demo import Demo


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Demo]:
    running = Demo(mail_dir=tmp_path / "mail", work_dir=tmp_path / "work")
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def test_home_shows_bobs_app_home_with_the_send_waiting_for_his_approval(demo: Demo):
    shown: list[str] = []
    console = Console(demo, shown.append)
    for line in ("/invoices due", "click Review & send DEMO-0001", "submit"):
        await console.handle(line)
    await demo.slack.wait_until(lambda: bool(demo.slack.calls_to("chat.postMessage")), within=10)

    await console.handle("as bob")
    await console.handle("home")

    screen = "\n".join(console.transcript)
    assert "── App Home of @bob · opened ──" in screen
    assert "  == Waiting for my approval ==" in screen
    assert "DEMO-0001 · Acme Widgets Ltd" in screen
    assert "] Approve  [" in screen and "] Reject" in screen
    assert "  == Needs attention ==" in screen and "  == Recently sent ==" in screen

    await console.handle("click Approve DEMO-0001")
    await demo.slack.wait_until(lambda: any("You approved" in str(r.body) for r in demo.slack.responses), within=10)

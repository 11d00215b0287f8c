"""The demo console adds an extra attachment: `set Extra attachments = PATH` uploads the local file to the
Slack stand-in, the submission carries its id, and the email the local SMTP server keeps carries the file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email import message_from_bytes, policy
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


async def test_a_file_set_in_the_console_reaches_the_customer_after_the_invoice(demo: Demo, tmp_path: Path):
    terms = tmp_path / "terms.pdf"
    terms.write_bytes(b"%PDF-1.4\n% the demo's terms and conditions\n%%EOF\n")
    shown: list[str] = []
    console = Console(demo, shown.append)
    for line in ("/invoices due", "click Review & send DEMO-0001", f"set Extra attachments = {terms}", "submit"):
        await console.handle(line)

    def approval_asked() -> bool:
        return any("Approve" in str(call.args.get("blocks")) for call in demo.slack.calls_to("chat.postMessage"))

    await demo.slack.wait_until(approval_asked, within=30)
    await console.handle("as bob")
    await console.handle("click Approve DEMO-0001")

    def kept() -> list[Path]:
        return sorted(demo.mail_dir.glob("*.eml"))

    await demo.slack.wait_until(lambda: bool(kept()), within=30)
    email = message_from_bytes(kept()[0].read_bytes(), policy=policy.default)
    names = [part.get_filename() for part in email.iter_attachments()]
    assert str(names[0]).startswith("DEMO-0001") and names[-1] == "terms.pdf"
    assert any("Extra attachments = 1 file(s)" in text for text in shown)

"""`invoicebot demo --script FILE`: the shipped walkthrough runs to the end; a missed expectation fails."""

from __future__ import annotations

import re
import subprocess
from email import policy
from email.parser import BytesParser
from pathlib import Path

import zxingcpp
from PIL import Image

from tests.harness.terminal import (
    DEMO_SCRIPT,
    REPO,
    clean_environment,
    invoicebot_command,
)


def run_demo(script: Path, mail_dir: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*invoicebot_command(), "demo", "--script", str(script), "--mail-dir", str(mail_dir), *options],
        cwd=mail_dir.parent,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=240,
    )


def _the_reminder_went_with_a_payable_pdf(eml: Path, tmp_path: Path) -> None:
    """The demo's reminder: in Dupont's French, for its own day, with the invoice's PDF whose EPC QR code
    a decoder reads as a bank app does (the demo organisation's account, what is left to pay, the reference)."""
    reminder = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    assert reminder["Subject"].startswith("Petit rappel : facture DEMO-0020 à échéance aujourd'hui")
    [pdf] = [part for part in reminder.iter_attachments() if part.get_filename() == "DEMO-0020.pdf"]
    (tmp_path / "reminder.pdf").write_bytes(pdf.get_content())
    subprocess.run(
        ["pdftoppm", "-png", "-r", "150", "-singlefile", "reminder.pdf", "page"], cwd=tmp_path, check=True, timeout=60
    )
    with Image.open(tmp_path / "page.png") as page:
        [qr] = [found.text for found in zxingcpp.read_barcodes(page) if found.format == zxingcpp.BarcodeFormat.QRCode]
    fields = qr.split("\n")
    assert fields[4:8] == ["NWBKGB2L", "Example Trading Ltd", "GB82WEST12345698765432", "EUR1949.16"], fields
    assert fields[-1] == "RF4600000020"
    html = reminder.get_body(preferencelist=("html",))
    assert html is not None and "aujourd'hui" in html.get_content()


def test_the_shipped_demo_script_walks_the_whole_story_and_exits_0(tmp_path: Path):
    done = run_demo(DEMO_SCRIPT, tmp_path / "demo-mail")

    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    shown = done.stdout
    assert "DEMO-0001 is waiting for approval by @bob" in shown
    assert "✅ Sent to accounts.payable@acme-widgets.example — accepted by the mail server" in shown
    assert "❌ Bounced: bounce@bounce.example — the mailbox does not exist" in shown
    # numbered per screen: the send's status message may show its *Cancel* first
    assert re.search(r"\[\d\] Fix address & resend  \[\d\] Mark as sent manually  \[\d\] Open invoice", shown)
    assert "✅ Sent to accounts@northwind.example — accepted by the mail server" in shown
    # App Home, as Alice sees it: her dashboard's sections
    home = shown.split("App Home of @alice · opened", 1)[1]
    headings = ("Needs attention", "Due today and overdue", "Recently sent")
    assert all(heading in home for heading in headings), home[:3000]
    # the daily digest in #finance, posted once: the second `digest` finds today's claimed
    assert re.search(r"#finance · new message ──\n\s*Daily digest — \d{4}-\d{2}-\d{2}", shown), shown[-3000:]
    assert "Owed by age" in shown and "Since the last digest" in shown
    assert shown.count("Daily digest — 20") == 1 and "today's was posted already" in shown
    assert "late" not in shown.split("Daily digest — 20", 1)[1].splitlines()[0]  # the first one is never late
    emails = sorted(path.name for path in (tmp_path / "demo-mail").glob("*.eml"))
    assert emails == ["SBX000001.eml", "SBX000002.eml", "SBX000003.eml", "SBX000004.eml", "SBX000005.eml"]
    _the_reminder_went_with_a_payable_pdf(tmp_path / "demo-mail" / "SBX000005.eml", tmp_path)
    assert "Next: none: paid" in shown  # the payment recorded after it stops the ladder for DEMO-0020
    # the credit note left with its PDF, as a credit note, and the file picked in the modal
    credit = BytesParser(policy=policy.default).parsebytes((tmp_path / "demo-mail" / "SBX000004.eml").read_bytes())
    assert credit["Subject"].startswith("Avoir DEMO-0031")
    attached = {part.get_filename(): part.get_content() for part in credit.iter_attachments()}
    assert set(attached) == {"DEMO-0031.pdf", "terms-of-payment.txt"}, set(attached)
    assert attached["terms-of-payment.txt"].startswith("Example Trading Ltd — terms of payment")
    bounced = (tmp_path / "demo-mail" / "SBX000002.eml").read_bytes()
    return_path = bounced.split(b"\r\n", 1)[0].decode()
    assert return_path.startswith("Return-Path: <bounces+")
    assert b"\r\nX-Envelope-To: bounce@bounce.example\r\n" in bounced
    filed = list((tmp_path / "demo-mail" / "bounces" / "cur").iterdir())
    assert len(filed) == 1 and b"message/delivery-status" in filed[0].read_bytes()
    verp = return_path.removeprefix("Return-Path: <").removesuffix(">")
    assert f"To: {verp}".encode() in filed[0].read_bytes()  # the report went back to the kept envelope sender


def test_the_shipped_demo_script_runs_the_same_story_over_socket_mode(tmp_path: Path):
    """The app holds a WebSocket to the Slack stand-in; every command, click and submission is an envelope."""
    done = run_demo(DEMO_SCRIPT, tmp_path / "demo-mail", "--socket-mode")

    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    shown = done.stdout
    assert "the app is connected over Socket Mode    ws://127.0.0.1:" in shown
    assert "web app (Slack endpoint" not in shown  # no /slack/events in Socket Mode
    assert "DEMO-0001 is waiting for approval by @bob" in shown
    assert "❌ Bounced: bounce@bounce.example — the mailbox does not exist" in shown
    assert "✅ Sent to accounts@northwind.example — accepted by the mail server" in shown
    emails = sorted(path.name for path in (tmp_path / "demo-mail").glob("*.eml"))
    assert len(emails) == 5
    log = (tmp_path / "demo-mail" / "invoicebot-demo.log").read_text(encoding="utf-8")
    assert "connected to Slack in Socket Mode" in log


def test_a_script_whose_expectation_never_comes_exits_1_naming_it(tmp_path: Path):
    script = tmp_path / "short.script"
    script.write_text(
        "# waits for something that never comes\n/invoices due\nexpect-within: 1\nexpect: DEMO-9999\nquit\n"
    )

    done = run_demo(script, tmp_path / "mail")

    assert done.returncode == 1
    assert "demo script failed at line 4: expect: DEMO-9999 (not shown within 1 s)" in done.stdout
    assert "stopped." in done.stdout


def test_the_readme_documents_the_script_format():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "## Try it without Slack: invoicebot demo" in readme
    assert "expect-within:" in readme

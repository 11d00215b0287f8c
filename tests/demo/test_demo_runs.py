"""Runs of `invoicebot demo` never mix: a new dated folder each, a used `--mail-dir` refused; a mistyped
command gets Slack's own answer; the emails it keeps carry their envelope like a mailbox's."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path

import pytest

from bot.sandbox.mail_folder import MailFolderRefused, dated_folder, demo_mail_folder
from bot.sandbox.smtp_server import ScriptedSmtpServer, ServerOptions
from services.email.smtp import SmtpRelay, SmtpTransport
from services.email.transport import Envelope
from tests.harness.terminal import REPO, clean_environment, invoicebot_command

MISTYPED = "/invoice due\nexpect: /invoice is not a valid command\nquit\n"


def demo(cwd: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*invoicebot_command(), "demo", *options],
        cwd=cwd,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_two_runs_without_mail_dir_write_two_dated_folders_and_a_mistyped_command_gets_slacks_answer(
    tmp_path: Path,
):
    (tmp_path / "mistyped.script").write_text(MISTYPED)

    first = demo(tmp_path, "--script", "mistyped.script")
    second = demo(tmp_path, "--script", "mistyped.script")

    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    runs = sorted((tmp_path / "demo-mail").iterdir())
    assert len(runs) == 2
    for run, done in zip(runs, (first, second), strict=True):
        assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d(-\d+)?", run.name)  # the same second gets -2
        assert (run / "invoicebot-demo.log").is_file()
        assert f"stopped. The emails are in {run}/" in done.stdout
    shown = first.stdout
    assert "── Slackbot (only you see it) ──" in shown
    assert (
        "/invoice is not a valid command. In Slack, all messages that start with the “/” character are"
        " interpreted as commands." in shown
    )
    assert "HTTP 404" not in shown


def test_a_mail_dir_holding_an_earlier_run_is_refused_with_a_sentence_and_left_as_it_was(tmp_path: Path):
    earlier = tmp_path / "mail"
    earlier.mkdir()
    (earlier / "SBX000001.eml").write_bytes(b"Subject: from the earlier run\r\n\r\nkept\r\n")

    done = demo(tmp_path, "--mail-dir", "mail", "--script", str(tmp_path / "never-read.script"))
    assert done.returncode == 2  # the script is checked first: it does not exist
    (tmp_path / "never-read.script").write_text(MISTYPED)
    done = demo(tmp_path, "--mail-dir", "mail", "--script", "never-read.script")

    assert done.returncode == 2
    said = " ".join(done.stderr.split())
    assert "--mail-dir mail already holds the files of an earlier run, which this run would overwrite" in said
    assert "starting the demo" not in done.stdout
    assert [path.name for path in earlier.iterdir()] == ["SBX000001.eml"]
    assert (earlier / "SBX000001.eml").read_bytes().endswith(b"kept\r\n")


def test_dated_folders_never_reuse_one_that_exists_and_an_empty_mail_dir_is_used(tmp_path: Path):
    now = datetime(2026, 12, 3, 9, 30, 5, tzinfo=UTC)
    (tmp_path / "2026-12-03_09-30-05").mkdir()

    assert dated_folder(tmp_path, now) == tmp_path / "2026-12-03_09-30-05-2"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert demo_mail_folder(empty, now=now) == empty.resolve()
    (empty / "x.eml").write_bytes(b"")
    with pytest.raises(MailFolderRefused, match="already holds the files of an earlier run"):
        demo_mail_folder(empty, now=now)


async def test_each_kept_email_starts_with_its_envelope_as_a_mailbox_records_it(tmp_path: Path):
    message = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nbody\r\n"
    envelope = Envelope(mail_from="bounces+tok@bounce.example", recipients=("b@example.com", "hidden@example.com"))
    async with ScriptedSmtpServer(options=ServerOptions(eml_dir=tmp_path)) as server:
        transport = SmtpTransport(relay=SmtpRelay(host="127.0.0.1", port=server.port, security="none"), timeout=2)
        await transport.send(envelope, message)
        await transport.aclose()

    [eml] = tmp_path.glob("*.eml")
    kept = eml.read_bytes()
    assert kept.startswith(
        b"Return-Path: <bounces+tok@bounce.example>\r\n"
        b"X-Envelope-To: b@example.com\r\nX-Envelope-To: hidden@example.com\r\n"
    )
    parsed = message_from_bytes(kept)
    assert parsed["Subject"] == "hi" and parsed.get_all("X-Envelope-To") == ["b@example.com", "hidden@example.com"]
    assert kept.endswith(message)


def test_the_readme_names_the_files_the_demo_writes():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "NNN.eml" not in readme
    assert "SBX000001.eml" in readme
    assert "Return-Path:" in readme and "X-Envelope-To:" in readme

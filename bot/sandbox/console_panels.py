"""The console's panels: the `mailbox` (what the local SMTP server received, the bounce mailbox), and
what Slack itself answers when a typed command is not one the app registered."""

from __future__ import annotations

from email.parser import BytesHeaderParser
from pathlib import Path

from bot.sandbox.folder_mailbox import FolderMailbox


def summary(raw: bytes) -> str:
    headers = BytesHeaderParser().parsebytes(raw)
    return f"from {headers.get('From', '?')} to {headers.get('To', '?')} — {headers.get('Subject', '')}"


def mailbox_lines(mail_dir: Path, bounces: FolderMailbox) -> list[str]:
    emails = sorted(mail_dir.glob("*.eml"))
    lines = [f"── {len(emails)} emails in {mail_dir}/ (open them with any mail program) ──"]
    lines += [f"  {path.name}: {summary(path.read_bytes())}" for path in emails]
    unseen, seen = bounces.unseen_names(), bounces.seen_names()
    lines.append(f"── bounce mailbox {bounces.root}/: {len(unseen)} new, {len(seen)} filed ──")
    for folder, names in (("new", unseen), ("cur", seen)):
        lines += [f"  {folder}/{name[:24]}…: {summary((bounces.root / folder / name).read_bytes())}" for name in names]
    return lines


def not_a_command(command: str, registered: str) -> list[str]:
    """Slackbot's answer to a slash command no installed app registered (the app never hears of it)."""
    return [
        "── Slackbot (only you see it) ──",
        f"  {command} is not a valid command. In Slack, all messages that start with the “/” character are"
        " interpreted as commands.",
        "  If you are trying to send a message and not run a command, try preceding the “/” with an empty space.",
        f"  (demo: the app's command is {registered})",
    ]

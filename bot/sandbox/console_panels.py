"""The console's panels: the `mailbox` (what the local SMTP server received, the bounce mailbox), and
what Slack itself answers when a typed command is not one the app registered."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from pathlib import Path

from bot.sandbox.folder_mailbox import FolderMailbox
from services.clock import utcnow
from services.digest import evaluate_digests
from services.unit_of_work import UnitsOfWork


def summary(raw: bytes) -> str:
    """From, To and Subject, and the attachments' names: what a mail program's list shows."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    names = [part.get_filename() or "unnamed" for part in message.iter_attachments()]
    attached = f" · attached: {', '.join(names)}" if names else ""
    return f"from {message.get('From', '?')} to {message.get('To', '?')} — {message.get('Subject', '')}{attached}"


def mailbox_lines(mail_dir: Path, bounces: FolderMailbox) -> list[str]:
    emails = sorted(mail_dir.glob("*.eml"))
    lines = [f"── {len(emails)} emails in {mail_dir}/ (open them with any mail program) ──"]
    lines += [f"  {path.name}: {summary(path.read_bytes())}" for path in emails]
    unseen, seen = bounces.unseen_names(), bounces.seen_names()
    lines.append(f"── bounce mailbox {bounces.root}/: {len(unseen)} new, {len(seen)} filed ──")
    for folder, names in (("new", unseen), ("cur", seen)):
        lines += [f"  {folder}/{name[:24]}…: {summary((bounces.root / folder / name).read_bytes())}" for name in names]
    return lines


async def digest_lines(units: UnitsOfWork | None) -> list[str]:
    """Evaluate the daily digest now (the demo's is at 00:00, so today's is due) and say what it owes."""
    if units is None:
        return ["  the demo is not started"]
    posted = await evaluate_digests(units, now=utcnow())
    if not posted:
        return ["  no digest due: today's was posted already (once a day, however many workers look)"]
    return [f"  today's digest ({done.period}) is owed to #finance: the notifier posts it" for done in posted]


def not_a_command(command: str, registered: str) -> list[str]:
    """Slackbot's answer to a slash command no installed app registered (the app never hears of it)."""
    return [
        "── Slackbot (only you see it) ──",
        f"  {command} is not a valid command. In Slack, all messages that start with the “/” character are"
        " interpreted as commands.",
        "  If you are trying to send a message and not run a command, try preceding the “/” with an empty space.",
        f"  (demo: the app's command is {registered})",
    ]

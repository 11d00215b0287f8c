"""The console's panels: the `mailbox` (what the local SMTP server received, the bounce mailbox), the
`digest` and `reminders` evaluated on demand, and what Slack itself answers when a typed command is
not one the app registered."""

from __future__ import annotations

from datetime import timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

from bot.cli_reminders import produced_words
from bot.reminders_loop import Reminders, dispatch_words
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


REMINDERS_USAGE = "  reminders [in N days]: evaluate the reminder schedule now, or N days from now (0 to 400)"


def reminder_days(rest: str) -> int | None:
    """`in N days` (or `in 1 day`, or nothing: now) as a number of days; None when it cannot be read."""
    words = rest.split()
    if not words:
        return 0
    if len(words) == 3 and words[0] == "in" and words[1].isdigit() and words[2] in ("day", "days"):
        days = int(words[1])
        return days if days <= 400 else None
    return None


async def reminder_lines(reminders: Reminders | None, rest: str) -> list[str]:
    """The reminder schedule evaluated at now + N days, as `invoicebot reminders run --as-of` does:
    what was produced, then which reminder emails were queued or wait for an approval."""
    if reminders is None:
        return ["  the demo is not started"]
    days = reminder_days(rest)
    if days is None:
        return [REMINDERS_USAGE]
    moment = utcnow() + timedelta(days=days)
    lines = [f"  the reminder schedule at {moment:%A %d %B %Y, %H:%M} UTC:"]
    for done in await reminders.evaluate(moment):
        lines += [f"  {line}" for line in produced_words(done.produced) + dispatch_words(done.dispatched)]
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

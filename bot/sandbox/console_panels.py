"""The console's `mailbox` panel: what the local SMTP server received, and the bounce mailbox."""

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

"""Where one `invoicebot demo` run keeps its emails, so a run never overwrites another's.

The local SMTP server names each email after the queue id it answers (`SBX000001.eml`, the
id the channel shows as "queued as SBX000001"), and the ids restart at each run: writing a
second run into the first one's folder would silently replace its emails while keeping its
bounce reports. So a run without `--mail-dir` gets a new dated folder under `./demo-mail/`,
and a `--mail-dir` that already holds files is refused with a sentence.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

DEFAULT_PARENT = Path("demo-mail")
MOST_SAME_SECOND_RUNS = 100


class MailFolderRefused(Exception):
    """The folder asked for would mix two runs; the message says what to do instead."""


def dated_folder(parent: Path, now: datetime) -> Path:
    """A new folder under `parent` named after `now` (`-2`, `-3`… within one second), created by this call.

    Created here, not only named: two runs started in the same second cannot both get it.
    """
    stem = now.strftime("%Y-%m-%d_%H-%M-%S")
    parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, MOST_SAME_SECOND_RUNS + 1):
        folder = parent / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise MailFolderRefused(f"{parent}/ already has {MOST_SAME_SECOND_RUNS} runs started at {stem}; try again")


def demo_mail_folder(requested: Path | None, *, now: datetime, parent: Path = DEFAULT_PARENT) -> Path:
    """The absolute folder this run writes to, created; raises MailFolderRefused for a non-empty `requested`."""
    if requested is None:
        return dated_folder(parent.resolve(), now)
    folder = requested.resolve()
    if folder.exists() and not folder.is_dir():
        raise MailFolderRefused(f"--mail-dir {requested}: not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise MailFolderRefused(
            f"--mail-dir {requested} already holds the files of an earlier run, which this run would overwrite: "
            "give an empty or new folder, or leave --mail-dir out to get a new dated folder under ./demo-mail/"
        )
    folder.mkdir(parents=True, exist_ok=True)
    return folder

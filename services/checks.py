"""One line of a checklist (`invoicebot doctor`, the start-up checks of `run`): passed or not, and the fix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    """`detail` says what was found; `fix` is the sentence an operator acts on when `ok` is False."""

    title: str
    ok: bool
    detail: str = ""
    fix: str | None = None


def passed(title: str, detail: str = "") -> Check:
    return Check(title, True, detail)


def failed(title: str, detail: str, fix: str) -> Check:
    return Check(title, False, detail, fix)

"""Is each background loop of this process making progress? The answer `/healthz` and `/metrics` give.

One `LoopHealth` is built at bootstrap and handed to each loop (as its `Heartbeat`) and to the
web app. A loop reports after each round what happened:

- `progressed()`: it did some work (claimed or sent a delivery, posted to Slack, read a bounce);
- `idle()`: nothing was due — an idle loop is healthy, however long it stays idle;
- `failed(reason, due=…)`: work is (or may be) due and the round could not do it.

A loop is *stalled* when it has reported a failure and neither progress nor idleness for
`stall_after` seconds; it is healthy again at its next good round, by itself. A loop that
reports every round (registered with `reports_each_round`) is also stalled when it has not
reported at all for `stall_after` seconds: it hangs inside a call rather than failing. The heartbeat
also decides what to log: only the first failure of a streak and the recovery, not each
retry, so a database locked for an hour is two lines in the log, not thousands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.errors import error_summary

log = logging.getLogger("invoicebot.health")

DEFAULT_STALL_SECONDS = 60.0


@dataclass(frozen=True)
class LoopVerdict:
    """One loop's health as `/healthz` and `/metrics` show it."""

    name: str
    healthy: bool
    seconds_since_progress: float
    reason: str | None  # why it is stalled, in a sentence; None while healthy


class Heartbeat:
    """One loop's reports. Not thread-safe: a loop and the web app share one event loop."""

    def __init__(
        self, name: str, *, stall_after: float, clock: Callable[[], float], reports_each_round: bool = False
    ) -> None:
        self.name = name
        self.stall_after = stall_after
        self.reports_each_round = reports_each_round
        self._clock = clock
        self._ok_at = clock()
        self._reported_at = self._ok_at
        self._error: str | None = None
        self._due: str | None = None
        self._failures = 0

    def progressed(self) -> None:
        """Work was done this round."""
        self._recovered()
        self._ok_at = self._reported_at = self._clock()

    def idle(self) -> None:
        """Nothing was due this round."""
        self._recovered()
        self._ok_at = self._reported_at = self._clock()

    def failed(self, reason: str, *, due: str | None = None) -> bool:
        """A round could not do the work that is due (`due`: what is waiting, e.g. "3 deliveries").

        Returns True for the first failure of a streak: the caller logs that one with its
        context and traceback, and the retries that follow quietly.
        """
        self._failures += 1
        self._reported_at = self._clock()
        self._error = reason
        if due is not None:
            self._due = due
        return self._failures == 1

    @property
    def failures(self) -> int:
        """Rounds failed in a row (0 while healthy): the caller's backoff exponent."""
        return self._failures

    def verdict(self) -> LoopVerdict:
        now = self._clock()
        quiet = max(0.0, now - self._ok_at)
        if quiet < self.stall_after:
            return LoopVerdict(self.name, True, quiet, None)
        if self._error is not None:
            waiting = f"{self._due} are due" if self._due else "work is due"
            reason = f"{self.name}: no progress for {quiet:.0f} s while {waiting}: {self._error}"
            return LoopVerdict(self.name, False, quiet, reason)
        silent = now - self._reported_at
        if self.reports_each_round and silent >= self.stall_after:
            reason = f"{self.name}: no progress for {quiet:.0f} s: its round has not ended for {silent:.0f} s"
            return LoopVerdict(self.name, False, quiet, reason)
        return LoopVerdict(self.name, True, quiet, None)

    def _recovered(self) -> None:
        if self._failures:
            log.info("%s: working again after %s failed round(s)", self.name, self._failures)
        self._failures = 0
        self._error = None
        self._due = None


class LoopHealth:
    """The registry of this process's loops; `/healthz` is red while any of them is stalled."""

    def __init__(self, *, stall_after: float = DEFAULT_STALL_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.stall_after = stall_after
        self._clock = clock
        self._loops: dict[str, Heartbeat] = {}

    def loop(self, name: str, *, reports_each_round: bool = False) -> Heartbeat:
        """The heartbeat of the loop called `name` (registered on first use, then the same one).

        `reports_each_round`: the loop reports at least every few seconds (it polls), so a
        silence of `stall_after` means it hangs. Not for a loop that may wait long on purpose
        (an IMAP IDLE)."""
        if name not in self._loops:
            self._loops[name] = Heartbeat(
                name, stall_after=self.stall_after, clock=self._clock, reports_each_round=reports_each_round
            )
        return self._loops[name]

    def verdicts(self) -> list[LoopVerdict]:
        return [heartbeat.verdict() for heartbeat in self._loops.values()]

    def problems(self) -> list[str]:
        """The reason of each stalled loop; empty when all are healthy (or none runs here)."""
        return [v.reason for v in self.verdicts() if v.reason is not None]


async def run_rounds(
    stop: asyncio.Event,
    work: Callable[[], Awaitable[bool]],
    *,
    heartbeat: Heartbeat,
    every: float,
    due: str,
    logger: logging.Logger,
) -> None:
    """The one shape of a scheduled loop (the digest, autosend, the emails' retention): a round of
    `work` (True when it did something), reported to the heartbeat, then a wait of `every` seconds
    or until `stop`. A failed round is retried next round; its traceback is logged once a streak."""
    while not stop.is_set():
        try:
            worked = await work()
        except Exception as exc:  # the round's transaction rolled back; the next round tries again
            if heartbeat.failed(error_summary(exc), due=due):
                logger.exception("%s failed; retried next round", due)
        else:
            heartbeat.progressed() if worked else heartbeat.idle()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)

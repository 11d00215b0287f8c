"""The loop that seals the audit log: chains new entries every few seconds (services/audit_chain.py).

Runs beside the worker in every worker process (`run`, `worker`); sealers on PostgreSQL give way
to each other, so any number of processes may run it. A failed round is retried next round:
entries wait unsealed, nothing is lost. Each round reports to the loop's heartbeat
(bot/loop_health.py), which /healthz reads: a failing streak turns it red after the stall
window, and is logged once, with its traceback, and once more when sealing works again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.loop_health import Heartbeat
from services.audit_chain import SessionFactory, seal_audit_chain
from services.errors import error_summary

log = logging.getLogger("invoicebot.audit_sealer")

SEAL_EVERY_SECONDS = 5.0


async def run_audit_sealer(
    sessions: SessionFactory, stop: asyncio.Event, heartbeat: Heartbeat, *, every: float = SEAL_EVERY_SECONDS
) -> None:
    """Seal, then wait `every` seconds or until `stop`, until `stop` is set (and seal once more)."""
    while True:
        try:
            sealed = await seal_audit_chain(sessions)
        except Exception as exc:  # a round that fails is retried; the loop never ends on it
            if heartbeat.failed(f"audit entries not sealed: {error_summary(exc)}", due="unsealed audit entries"):
                log.exception("sealing the audit log failed; its entries wait for the next round")
        else:
            if sealed:
                heartbeat.progressed()
            else:
                heartbeat.idle()
        if stop.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)

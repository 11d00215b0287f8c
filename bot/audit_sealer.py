"""The loop that seals the audit log: chains new entries every few seconds (services/audit_chain.py).

Runs beside the worker in every worker process (`run`, `worker`); sealers on PostgreSQL give way
to each other, so any number of processes may run it. A failed round is logged and retried next
round: entries wait unsealed, nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.audit_chain import SessionFactory, seal_audit_chain

log = logging.getLogger("invoicebot.audit_sealer")

SEAL_EVERY_SECONDS = 5.0


async def run_audit_sealer(sessions: SessionFactory, stop: asyncio.Event, *, every: float = SEAL_EVERY_SECONDS) -> None:
    """Seal, then wait `every` seconds or until `stop`, until `stop` is set (and seal once more)."""
    while True:
        try:
            await seal_audit_chain(sessions)
        except Exception:  # a round that fails is retried; the loop never ends on it
            log.exception("sealing the audit log failed; its entries wait for the next round")
        if stop.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)

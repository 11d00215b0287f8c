"""The loop-health registry: when a loop counts as stalled, and when it is healthy again by itself."""

from __future__ import annotations

from bot.loop_health import LoopHealth


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_idle_loop_stays_healthy_however_long_it_has_nothing_to_do() -> None:
    clock = Clock()
    health = LoopHealth(stall_after=60, clock=clock)
    health.loop("worker").idle()
    clock.now += 3600
    assert health.problems() == []


def test_a_loop_failing_past_the_stall_time_is_red_with_its_reason_then_green_at_its_next_progress() -> None:
    clock = Clock()
    health = LoopHealth(stall_after=60, clock=clock)
    worker = health.loop("worker")
    assert worker.failed("database is locked", due="3 deliveries") is True
    clock.now += 30
    assert worker.failed("database is locked") is False  # the same streak: logged once
    assert health.problems() == []  # not yet past the stall time
    clock.now += 65
    assert health.problems() == ["worker: no progress for 95 s while 3 deliveries are due: database is locked"]
    assert [v.healthy for v in health.verdicts()] == [False]
    worker.progressed()
    assert health.problems() == [] and worker.failures == 0


def test_one_registry_holds_one_heartbeat_per_loop_name() -> None:
    health = LoopHealth()
    assert health.loop("Slack notifier") is health.loop("Slack notifier")
    health.loop("bounce mailbox")
    assert [v.name for v in health.verdicts()] == ["Slack notifier", "bounce mailbox"]


def test_a_polling_loop_that_stops_reporting_is_red_because_it_hangs_inside_a_call() -> None:
    clock = Clock()
    health = LoopHealth(stall_after=60, clock=clock)
    worker = health.loop("worker", reports_each_round=True)
    mailbox = health.loop("bounce mailbox")  # may wait in IMAP IDLE for minutes on purpose
    worker.idle()
    mailbox.idle()
    clock.now += 61
    assert health.problems() == ["worker: no progress for 61 s: its round has not ended for 61 s"]
    worker.idle()
    assert health.problems() == []

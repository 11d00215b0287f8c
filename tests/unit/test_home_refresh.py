"""App Home's republish: debounced per person, coalesced, within a per-minute budget; the block limit."""

from __future__ import annotations

from handlers.blocks.elements import section
from handlers.blocks.home import MAX_BLOCKS, within_limits
from handlers.home_refresh import HomeViewers
from tests.harness.reading import texts


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def viewers(clock: Clock, published: list[str], **knobs: float) -> HomeViewers[str]:
    async def publish(user: str) -> None:
        published.append(user)

    return HomeViewers(publish, clock=clock, **knobs)  # type: ignore[arg-type]


async def test_a_burst_of_changes_costs_one_publish_per_person_after_the_interval():
    clock, published = Clock(), list[str]()
    home = viewers(clock, published, min_interval=10.0)
    await home.opened(1, "U1", "U1")
    await home.opened(2, "U2", "U2")  # another organisation
    for _ in range(5):
        home.changed(1)

    assert await home.publish_due() == 0  # opened just now: the change waits for the interval
    assert home.owed() == [(1, "U1")]
    clock.now += 10
    assert await home.publish_due() == 1
    assert await home.publish_due() == 0
    assert published == ["U1", "U2", "U1"]


async def test_publishes_beyond_the_per_minute_budget_wait_for_the_next_minute():
    clock, published = Clock(), list[str]()
    home = viewers(clock, published, min_interval=0.0, per_minute=3)
    for n in range(3):
        await home.opened(1, f"U{n}", f"U{n}")
    home.changed(1)

    assert await home.publish_due() == 0  # three opens spent the minute's budget
    clock.now += 61
    assert await home.publish_due() == 3
    assert home.owed() == []


async def test_a_failed_publish_stays_owed():
    clock, attempts = Clock(), []

    async def publish(user: str) -> None:
        attempts.append(user)
        if len(attempts) == 2:
            raise ConnectionError("Slack unreachable")

    home: HomeViewers[str] = HomeViewers(publish, clock=clock, min_interval=0.0)
    await home.opened(1, "U1", "U1")
    home.changed(1)
    assert await home.publish_due() == 0
    assert home.owed() == [(1, "U1")]
    assert await home.publish_due() == 1


def test_more_than_a_hundred_blocks_are_cut_with_how_many_were_left_out():
    blocks = [section(f"row {n}") for n in range(130)]

    kept = within_limits(blocks)

    assert len(kept) == MAX_BLOCKS
    assert texts(kept)[-1] == "and 31 more blocks — `/invoices help`"
    assert within_limits(blocks[:100]) == blocks[:100]

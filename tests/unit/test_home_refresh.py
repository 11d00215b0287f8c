"""App Home's republish: debounced per person, coalesced, within a per-minute budget; the block limit."""

from __future__ import annotations

from handlers.blocks.elements import section
from handlers.blocks.home import MAX_BLOCKS, within_limits
from handlers.home_refresh import MAX_TRIES, HomeViewers
from tests.harness.reading import texts


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Register:
    """Who has App Home per organisation (the database's role), and what was published."""

    def __init__(self) -> None:
        self.homes: dict[int, list[str]] = {}
        self.published: list[str] = []

    async def opened(self, home: HomeViewers, organisation_id: int, user_id: str) -> None:
        """What the app_home_opened handler does: register, publish at once, debounce from then."""
        self.homes.setdefault(organisation_id, []).append(user_id)
        self.published.append(user_id)
        home.published(organisation_id, user_id)

    async def publish(self, organisation_id: int, user_id: str) -> None:
        self.published.append(user_id)

    async def viewers(self, organisation_id: int) -> list[str]:
        return self.homes.get(organisation_id, [])


def viewers(clock: Clock, register: Register, **knobs: float) -> HomeViewers:
    return HomeViewers(register.publish, register.viewers, clock=clock, **knobs)  # type: ignore[arg-type]


async def test_a_burst_of_changes_costs_one_publish_per_person_after_the_interval():
    clock, register = Clock(), Register()
    home = viewers(clock, register, min_interval=10.0)
    await register.opened(home, 1, "U1")
    await register.opened(home, 2, "U2")  # another organisation
    for _ in range(5):
        home.changed(1)

    assert await home.publish_due() == 0  # opened just now: the change waits for the interval
    assert home.owed() == [(1, "U1")]
    clock.now += 10
    assert await home.publish_due() == 1
    assert await home.publish_due() == 0
    assert register.published == ["U1", "U2", "U1"]


async def test_viewers_registered_elsewhere_are_republished_at_once():
    """Opened through another process: this one never published them, so no debounce holds them back."""
    clock, register = Clock(), Register()
    register.homes[1] = ["U1", "U2"]
    home = viewers(clock, register, min_interval=10.0)
    home.changed(1)
    assert await home.publish_due() == 2
    assert register.published == ["U1", "U2"]
    home.changed(1)
    assert await home.publish_due() == 0  # published here a moment ago: debounced
    clock.now += 10
    assert await home.publish_due() == 2


async def test_publishes_beyond_the_per_minute_budget_wait_for_the_next_minute():
    clock, register = Clock(), Register()
    home = viewers(clock, register, min_interval=0.0, per_minute=3)
    for n in range(3):
        await register.opened(home, 1, f"U{n}")
    home.changed(1)

    assert await home.publish_due() == 0  # three opens spent the minute's budget
    clock.now += 61
    assert await home.publish_due() == 3
    assert home.owed() == []


async def test_a_failed_publish_or_lookup_stays_owed():
    clock, attempts, lookups = Clock(), list[str](), list[int]()

    async def publish(organisation_id: int, user: str) -> None:
        attempts.append(user)
        if len(attempts) == 1:
            raise ConnectionError("Slack unreachable")

    async def lookup(organisation_id: int) -> list[str]:
        lookups.append(organisation_id)
        if len(lookups) == 1:
            raise ConnectionError("database unreachable")
        return ["U1"]

    home = HomeViewers(publish, lookup, clock=clock, min_interval=0.0)
    home.changed(1)
    assert await home.publish_due() == 0  # the lookup failed: the organisation stays changed
    assert await home.publish_due() == 0  # the publish failed: the person stays owed
    assert home.owed() == [(1, "U1")]
    assert await home.publish_due() == 1
    assert (lookups, attempts) == ([1, 1], ["U1", "U1"])


async def test_a_view_that_keeps_failing_is_given_up_until_the_next_change():
    clock, tries = Clock(), list[str]()

    async def publish(organisation_id: int, user: str) -> None:
        tries.append(user)
        raise ConnectionError("not_installed")

    async def lookup(organisation_id: int) -> list[str]:
        return ["U1"]

    home = HomeViewers(publish, lookup, clock=clock, min_interval=0.0)
    home.changed(1)
    for _ in range(MAX_TRIES + 2):
        await home.publish_due()
    assert (len(tries), home.owed()) == (MAX_TRIES, [])
    home.changed(1)
    await home.publish_due()
    assert len(tries) == MAX_TRIES + 1


def test_more_than_a_hundred_blocks_are_cut_with_how_many_were_left_out():
    blocks = [section(f"row {n}") for n in range(130)]

    kept = within_limits(blocks)

    assert len(kept) == MAX_BLOCKS
    assert texts(kept)[-1] == "and 31 more blocks — `/invoices help`"
    assert within_limits(blocks[:100]) == blocks[:100]


class ChangedElsewhere:
    """The database's answer to "which organisations changed?" (a CLI payment, a midnight), or its failure."""

    def __init__(self) -> None:
        self.pending: set[int] = set()
        self.asked = 0
        self.failing = False

    async def __call__(self) -> set[int]:
        self.asked += 1
        if self.failing:
            raise ConnectionError("database gone")
        taken, self.pending = self.pending, set()
        return taken


async def test_changes_committed_elsewhere_are_polled_every_few_seconds_and_a_failed_poll_is_retried():
    clock, register, changes = Clock(), Register(), ChangedElsewhere()
    home = HomeViewers(register.publish, register.viewers, clock=clock, min_interval=0.0, changes=changes)
    await register.opened(home, 1, "U1")
    changes.pending = {1}
    assert await home.publish_due() == 1  # the first round asks at once
    changes.pending = {1}
    assert await home.publish_due() == 0  # asked again only after poll_every
    assert changes.asked == 1
    clock.now += home.poll_every
    changes.failing = True
    assert await home.publish_due() == 0  # logged; the rows wait in the database
    changes.failing = False
    clock.now += home.poll_every
    assert await home.publish_due() == 1
    assert (changes.asked, register.published) == (3, ["U1", "U1", "U1"])

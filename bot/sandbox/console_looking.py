"""The demo console's looking-around commands: `channel`, `home`, `mailbox`, `digest` and `reminders`.

A mixin of `Console` (bot/sandbox/console.py), kept apart so each module stays small: these
commands only read the stand-in and the demo's folders (and, for `digest`, evaluate the schedule
as the worker would), while the console proper types, clicks and fills modals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.sandbox.console_blocks import Where, render_blocks
from bot.sandbox.console_panels import digest_lines, mailbox_lines, reminder_lines
from bot.sandbox.demo import CHANNEL, CHANNEL_NAME

if TYPE_CHECKING:
    from bot.sandbox.console_blocks import Clickable
    from bot.sandbox.console_home import HomePanel
    from bot.sandbox.demo import Demo, DemoSlackApi


class LookingAround:
    """What these commands need of the console (declared for the type checker only)."""

    if TYPE_CHECKING:
        demo: Demo
        api: DemoSlackApi
        home: HomePanel
        user: str
        names: dict[str, str]

        def show(self, *lines: str) -> None: ...
        def number(self, clickable: Clickable) -> int: ...
        def render(self, title: str, blocks: list[Any], text: str, where: Where) -> None: ...
        def slack_user(self) -> Any: ...
        def _activity(self) -> int: ...
        async def settle(self, before: int) -> None: ...

    async def look_around(self, word: str, rest: str = "") -> bool:
        """Run `word` when it is one of these commands; False when it is not."""
        if word == "channel":
            self.show_channel()
        elif word == "home":
            self._show_home(await self.home.open(self.demo.requests, self.slack_user()), "opened")
        elif word == "mailbox":
            self.show_mailbox()
        elif word == "digest":
            await self.digest()
        elif word == "reminders":
            await self.reminders(rest)
        else:
            return False
        return True

    def show_channel(self) -> None:
        messages = self.api.messages.get(CHANNEL, [])
        tops = [m for m in messages if m.ts not in self.api.threads and not m.user]
        if not tops:
            self.show(f"  #{CHANNEL_NAME} has no messages yet")
        for message in tops:
            self.render(f"#{CHANNEL_NAME}", message.blocks, message.text, Where("channel", CHANNEL, message.ts))
            for reply in (m for m in messages if self.api.threads.get(m.ts) == message.ts):
                lines = render_blocks(
                    reply.blocks, where=Where("channel", CHANNEL, reply.ts), number=self.number, names=self.names
                )
                self.show("  ↳ reply in thread:", *("    " + line for line in lines))

    def _show_home(self, view: dict[str, Any] | None, how: str) -> None:
        if view is not None:
            self.render(f"App Home of @{self.user} · {how}", list(view["blocks"]), "", Where("home"))

    def show_mailbox(self) -> None:
        self.show(*mailbox_lines(self.demo.mail_dir, self.demo.bounces))

    async def digest(self) -> None:
        """`digest`: the schedule evaluated now (`invoicebot digest run`); the notifier posts what it owes."""
        before = self._activity()
        self.show(*await digest_lines(self.demo.digest_units))
        await self.settle(before)

    async def reminders(self, rest: str) -> None:
        """`reminders [in N days]`: the reminder schedule evaluated then; the channel shows what it owes."""
        before = self._activity()
        self.show(*await reminder_lines(self.demo.reminders, rest))
        await self.settle(before)

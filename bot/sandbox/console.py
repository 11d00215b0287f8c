"""The demo console: type what you would type in Slack, read what the real app sent to the stand-in.

Every input is a real signed request to the running web app (`SlackRequestClient`):
`/invoices due` a slash command, a number or `click LABEL` a button or overflow option,
`submit` a modal. Every answer shown is what the app sent: the acknowledgement's body,
posts to the `response_url`, modals (`views.open` / `views.update`) and channel messages
(`chat.postMessage` / `chat.update`), which a watcher prints as they appear or change.
The same `Console` runs interactively and from a script (`run_script`, see README).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bot.sandbox.console_blocks import (
    Clickable,
    Where,
    describe_value,
    input_label,
    input_value,
    parse_choice,
    plain,
    render_blocks,
    render_input,
    state_values,
    view_action_body,
)
from bot.sandbox.console_home import HomePanel
from bot.sandbox.console_looking import LookingAround
from bot.sandbox.console_panels import not_a_command
from bot.sandbox.demo import CHANNEL, CHANNEL_NAME, USERS, Demo
from bot.sandbox.slack_requests import button_click, overflow_choice
from handlers.ids import COMMAND

HELP = """\
  /invoices due            a slash command, as typed in Slack (also /invoices help, show N, sent, problems)
  3                        click the button or menu option numbered [3]
  click LABEL [ROW TEXT]   click by label, e.g. click Review & send DEMO-0009, click Approve
  set FIELD = VALUE        fill a modal field by its label, e.g. set To = ap@acme.example
                           (a file field takes local paths: set Extra attachments = examples/invoices.csv)
  fill                     go through the modal's fields one by one (Enter keeps a value)
  submit | cancel          submit or close the open modal
  as bob                   act as another demo user (alice, bob); also /as bob
  channel | home           the #finance channel with its threads | your App Home (shown again as it changes)
  mailbox                  the emails the local SMTP server received, and the bounce mailbox
  digest                   the daily digest, evaluated now as the worker does at its hour (once a day)
  reminders [in N days]    the reminder schedule evaluated now or N days ahead (produce, then queue the emails)
  help | quit              this help | stop everything and exit (Ctrl-C works too)"""
SETTLE_SECONDS = 3.0  # how long to wait for an action's first visible effect before the prompt


class Console(LookingAround):
    def __init__(self, demo: Demo, write: Callable[[str], None], *, files_from: Path | None = None) -> None:
        self.demo, self.api = demo, demo.slack
        self.write = write
        self.files_from = files_from  # a script's folder: its relative file paths are read from there
        self.user = "alice"
        self.names = {user.id: name for name, user in USERS.items()} | {self.api.bot_user_id: "invoicebot"}
        self.transcript: list[str] = []
        self.numbers: dict[int, Clickable] = {}
        self.recent: list[Clickable] = []
        self.renumber = True
        self.modal: dict[str, Any] | None = None
        self.typed: dict[str, Any] = {}
        self.filling: list[Mapping[str, Any]] | None = None
        self._closed: set[str] = set()
        self._views: dict[str, str] = {}
        self._messages: dict[str, int] = {}
        self._responses = 0
        self._keys = 0
        self.home = HomePanel(self.api)

    # -- output ---------------------------------------------------------------------------

    def show(self, *lines: str) -> None:
        for line in lines:
            self.transcript.append(line)
            self.write(line)

    def number(self, clickable: Clickable) -> int:
        """Numbers restart at [1] with the first answer after each input; labels always work."""
        if self.renumber:
            self.numbers, self.renumber = {}, False
        self.numbers[len(self.numbers) + 1] = clickable
        self.recent = [*self.recent[-300:], clickable]
        return len(self.numbers)

    def render(self, title: str, blocks: list[Any], text: str, where: Where) -> None:
        lines = render_blocks(blocks, where=where, number=self.number, names=self.names) if blocks else []
        self.show(f"── {title} ──", *(lines or ["  " + plain(text, self.names)]))

    # -- watching the stand-in ---------------------------------------------------------------

    def poll_changes(self) -> bool:
        """Show what the app sent since the last look; True if anything was shown."""
        shown = len(self.transcript)
        for post in self.api.responses[self._responses :]:
            body = post.body
            if body.get("delete_original"):
                self.show("── reply removed ──")
            else:
                title = "reply (replaces the one above)" if body.get("replace_original") else "reply (only you see it)"
                self.render(title, list(body.get("blocks") or []), str(body.get("text", "")), Where("reply"))
        self._responses = len(self.api.responses)
        for view_id, view in list(self.api.views.items()):
            if self._views.get(view_id) != view.get("hash") and view_id not in self._closed:
                self._views[view_id] = str(view.get("hash"))
                self.open_modal(dict(view))
        for channel, messages in list(self.api.messages.items()):
            for message in list(messages):
                if self._messages.get(message.ts) == message.edits:
                    continue
                title = "updated" if message.ts in self._messages else "new message"
                self._messages[message.ts] = message.edits
                where = f"#{CHANNEL_NAME}" if channel == CHANNEL else f"#{channel}"
                if message.user:
                    where += f", only visible to @{self.names.get(message.user, message.user)}"
                parent = self.api.threads.get(message.ts)
                if parent:
                    where += f", in the thread of “{self._first_line(channel, parent)}”"
                self.render(f"{where} · {title}", message.blocks, message.text, Where("channel", channel, message.ts))
        self._show_home(self.home.changed(self.slack_user().id), "updated")
        return len(self.transcript) > shown

    def _first_line(self, channel: str, ts: str) -> str:
        for message in self.api.messages.get(channel, []):
            if message.ts == ts:
                return plain(message.text, self.names).splitlines()[0][:60]
        return ts

    async def settle(self, before: int) -> None:
        """Wait (bounded) for the action's first effect in the stand-in, then show it."""
        with contextlib.suppress(TimeoutError):
            await self.api.wait_until(lambda: self._activity() != before, within=SETTLE_SECONDS)
        await asyncio.sleep(0.3)
        self.poll_changes()

    def _activity(self) -> int:
        return len(self.api.calls) + len(self.api.responses)

    # -- modals ----------------------------------------------------------------------------

    def open_modal(self, view: dict[str, Any]) -> None:
        self.modal, self.typed, self.filling = view, {}, None
        self.show_modal()
        if not view.get("submit"):
            self.close_modal(quiet=True)

    def show_modal(self) -> None:
        view = self.modal or {}
        title = plain(str((view.get("title") or {}).get("text", "")))
        lines = [f"┌─ modal: {title} ─"]
        for block in view.get("blocks") or []:
            if block.get("type") == "input":
                lines += render_input(block, names=self.names, typed=self.typed)
            else:
                lines += render_blocks([block], where=Where("modal"), number=self.number, names=self.names)
        submit = plain(str((view.get("submit") or {}).get("text", "")))
        close = plain(str((view.get("close") or {}).get("text", "Close")))
        if submit:
            lines.append(f"└─ submit = [{submit}] · cancel = [{close}] · set FIELD = VALUE · fill")
        else:
            lines.append(f"└─ [{close}] (the modal closes)")
        self.show(*lines)

    def close_modal(self, *, quiet: bool = False) -> None:
        if self.modal is not None:
            self._closed.add(str(self.modal.get("id")))
        self.modal, self.typed, self.filling = None, {}, None
        if not quiet:
            self.show("(modal closed)")

    def inputs(self) -> list[Mapping[str, Any]]:
        return [block for block in (self.modal or {}).get("blocks") or [] if block.get("type") == "input"]

    def field(self, label: str) -> Mapping[str, Any] | None:
        wanted = label.strip().lower()
        inputs = self.inputs()
        exact = [block for block in inputs if input_label(block).lower() == wanted]
        return next(iter(exact or [block for block in inputs if input_label(block).lower().startswith(wanted)]), None)

    async def set_field(self, block: Mapping[str, Any], answer: str) -> bool:
        try:
            value = parse_choice(block, answer)
            if (block.get("element") or {}).get("type") == "file_input":
                value = self._upload(value)
        except OSError as error:
            self.show(f"  {input_label(block)}: {error.strerror or error}: {error.filename}")
            return False
        except ValueError as error:
            self.show(f"  {input_label(block)}: {error}")
            return False
        self.typed[str(block.get("block_id"))] = value
        self.show(f"  {input_label(block)} = {describe_value(block, value)}")
        if block.get("dispatch_action") and self.modal is not None:
            await self._dispatch(block, value)
        return True

    def _upload(self, paths: list[str]) -> list[str]:
        """Local files uploaded to the Slack stand-in, as Slack does on a file_input: their file ids."""
        found = [self._local_file(path) for path in paths]
        return [self.api.files.upload(path.name, path.read_bytes()) for path in found]

    def _local_file(self, typed: str) -> Path:
        """The path as typed; a relative one not found here is looked for beside the script."""
        path = Path(typed).expanduser()
        if not path.exists() and not path.is_absolute() and self.files_from is not None:
            return self.files_from / path
        return path

    async def _dispatch(self, block: Mapping[str, Any], value: Any) -> None:
        """A select with `dispatch_action` (the language) tells the app at once, as Slack does."""
        assert self.modal is not None and self.demo.requests is not None
        element = block.get("element") or {}
        view = {**self.modal, "state": {"values": state_values(self.modal, self.typed)}}
        action = {"type": element.get("type"), "action_id": element.get("action_id"), "block_id": block.get("block_id")}
        before = self._activity()
        await self.demo.requests.post(view_action_body(view, {**action, "selected_option": value}, self.slack_user()))
        await self.settle(before)

    def next_fill_prompt(self) -> None:
        if self.filling:
            block = self.filling[0]
            value = describe_value(block, input_value(block, self.typed))
            self.show(f"  {input_label(block)} [{value}]: (Enter keeps it)")
        else:
            self.filling = None
            self.show("  all fields done: type submit (or cancel)")

    async def submit(self) -> None:
        assert self.modal is not None and self.demo.requests is not None
        values = state_values(self.modal, self.typed)
        response = await self.demo.requests.submit(self.modal, values, user=self.slack_user())
        if response.status_code != 200:
            self.show(f"  the app answered HTTP {response.status_code}: {response.text[:200]}")
            return
        answer = response.json() if response.content else {}
        action = answer.get("response_action")
        if action == "errors":
            labels = {str(block.get("block_id")): input_label(block) for block in self.inputs()}
            for block_id, message in (answer.get("errors") or {}).items():
                self.show(f"  ⚠️ {labels.get(block_id, block_id)}: {plain(str(message), self.names)}")
        elif action in ("update", "push"):
            view = {**answer["view"], "id": self.modal.get("id"), "hash": self.modal.get("hash")}
            if view.get("submit"):
                self.open_modal(view)
            else:  # "⏳ Sending…": the app finishes after its ack and updates this modal (views.update)
                self.modal, self.typed, self.filling = view, {}, None
                self.show_modal()
                await self.settle(self._activity())
        else:
            self.close_modal()

    # -- inputs ----------------------------------------------------------------------------

    def slack_user(self) -> Any:
        return USERS[self.user]

    async def handle(self, line: str) -> bool:
        """One console input. Returns False when the console should stop."""
        self.transcript, self.renumber = [], True
        text = line.strip()
        if self.filling is not None and text not in ("submit", "cancel", "quit"):
            if not text or await self.set_field(self.filling[0], text):
                self.filling.pop(0)
            self.next_fill_prompt()
            return True
        word, _, rest = text.partition(" ")
        if not text:
            return True
        if word in ("quit", "exit"):
            return False
        await self._run_command(text, word, rest)
        return True

    async def _run_command(self, text: str, word: str, rest: str) -> None:
        """A console command other than quitting."""
        if word == "help":
            self.show(HELP)
        elif word in ("as", "/as"):
            self.switch_user(rest.strip().lower())
        elif text.startswith("/"):
            await self.command(text)
        elif text.isdigit():
            await self.click_number(int(text))
        elif word == "click":
            await self.click_label(rest)
        elif word in ("set", "fill", "submit", "cancel"):
            await self.modal_input(word, rest)
        elif not await self.look_around(word, rest):
            self.show(f"  I don't know “{text}”. Type help.")

    def switch_user(self, name: str) -> None:
        if name not in USERS:
            self.show(f"  the demo users are {', '.join(USERS)}")
            return
        self.user = name
        self.show(f"  you are now @{name}")

    async def command(self, text: str) -> None:
        assert self.demo.requests is not None
        command, _, argument = text.partition(" ")
        if command.lower() != COMMAND:  # Slack answers itself: the app never receives a command it did not register
            self.show(*not_a_command(command, COMMAND))
            return
        key = self._key()
        before = self._activity()
        response = await self.demo.requests.command(
            argument.strip(), user=self.slack_user(), response_url=key, command=command, channel_id=CHANNEL
        )
        if response.status_code != 200:
            self.show(f"  Slack would show: the app answered HTTP {response.status_code}")
        elif response.content and response.headers.get("content-type", "").startswith("application/json"):
            body = response.json()
            self.render(
                "reply (only you see it)", list(body.get("blocks") or []), str(body.get("text", "")), Where("reply")
            )
            return
        await self.settle(before)

    def _key(self) -> str:
        self._keys += 1
        return self.api.response_url(f"c{self._keys}")

    async def click_number(self, number: int) -> None:
        clickable = self.numbers.get(number)
        if clickable is None:
            self.show(f"  there is no [{number}] on screen; type channel, or click LABEL")
            return
        await self.click(clickable)

    async def click_label(self, words: str) -> None:
        """The latest shown button whose label is typed (plus words of its row), else whose label starts so."""
        wanted = " ".join(words.lower().split())

        def exact(clickable: Clickable) -> bool:
            label = " ".join(clickable.label.lower().split())
            if wanted != label and not wanted.startswith(label + " "):
                return False
            rest = wanted[len(label) :].strip()
            return not rest or rest in " ".join(plain(clickable.context, self.names).lower().split())

        def prefix(clickable: Clickable) -> bool:
            return bool(wanted) and " ".join(clickable.label.lower().split()).startswith(wanted)

        for matches in (exact, prefix):
            for clickable in reversed(self.recent):
                if matches(clickable):
                    await self.click(clickable)
                    return
        self.show(f"  no button “{words.strip()}” has been shown")

    async def click(self, clickable: Clickable) -> None:
        assert self.demo.requests is not None
        if clickable.option_value is not None:
            action = overflow_choice(
                clickable.element, block_id=clickable.block_id, option_value=clickable.option_value
            )
        else:
            action = button_click(clickable.element, block_id=clickable.block_id)
        where = clickable.where
        options: dict[str, Any] = {"channel_id": where.channel or CHANNEL}
        if where.ts:
            options["message_ts"] = where.ts
        self.show(f"  (@{self.user} clicks “{clickable.label}”)")
        before = self._activity()
        response = await self.demo.requests.click(action, user=self.slack_user(), response_url=self._key(), **options)
        if response.status_code != 200:
            self.show(f"  the app answered HTTP {response.status_code}")
        await self.settle(before)

    async def modal_input(self, word: str, rest: str) -> None:
        if word in ("submit", "cancel"):
            self.filling = None
        if self.modal is None:
            self.show("  no modal is open")
        elif word == "cancel":
            self.close_modal()
        elif word == "submit":
            await self.submit()
        elif word == "fill":
            self.filling = list(self.inputs())
            self.next_fill_prompt()
        else:
            label, equals, value = rest.partition("=")
            block = self.field(label) if equals else None
            if block is None:
                fields = ", ".join(input_label(b) for b in self.inputs())
                self.show(f"  type set FIELD = VALUE; the fields are: {fields}")
            else:
                await self.set_field(block, value.strip())

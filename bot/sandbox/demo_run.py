"""Run the demo: start everything, drive the console from the keyboard or a script, stop everything.

Script format (the contract, also in the README): one console input per line, exactly as
a person types it; `expect: TEXT` waits until TEXT appears in what the console showed
since the previous input (30 s, or what the last `expect-within: SECONDS` said) and the
run fails naming the first expectation that did not come; `#` starts a comment line.
Inside `fill`, an empty line is an Enter (keep the value).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.sandbox.console import Console
from bot.sandbox.demo import USERS, Demo
from bot.sandbox.mail_folder import MailFolderRefused, demo_mail_folder

__all__ = ["MailFolderRefused", "demo_mail_folder", "run_demo"]

DEFAULT_EXPECT_SECONDS = 30.0
WATCH_INTERVAL = 0.1


class ExpectationFailed(Exception):
    """A script's `expect:` did not come in time; the message names the line and the text."""


async def wait_for_text(console: Console, text: str, within: float) -> bool:
    deadline = time.monotonic() + within
    while True:
        console.poll_changes()
        if text in "\n".join(console.transcript):
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(WATCH_INTERVAL)


async def run_script(console: Console, lines: list[str], echo: Callable[[str], None]) -> None:
    """Feed `lines` to the console; raise ExpectationFailed at the first unmet `expect:`."""
    within = DEFAULT_EXPECT_SECONDS
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and console.filling is None):
            continue
        if stripped.startswith("expect-within:"):
            within = float(stripped.partition(":")[2])
            continue
        if stripped.startswith("expect:"):
            text = stripped.partition(":")[2].strip()
            if not await wait_for_text(console, text, within):
                raise ExpectationFailed(f"line {number}: expect: {text} (not shown within {within:g} s)")
            continue
        echo(f"{console.user}> {line}")
        if not await console.handle(line):
            return


async def run_interactive(console: Console, prompt: Callable[[], None]) -> None:
    """Read the keyboard in a daemon thread (a blocked read never delays exit); watch the channel meanwhile."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=read, name="demo-console-input", daemon=True).start()
    prompt()
    while True:
        try:
            line = await asyncio.wait_for(lines.get(), timeout=WATCH_INTERVAL)
        except TimeoutError:
            if console.poll_changes():
                prompt()
            continue
        if line is None or not await console.handle(line):
            return
        console.poll_changes()
        prompt()


def banner(demo: Demo) -> list[str]:
    ports = demo.ports
    if demo.slack.socket_mode is not None:
        web = f"  web app (invoice pages, webhooks)        http://127.0.0.1:{ports['web']}"
        slack = f"  Slack stand-in (Web API, Socket Mode)    http://127.0.0.1:{ports['slack']}/api/"
        slack += f"\n  the app is connected over Socket Mode    ws://127.0.0.1:{ports['slack']}/link/"
    else:
        web = f"  web app (Slack endpoint, invoice pages)  http://127.0.0.1:{ports['web']}"
        slack = f"  Slack stand-in (Web API)                 http://127.0.0.1:{ports['slack']}/api/"
    return [
        "invoicebot demo — everything runs on 127.0.0.1, nothing leaves this machine:",
        web,
        *slack.split("\n"),
        f"  SMTP server                              127.0.0.1:{ports['smtp']}",
        f"  emails (SBX000001.eml, …) and bounces    {demo.mail_dir}/",
        f"  demo users: {', '.join('@' + name for name in USERS)} (approval: always, by the other user)",
        "  addresses at bounce.example bounce with a real delivery status notification.",
        "Type help, or start with: /invoices due",
    ]


async def run_demo(
    *,
    mail_dir: Path,
    script: list[str] | None,
    out: TextIO = sys.stdout,
    socket_mode: bool = False,
    files_from: Path | None = None,
) -> int:
    """The `invoicebot demo` command: `mail_dir` must exist; `script` is the script's lines, if any;
    `socket_mode`: Slack's requests reach the app over a Socket Mode WebSocket instead of HTTP;
    `files_from`: where a script's relative file paths are (its folder).

    Returns the exit code: 0, 1 when a script's expectation failed, 130 when a script is interrupted.
    """

    prompted = False

    def write(line: str) -> None:
        nonlocal prompted
        if prompted and out.isatty():  # arrived while the prompt waits: print over the prompt, then prompt again
            out.write("\r\033[K")
        prompted = False
        out.write(line + "\n")
        out.flush()

    def prompt() -> None:
        nonlocal prompted
        out.write(f"{console.user}> ")
        out.flush()
        prompted = True

    _log_to(mail_dir / "invoicebot-demo.log")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    demo = Demo(mail_dir=mail_dir, socket_mode=socket_mode)
    write("starting the demo …")
    code = 0
    try:
        await demo.start()
        console = Console(demo, write, files_from=files_from)
        for line in banner(demo):
            write(line)
        lines = script
        work = asyncio.create_task(
            run_script(console, lines, write) if lines is not None else run_interactive(console, prompt)
        )
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not work.done():
            work.cancel()
            write("\ninterrupted")
            code = 130 if script else 0
        with contextlib.suppress(asyncio.CancelledError):
            await work
    except ExpectationFailed as failed:
        write(f"demo script failed at {failed}")
        code = 1
    finally:
        write("stopping the web app, the worker and loops, the SMTP server and the Slack stand-in …")
        await demo.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        write(f"stopped. The emails are in {mail_dir}/")
    return code


def _log_to(path: Path) -> None:
    """The app's logs go to a file: the console shows what Slack would show, not log lines."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.INFO)

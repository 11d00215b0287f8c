"""The demo in a real terminal (tmux): the repository, a clean environment, processes and ports to watch."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEMO_SCRIPT = REPO / "examples" / "demo.script"


def invoicebot_command() -> list[str]:
    installed = Path(sys.executable).with_name("invoicebot")
    return [str(installed)] if installed.exists() else [sys.executable, "-m", "bot.cli"]


def clean_environment() -> dict[str, str]:
    """The demo ignores these, and the tests prove it: a bogus DATABASE_URL must not matter."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("INVOICEBOT_", "SLACK_"))}
    env["DATABASE_URL"] = "postgresql://nobody@192.0.2.1:1/never-used"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def port_is_free(port: int) -> bool:
    """Nothing listens on it and a server could bind it again (TIME_WAIT leftovers of closed
    connections are normal TCP and do not stop a server using SO_REUSEADDR, as all do)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                local, state = row.split()[1], row.split()[3]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                    return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class TmuxTerminal:
    """One program in a real terminal (a private tmux server): type into it, read its screen."""

    def __init__(self, socket_name: str, session: str = "demo") -> None:
        self.socket_name, self.session = socket_name, session

    def tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket_name, *args], capture_output=True, text=True, timeout=20)
        return done.stdout

    def start(self, command: list[str], *, cwd: Path, env: dict[str, str]) -> None:
        subprocess.run(
            ["tmux", "-L", self.socket_name, "-f", "/dev/null", "start-server", ";",
             "set-option", "-g", "history-limit", "50000", ";",
             "new-session", "-d", "-s", self.session, "-x", "160", "-y", "50", "-c", str(cwd), *command, ";",
             "set-option", "-t", self.session, "remain-on-exit", "on"],
            check=True, env=env, timeout=20,
        )  # fmt: skip

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", self.session)

    def type(self, line: str) -> int:
        """Type `line` and Enter; returns where the screen was, for `wait_for(…, after=)`."""
        mark = len(self.screen())
        self.tmux("send-keys", "-t", self.session, "-l", line)
        self.tmux("send-keys", "-t", self.session, "Enter")
        return mark

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, *keys)

    def wait_for(self, text: str, *, after: int = 0, within: float = 30.0) -> str:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen[after:]:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"the terminal never showed {text!r}; it shows:\n{self.screen()[-3000:]}")

    def pane_pid(self) -> int:
        return int(self.tmux("display-message", "-p", "-t", self.session, "#{pane_pid}").strip())

    def exit_status(self, within: float = 30.0) -> int:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            dead, _, status = (
                self.tmux("display-message", "-p", "-t", self.session, "#{pane_dead} #{pane_dead_status}")
                .strip()
                .partition(" ")
            )
            if dead == "1":
                return int(status or 0)
            time.sleep(0.1)
        raise AssertionError(f"the demo did not exit; the terminal shows:\n{self.screen()[-2000:]}")  # fmt: skip

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket_name, "kill-server"], capture_output=True, timeout=20)

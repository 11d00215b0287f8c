"""The Done-when test: a person at a real terminal (tmux) walks the whole story, then nothing is left running.

list due → review & send one invoice → approve → "accepted" → send to the bad address →
the bounce alert with its reason and buttons → fix the address and resend → "accepted".
Every keypress goes through the real terminal; the demo runs as `invoicebot demo` does.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.harness.terminal import (
    TmuxTerminal,
    alive,
    clean_environment,
    descendants,
    invoicebot_command,
    port_is_free,
)

READY = "Type help, or start with: /invoices due"


def start_demo(terminal: TmuxTerminal, tmp_path: Path) -> tuple[int, set[int], list[int]]:
    """Start the demo; returns its pid, its child processes and the ports it listens on."""
    terminal.start([*invoicebot_command(), "demo", "--mail-dir", "mail"], cwd=tmp_path, env=clean_environment())
    screen = terminal.wait_for(READY, within=90)
    ports = [int(port) for port in re.findall(r"127\.0\.0\.1:(\d+)", screen)]
    assert len(ports) == 3, screen
    pid = terminal.pane_pid()
    children = descendants(pid)
    assert children, "the PDF render process runs beside the demo"
    return pid, children, ports


def assert_nothing_left(pid: int, children: set[int], ports: list[int]) -> None:
    assert not alive(pid)
    assert [child for child in children if alive(child)] == []
    assert [port for port in ports if not port_is_free(port)] == []


def approve(terminal: TmuxTerminal, number: str, *, requested_at: int) -> int:
    terminal.wait_for(f"Approval needed to send invoice {number}", after=requested_at)
    terminal.type("as bob")
    return terminal.type(f"click Approve {number}")


def test_a_person_walks_the_whole_story_in_a_terminal_and_quit_leaves_nothing_running(
    terminal: TmuxTerminal, tmp_path: Path
):
    pid, children, ports = start_demo(terminal, tmp_path)

    # list due, pick Review & send on DEMO-0001 by its number
    mark = terminal.type("/invoices due")
    screen = terminal.wait_for("DEMO-0001 · Acme Widgets Ltd", after=mark)
    [number] = re.findall(r"DEMO-0001 · Acme Widgets Ltd\n.*\n.*\n\s+\[(\d+)\] Review & send", screen[mark:])
    mark = terminal.type(number)
    terminal.wait_for("modal: Send invoice", after=mark)

    # go through the fields, Enter keeps every prefilled value, then submit
    mark = terminal.type("fill")
    terminal.wait_for("To [accounts.payable@acme-widgets.example]: (Enter keeps it)", after=mark)
    for _ in range(10):  # one per field of the review modal, the notes box and Extra attachments included
        terminal.keys("Enter")
    terminal.wait_for("all fields done", after=mark)
    mark = terminal.type("submit")
    terminal.wait_for("DEMO-0001 is waiting for approval by @bob", after=mark)

    # Bob approves; the worker sends; the status message says accepted
    mark = approve(terminal, "DEMO-0001", requested_at=mark)
    terminal.wait_for("✅ Sent to accounts.payable@acme-widgets.example — accepted by the mail server", after=mark)

    # send to the bad address; it is accepted, then the bounce comes back into the channel
    terminal.type("as alice")
    mark = terminal.type("/invoices due")
    terminal.wait_for("DEMO-0009 · Northwind Traders Ltd", after=mark)
    mark = terminal.type("click Review & send DEMO-0009")
    terminal.wait_for("To*: bounce@bounce.example", after=mark)
    mark = terminal.type("submit")
    mark = approve(terminal, "DEMO-0009", requested_at=mark)
    screen = terminal.wait_for("Fix address & resend  [", after=mark)
    assert "❌ Bounced: bounce@bounce.example — the mailbox does not exist" in screen[mark:]
    assert "550 5.1.1 <bounce@bounce.example>: Recipient address rejected: User unknown" in screen[mark:]
    assert "Mark as sent manually" in screen[mark:] and "Open invoice" in screen[mark:]

    # fix the address from the alert, resend, approve: accepted
    terminal.type("as alice")
    mark = terminal.type("click Fix address & resend")
    terminal.wait_for("modal: Fix address & resend", after=mark)
    terminal.type("set The customer's email addresses = accounts@northwind.example")
    mark = terminal.type("submit")
    mark = approve(terminal, "DEMO-0009", requested_at=mark)
    terminal.wait_for("✅ Sent to accounts@northwind.example — accepted by the mail server", after=mark)
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 3

    terminal.type("quit")
    assert terminal.exit_status() == 0
    terminal.wait_for("stopped. The emails are in")
    assert_nothing_left(pid, children, ports)


def test_ctrl_c_stops_every_server_and_process_the_demo_started(terminal: TmuxTerminal, tmp_path: Path):
    pid, children, ports = start_demo(terminal, tmp_path)
    mark = terminal.type("/invoices due")
    terminal.wait_for("DEMO-0001", after=mark)

    terminal.keys("C-c")

    assert terminal.exit_status() == 0
    terminal.wait_for("stopped. The emails are in")
    assert_nothing_left(pid, children, ports)

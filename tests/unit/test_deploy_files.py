"""deploy/: the systemd units run commands the CLI has, restart on failure, and migrate first.

The units are copied by operators as they are (docs/production.md); a renamed command or a
dropped migration step would only show on their servers, so it is checked here.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import typer.main

from bot.cli import app

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
MIGRATE = "invoicebot-migrate.service"


def directives(unit: Path) -> dict[str, list[str]]:
    """Every `Key=value` of a unit file (a key may repeat, e.g. Environment=)."""
    found: dict[str, list[str]] = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def cli_command(exec_start: str) -> list[str]:
    """`/opt/…/invoicebot db upgrade` → ["db", "upgrade"], checked against the real Typer app."""
    program, *words = shlex.split(exec_start)
    assert Path(program).name == "invoicebot", exec_start
    group = typer.main.get_command(app)
    for word in words:
        commands = getattr(group, "commands", {})
        assert word in commands, f"{exec_start}: invoicebot has no command {word!r}"
        group = commands[word]
    return words


def test_the_migration_unit_upgrades_the_database_once_and_exits():
    unit = directives(DEPLOY / "systemd" / MIGRATE)

    assert unit["Type"] == ["oneshot"]
    assert [cli_command(command) for command in unit["ExecStart"]] == [["db", "upgrade"]]


def test_web_and_worker_units_restart_on_failure_and_start_only_after_the_migration():
    for name, command in (("invoicebot-web@.service", ["web"]), ("invoicebot-worker@.service", ["worker"])):
        unit = directives(DEPLOY / "systemd" / name)

        assert [cli_command(line) for line in unit["ExecStart"]] == [command], name
        assert unit["Restart"] == ["on-failure"], name
        assert MIGRATE in unit["Requires"][0].split() and MIGRATE in unit["After"][0].split(), name
        assert unit["PartOf"] == ["invoicebot.target"] and unit["WantedBy"] == ["invoicebot.target"], name
        assert unit["EnvironmentFile"] == ["/etc/invoicebot/invoicebot.env"], name


def test_the_reverse_proxy_examples_forward_to_the_web_ports_the_units_use():
    caddy = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    nginx = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")

    assert "reverse_proxy 127.0.0.1:3000 127.0.0.1:3001" in caddy
    assert "server 127.0.0.1:3000" in nginx and "proxy_pass http://invoicebot_web;" in nginx

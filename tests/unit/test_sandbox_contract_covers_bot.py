"""The contract "no product module imports the demo sandbox" must cover every product module:
bot's (by the `bot.*` wildcard or one by one), the surfaces and the services.
"""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import bot

DEMO_DOOR = {"bot.cli_demo"}  # `invoicebot demo`: the one module allowed to import the sandbox


def test_every_product_module_of_bot_is_forbidden_the_sandbox():
    config = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    [contract] = [
        c for c in config["tool"]["importlinter"]["contracts"] if c.get("forbidden_modules") == ["bot.sandbox"]
    ]
    product = {
        f"bot.{module.name}"
        for module in pkgutil.iter_modules(bot.__path__)
        if module.name != "sandbox" and f"bot.{module.name}" not in DEMO_DOOR
    }
    listed = set(contract["source_modules"])
    assert "bot.*" in listed or product - listed == set()
    assert {"services", "handlers", "web"} <= listed

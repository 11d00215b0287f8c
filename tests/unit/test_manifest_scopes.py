"""The scopes the doctor and `run` require are the ones manifest.yml asks for, and the ones the fake Slack grants."""

import re
from pathlib import Path

from bot.config import MANIFEST_BOT_SCOPES
from bot.sandbox.slack_api import GRANTED_SCOPES

MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"


def test_the_checked_scopes_are_the_manifests_bot_scopes():
    text = MANIFEST.read_text()
    block = text.split("    bot:\n", 1)[1].split("\nsettings:", 1)[0]
    scopes = tuple(re.findall(r"^\s+- ([a-z:.]+)", block, re.MULTILINE))

    assert scopes == MANIFEST_BOT_SCOPES == GRANTED_SCOPES

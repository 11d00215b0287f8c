"""Every test here runs the app installable in many workspaces (Bolt's OAuth flow)."""

from tests.harness.workspaces import browser, fake_slack, runtime, settings

__all__ = ["browser", "fake_slack", "runtime", "settings"]

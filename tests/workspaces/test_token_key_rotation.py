"""INVOICEBOT_TOKEN_KEY lists keys newest first; `invoicebot workspaces rotate-key` re-seals with the first.

An operator rotates the key by putting a new one in front of the old one (tokens stay readable
with either), running `rotate-key`, then dropping the old one. These tests install two workspaces
through the real web app with one key, then run the real CLI with the next.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.config import Settings
from bot.sandbox.slack_api import FakeSlackApi
from bot.workspaces import SealedInstallationStore, TokenKeyMismatch, TokenSealer
from services.db.models import TOKEN_COLUMNS, Organisation, slack_bots, slack_installations
from tests.harness.workspaces import CLIENT_ID, CLIENT_SECRET, Browser, stored_rows


def _env(keys: str) -> dict[str, str]:
    return {"SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET, "INVOICEBOT_TOKEN_KEY": keys}


async def _sealed_tokens(session: AsyncSession) -> list[str]:
    session.expire_all()
    rows = [*await stored_rows(session, slack_installations), *await stored_rows(session, slack_bots)]
    return [row[name] for row in rows for name in TOKEN_COLUMNS if name in row and row[name] is not None]


def _opens(key: bytes, sealed: str) -> bool:
    try:
        Fernet(key).decrypt(sealed.encode())
    except InvalidToken:
        return False
    return True


async def test_rotate_key_reseals_every_token_with_the_newest_key_and_the_store_reads_them(
    browser: Browser,
    fake_slack: FakeSlackApi,
    settings: Settings,
    session: AsyncSession,
    engine: AsyncEngine,
    org: Organisation,
    run,
):
    [old] = settings.token_keys
    assert (await browser.install("T0ONE")).status_code == 200
    assert (await browser.install("T0TWO")).status_code == 200
    before = await _sealed_tokens(session)
    assert len(before) >= 4 and all(_opens(old, token) for token in before)
    new = Fernet.generate_key()

    result = run("workspaces", "rotate-key", settings=_env(f"{new.decode()}, {old.decode()}"))

    assert result.returncode == 0, result.stderr
    assert f"Re-sealed {len(before)} tokens of 2 installations" in result.stdout
    after = await _sealed_tokens(session)
    assert len(after) == len(before)
    assert all(_opens(new, token) and not _opens(old, token) for token in after), "sealed with the newest key only"
    store = SealedInstallationStore(client_id=CLIENT_ID, engine=engine, sealer=TokenSealer.from_keys((new,)))
    bot = await store.find_bot_for("T0TWO")
    assert fake_slack.oauth is not None
    assert bot is not None and bot.bot_token in fake_slack.oauth.tokens_of("T0TWO"), "the old key is no longer needed"


async def test_a_token_sealed_with_an_unknown_key_is_refused_naming_the_variable_and_nothing_changes(
    browser: Browser, settings: Settings, session: AsyncSession, engine: AsyncEngine, org: Organisation, run
):
    assert (await browser.install("T0ONE")).status_code == 200
    before = await _sealed_tokens(session)
    stranger = Fernet.generate_key().decode()

    result = run("workspaces", "rotate-key", settings=_env(stranger))

    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "none of the keys in INVOICEBOT_TOKEN_KEY" in result.stderr
    assert await _sealed_tokens(session) == before
    store = SealedInstallationStore(
        client_id=CLIENT_ID, engine=engine, sealer=TokenSealer.from_keys((stranger.encode(),))
    )
    try:
        await store.find_bot_for("T0ONE")
    except TokenKeyMismatch as refused:
        assert "INVOICEBOT_TOKEN_KEY" in str(refused)
    else:
        raise AssertionError("a token no configured key opens must not be served")


def test_the_token_key_may_list_several_fernet_keys_and_a_bad_one_is_named(settings: Settings):
    from bot.config import SettingsError, load_settings

    one, two = Fernet.generate_key(), Fernet.generate_key()
    base = {"DATABASE_URL": "sqlite:///unused.db", "SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET}
    assert load_settings(**base, INVOICEBOT_TOKEN_KEY=f"{one.decode()},{two.decode()}").token_keys == (one, two)
    try:
        load_settings(**base, INVOICEBOT_TOKEN_KEY=f"{one.decode()},not-a-key")
    except SettingsError as refused:
        assert "INVOICEBOT_TOKEN_KEY" in str(refused) and "key 2" in str(refused)
    else:
        raise AssertionError("a list with a bad key must be refused at start-up")

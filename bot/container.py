"""The composition root: builds everything the process needs from `Settings`, once."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.view_recorder import ViewRecorder
from services.approvals import ApprovalRules
from services.db.engine import create_engine, session_factory
from services.db.models import Organisation
from services.documents.cache import DocumentCache
from services.due import SendingState
from services.email.smtp import SmtpTransport
from services.email.transport import Transport
from services.invoice_views import ViewRules
from services.organisations import OrganisationProfile, ensure_organisation, sending_state
from services.postal_address import PostalAddress, parse_postal_address
from services.sending.pipeline import SenderIdentity
from services.sending.queue import RetryPolicy


def organisation_address(settings: Settings) -> PostalAddress:
    """ORG_STREET, _CITY, … when any is set; else ORG_ADDRESS read into parts. ORG_COUNTRY is the country."""
    country = settings.org_country.upper()
    parts = (settings.org_street, settings.org_additional, settings.org_city, settings.org_postal_code)
    if any((*parts, settings.org_subdivision)):
        return PostalAddress(
            street=settings.org_street or "",
            additional=settings.org_additional or "",
            city=settings.org_city or "",
            postal_code=settings.org_postal_code or "",
            subdivision=settings.org_subdivision or "",
            country=country,
        )
    return parse_postal_address(settings.org_address, country=country)


def organisation_profile(settings: Settings, slack_team_id: str | None = None) -> OrganisationProfile:
    return OrganisationProfile(
        name=settings.org_name,
        address=organisation_address(settings),
        tax_id=settings.org_tax_id,
        default_language=settings.default_language,
        sender_email=settings.sender_email,
        reply_to=settings.reply_to,
        slack_team_id=slack_team_id,
    )


@dataclass
class Container:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    _organisation_id: int | None = field(default=None)
    _view_recorder: ViewRecorder | None = field(default=None)
    _document_cache: DocumentCache | None = field(default=None)

    @classmethod
    def build(cls, settings: Settings) -> Container:
        engine = create_engine(settings.database_url)
        return cls(settings=settings, engine=engine, sessions=session_factory(engine))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    async def organisation(self, session: AsyncSession) -> Organisation:
        """This installation's organisation, created from settings on first use."""
        if self._organisation_id is not None:
            found = await session.get(Organisation, self._organisation_id)
            if found is not None:
                return found
        organisation = await ensure_organisation(session, organisation_profile(self.settings))
        await session.commit()
        self._organisation_id = organisation.id
        return organisation

    def sending_state(self, organisation: Organisation) -> SendingState:
        return sending_state(organisation, smtp_configured=self.settings.smtp_configured)

    def build_transport(self) -> Transport:
        """The SMTP relay of the settings. Raises SettingsError-worthy ValueError if unset."""
        s = self.settings
        if not s.smtp_host:
            raise ValueError("INVOICEBOT_SMTP_HOST is not set: sending is not configured")
        default_port = {"tls": 465, "starttls": 587, "none": 25}[s.smtp_security.value]
        return SmtpTransport(
            host=s.smtp_host,
            port=s.smtp_port or default_port,
            security=s.smtp_security.value,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            timeout=s.smtp_timeout,
            pool_size=min(4, max(1, s.worker_concurrency // 2)),
        )

    def sender_identity(self) -> SenderIdentity:
        s = self.settings
        return SenderIdentity(
            from_email=s.sender_email,
            from_name=s.sender_name or s.org_name,
            reply_to=s.reply_to,
            bounce_domain=s.effective_bounce_domain,
            public_url=s.public_url.rstrip("/"),
            open_pixel=s.open_pixel,
        )

    def retry_policy(self) -> RetryPolicy:
        s = self.settings
        return RetryPolicy(max_attempts=s.max_send_attempts, base_seconds=s.retry_base_seconds)

    def approval_rules(self) -> ApprovalRules:
        s = self.settings
        return ApprovalRules(
            senders=frozenset(s.senders),
            approvers=frozenset(s.approvers),
            admins=frozenset(s.admins),
            policy=s.approval_policy.value,
            threshold=s.approval_threshold,
        )

    @property
    def message_id_domain(self) -> str:
        return self.settings.sender_email.rpartition("@")[2] or "localhost"

    def verp_secret(self) -> bytes:
        """The key signing VERP tokens: the setting, else a random key kept in a 0600 file."""
        if self.settings.secret_key is not None:
            return self.settings.secret_key.get_secret_value().encode()
        path = Path(self.settings.secret_key_file)
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
        return path.read_text().strip().encode()

    def view_recorder(self) -> ViewRecorder:
        """The one background writer of link-page views and pixel opens (see bot/view_recorder.py)."""
        if self._view_recorder is None:
            s = self.settings
            rules = ViewRules(
                prefetch_seconds=s.link_prefetch_seconds, repeat_window_seconds=s.link_view_window_seconds
            )
            self._view_recorder = ViewRecorder(sessions=self.session, rules=rules, secret=self.verp_secret)
        return self._view_recorder

    def document_cache(self) -> DocumentCache:
        """Rendered PDFs and UBL of this process, keyed by a digest of their data."""
        if self._document_cache is None:
            self._document_cache = DocumentCache(max_bytes=self.settings.document_cache_mb * 1024 * 1024)
        return self._document_cache

    async def close(self) -> None:
        if self._view_recorder is not None:
            await self._view_recorder.aclose()
        await self.engine.dispose()

"""Settings, read once from the environment and `.env` (the only place that reads them).

The environment names are a contract (../shared/DESIGN.md, "The outside of the box"):
`DATABASE_URL`, Slack's standard `SLACK_*` names, and `INVOICEBOT_*` for the rest.
A missing or malformed value fails at start-up with one line naming the variable
(`load_settings` raises `SettingsError`; the CLI prints it and exits 2).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from cryptography.fernet import Fernet
from pydantic import AliasChoices, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.authorization import ApprovalPolicy
from services.email.dkim import read_private_key
from services.field_rules import check_bic, check_iban, check_language
from services.invoicing.send_window import DEFAULT_SEND_WINDOW, MAX_PREVIEW_LEAD
from services.invoicing.settings import MAX_HOLDER
from services.money import check_currency
from services.postal_address import MAX_CITY, MAX_POSTAL_CODE, MAX_STREET, MAX_SUBDIVISION
from services.tracking.webhooks.keys import load_sendgrid_public_key

_PREFIX = "INVOICEBOT_"


class SmtpSecurity(StrEnum):
    TLS = "tls"
    STARTTLS = "starttls"
    NONE = "none"


def _env(name: str, *, prefixed: bool = True) -> AliasChoices:
    return AliasChoices(f"{_PREFIX}{name}" if prefixed else name)


def _split_list(value: object) -> object:
    """Lists in the environment are comma-separated (`U1,U2`)."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CommaList = Annotated[list[str], NoDecode]


# The bot scopes manifest.yml asks for, in its order (tests/unit/test_manifest_scopes.py keeps them
# equal): what an install requests (SLACK_SCOPES' default) and what `doctor` and `run` require.
MANIFEST_BOT_SCOPES = (
    "commands",
    "chat:write",
    "users:read",
    "users:read.email",
    "usergroups:read",
    "channels:read",
    "groups:read",
    "files:read",
)


def fernet_keys(value: str) -> tuple[bytes, ...]:
    """A comma-separated list of Fernet keys, newest first (a rotation adds the new key in front)."""
    return tuple(key.strip().encode() for key in value.split(",") if key.strip())


class Settings(BaseSettings):
    """Every setting, with a default that works on a laptop."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=False)

    database_url: str = Field("sqlite:///./invoicebot.db", validation_alias=_env("DATABASE_URL", prefixed=False))

    # Slack
    slack_bot_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN", prefixed=False))
    slack_signing_secret: SecretStr | None = Field(None, validation_alias=_env("SLACK_SIGNING_SECRET", prefixed=False))
    slack_app_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN", prefixed=False))
    slack_api_url: str = Field("https://slack.com/api/", validation_alias=_env("SLACK_API_URL"))
    notify_channel: str | None = Field(None, validation_alias=_env("NOTIFY_CHANNEL"))
    approvers_channel: str | None = Field(None, validation_alias=_env("APPROVERS_CHANNEL"))
    senders: CommaList = Field(default_factory=list, validation_alias=_env("SENDERS"))
    approvers: CommaList = Field(default_factory=list, validation_alias=_env("APPROVERS"))
    admins: CommaList = Field(default_factory=list, validation_alias=_env("ADMINS"))
    approval_policy: ApprovalPolicy = Field(ApprovalPolicy.NEVER, validation_alias=_env("APPROVAL_POLICY"))
    approval_threshold: Decimal = Field(Decimal("0"), validation_alias=_env("APPROVAL_THRESHOLD"))
    # Install in many workspaces (Bolt's OAuth flow): on when the client id and secret are set.
    slack_client_id: str | None = Field(None, validation_alias=_env("SLACK_CLIENT_ID", prefixed=False))
    slack_client_secret: SecretStr | None = Field(None, validation_alias=_env("SLACK_CLIENT_SECRET", prefixed=False))
    # Fernet keys, newest first (docs/production.md: "Rotating the token key"): Slack tokens are
    # encrypted at rest with the first and read with any.
    token_key: SecretStr | None = Field(None, validate_default=True, validation_alias=_env("TOKEN_KEY"))
    slack_scopes: CommaList = Field(
        default_factory=lambda: list(MANIFEST_BOT_SCOPES),
        validation_alias=_env("SLACK_SCOPES", prefixed=False),
    )
    # Where the browser is sent to approve the install (Slack's; a stand-in in tests and the demo).
    slack_authorize_url: str = Field(
        "https://slack.com/oauth/v2/authorize", validation_alias=_env("SLACK_AUTHORIZE_URL")
    )

    # Web
    http_host: str = Field("127.0.0.1", validation_alias=_env("HTTP_HOST"))
    http_port: int = Field(3000, ge=0, le=65535, validation_alias=_env("HTTP_PORT"))
    public_url: str = Field("http://localhost:3000", validation_alias=_env("PUBLIC_URL"))
    # The invoice link page (/i/<token>) and the open pixel (/o/<token>.gif)
    link_max_age_days: int = Field(365, ge=1, le=36500, validation_alias=_env("LINK_MAX_AGE_DAYS"))
    link_prefetch_seconds: float = Field(60.0, ge=0, validation_alias=_env("LINK_PREFETCH_SECONDS"))
    open_pixel: bool = Field(False, validation_alias=_env("OPEN_PIXEL"))
    # One visitor (network + browser family) counts one view per link within this window.
    link_view_window_seconds: float = Field(
        1800.0, gt=0, le=86400 * 7, validation_alias=_env("LINK_VIEW_WINDOW_SECONDS")
    )
    # Rendered PDFs / UBL kept in memory, keyed by a digest of the invoice's data.
    document_cache_mb: int = Field(32, ge=0, le=4096, validation_alias=_env("DOCUMENT_CACHE_MB"))
    # How long the *Preview PDF* link shown in Slack works.
    preview_link_minutes: int = Field(15, ge=1, le=1440, validation_alias=_env("PREVIEW_LINK_MINUTES"))
    # Reverse proxies (CIDRs) whose X-Forwarded-For is believed; none by default.
    trusted_proxies: CommaList = Field(default_factory=list, validation_alias=_env("TRUSTED_PROXIES"))
    # GET /metrics answers only `Authorization: Bearer <this>`; unset, metrics are off (404).
    metrics_token: SecretStr | None = Field(None, min_length=16, validation_alias=_env("METRICS_TOKEN"))

    # The organisation (the embedded default runs one)
    org_name: str = Field("Example Trading Ltd", validation_alias=_env("ORG_NAME"))
    org_address: str = Field("1 Example Street\nLondon EC1A 1AA\nUnited Kingdom", validation_alias=_env("ORG_ADDRESS"))
    # The address in parts; when any is set they are the address and ORG_ADDRESS is not read.
    org_street: str | None = Field(None, max_length=MAX_STREET, validation_alias=_env("ORG_STREET"))
    org_additional: str | None = Field(None, max_length=MAX_STREET, validation_alias=_env("ORG_ADDITIONAL"))
    org_city: str | None = Field(None, max_length=MAX_CITY, validation_alias=_env("ORG_CITY"))
    org_postal_code: str | None = Field(None, max_length=MAX_POSTAL_CODE, validation_alias=_env("ORG_POSTAL_CODE"))
    org_subdivision: str | None = Field(None, max_length=MAX_SUBDIVISION, validation_alias=_env("ORG_SUBDIVISION"))
    org_tax_id: str = Field("GB123456782", validation_alias=_env("ORG_TAX_ID"))
    org_country: str = Field("GB", min_length=2, max_length=2, validation_alias=_env("ORG_COUNTRY"))
    # Bank details printed on invoices (checked by python-stdnum at start-up); none by default.
    org_iban: str | None = Field(None, validation_alias=_env("ORG_IBAN"))
    org_bic: str | None = Field(None, validation_alias=_env("ORG_BIC"))
    org_account_holder: str = Field("", max_length=MAX_HOLDER, validation_alias=_env("ORG_ACCOUNT_HOLDER"))
    default_language: str = Field("en", validation_alias=_env("DEFAULT_LANGUAGE"))
    default_currency: str = Field("EUR", validation_alias=_env("DEFAULT_CURRENCY"))
    sender_email: str = Field("invoices@example.com", validation_alias=_env("SENDER_EMAIL"))
    sender_name: str | None = Field(None, validation_alias=_env("SENDER_NAME"))
    reply_to: str | None = Field(None, validation_alias=_env("REPLY_TO"))
    # The organisation's time zone (IANA) and its daily digest (seeds; then /invoices settings)
    timezone: str = Field("UTC", validation_alias=_env("TIMEZONE"))
    digest_hour: int | None = Field(None, ge=0, le=23, validation_alias=_env("DIGEST_HOUR"))  # unset: off
    weekly_summary_day: str = Field("monday", validation_alias=_env("WEEKLY_SUMMARY_DAY"))
    # When scheduled mail (autosend, reminders) may leave, in the time zone above, and whose holidays close it
    send_window: str = Field(DEFAULT_SEND_WINDOW, validation_alias=_env("SEND_WINDOW"))
    holiday_country: str = Field("", validation_alias=_env("HOLIDAY_COUNTRY"))
    # Minutes before the window opens that the channel is shown what will go out (0: as soon as it is queued)
    preview_lead_minutes: int = Field(0, ge=0, le=MAX_PREVIEW_LEAD, validation_alias=_env("PREVIEW_LEAD_MINUTES"))
    # A reminder step missed by more days than this (an outage) is skipped with a note, not sent late
    reminder_max_lateness_days: int = Field(7, ge=0, le=365, validation_alias=_env("REMINDER_MAX_LATENESS_DAYS"))

    # SMTP relay
    smtp_host: str | None = Field(None, validation_alias=_env("SMTP_HOST"))
    smtp_port: int | None = Field(None, ge=1, le=65535, validation_alias=_env("SMTP_PORT"))
    smtp_username: str | None = Field(None, validation_alias=_env("SMTP_USERNAME"))
    smtp_password: SecretStr | None = Field(None, validation_alias=_env("SMTP_PASSWORD"))
    smtp_security: SmtpSecurity = Field(SmtpSecurity.STARTTLS, validation_alias=_env("SMTP_SECURITY"))
    smtp_timeout: float = Field(30.0, gt=0, validation_alias=_env("SMTP_TIMEOUT"))

    # DKIM (optional): sign outgoing invoices when the relay does not. The selector is also what
    # `invoicebot doctor` looks up (<selector>._domainkey.<domain>) to check the published key.
    dkim_selector: str | None = Field(None, pattern=r"^[A-Za-z0-9._-]+$", validation_alias=_env("DKIM_SELECTOR"))
    dkim_private_key_file: str | None = Field(None, validation_alias=_env("DKIM_PRIVATE_KEY_FILE"))
    dkim_domain: str | None = Field(None, validation_alias=_env("DKIM_DOMAIN"))  # default: the sender's domain
    # `invoicebot doctor`: what the sender domain's SPF must include (a domain like
    # spf.protection.outlook.com, or an address); default the SMTP host's addresses.
    spf_relay: str | None = Field(None, validation_alias=_env("SPF_RELAY"))
    # The DNS server `invoicebot doctor` asks (host or host:port); default the system's resolver.
    dns_nameserver: str | None = Field(None, validation_alias=_env("DNS_NAMESERVER"))

    # Bounce mailbox
    imap_host: str | None = Field(None, validation_alias=_env("IMAP_HOST"))
    imap_port: int | None = Field(None, ge=1, le=65535, validation_alias=_env("IMAP_PORT"))
    imap_username: str | None = Field(None, validation_alias=_env("IMAP_USERNAME"))
    imap_password: SecretStr | None = Field(None, validation_alias=_env("IMAP_PASSWORD"))
    imap_security: SmtpSecurity = Field(SmtpSecurity.TLS, validation_alias=_env("IMAP_SECURITY"))
    imap_mailbox: str = Field("INBOX", validation_alias=_env("IMAP_MAILBOX"))
    # Seconds between polls of the bounce mailbox; with IMAP IDLE a safety net, as bounces arrive pushed.
    imap_poll_seconds: float = Field(30.0, gt=0, validation_alias=_env("IMAP_POLL_SECONDS"))

    # Where bounces go: VERP return paths are bounces+TOKEN@this domain (default: the sender's).
    bounce_domain: str | None = Field(None, validation_alias=_env("BOUNCE_DOMAIN"))
    # Silent-email alert: hours without news after acceptance, per route (seeds the organisation; 0 = off).
    silent_after_provider_hours: int = Field(24, ge=0, le=720, validation_alias=_env("SILENT_AFTER_PROVIDER_HOURS"))
    silent_after_smtp_hours: int = Field(72, ge=0, le=720, validation_alias=_env("SILENT_AFTER_SMTP_HOURS"))
    # Signs VERP tokens. Unset: a random key is created once in `secret_key_file` and reused.
    secret_key: SecretStr | None = Field(None, validation_alias=_env("SECRET_KEY"))
    secret_key_file: str = Field(".invoicebot-secret", validation_alias=_env("SECRET_KEY_FILE"))
    # Days the emails as sent are kept (`invoicebot emails purge`); 0 keeps them forever.
    sent_email_retention_days: int = Field(400, ge=0, validation_alias=_env("SENT_EMAIL_RETENTION_DAYS"))

    # `invoicebot import`: the largest file, the most columns and the longest field it reads
    import_max_bytes: int = Field(100_000_000, ge=1_000, validation_alias=_env("IMPORT_MAX_BYTES"))
    import_max_columns: int = Field(100, ge=20, le=10_000, validation_alias=_env("IMPORT_MAX_COLUMNS"))
    # At most 100,000: csv's own field limit (131,072) must never be the one that speaks.
    import_max_field_chars: int = Field(10_000, ge=100, le=100_000, validation_alias=_env("IMPORT_MAX_FIELD_CHARS"))

    # `run`, `web` and `worker` bring the schema to head themselves at start (default: they refuse
    # to start and say to run `invoicebot db upgrade`, so migrations stay one deliberate step).
    auto_migrate: bool = Field(False, validation_alias=_env("AUTO_MIGRATE"))

    # The send worker
    worker_concurrency: int = Field(8, ge=1, le=256, validation_alias=_env("WORKER_CONCURRENCY"))
    render_processes: int = Field(2, ge=0, le=64, validation_alias=_env("RENDER_PROCESSES"))
    max_send_attempts: int = Field(8, ge=1, le=100, validation_alias=_env("MAX_SEND_ATTEMPTS"))
    retry_base_seconds: float = Field(60.0, gt=0, validation_alias=_env("RETRY_BASE_SECONDS"))
    stale_after_seconds: float = Field(600.0, gt=0, validation_alias=_env("STALE_AFTER_SECONDS"))
    # /healthz turns 503 when a background loop has failed for this long without progress.
    health_stall_seconds: float = Field(60.0, gt=0, validation_alias=_env("HEALTH_STALL_SECONDS"))
    # `invoicebot worker` serves no HTTP: it writes its loops' health to the database this often,
    # under this name, for the web process's /healthz and /metrics (keep it well under the stall).
    health_report_seconds: float = Field(5.0, gt=0, le=600, validation_alias=_env("HEALTH_REPORT_SECONDS"))
    process_name: str = Field(
        default_factory=lambda: f"worker@{socket.gethostname()}",
        min_length=1,
        max_length=200,
        validation_alias=_env("PROCESS_NAME"),
    )

    # Provider webhooks (POST /webhooks/<provider>); a provider without its secret answers 404.
    postmark_webhook_user: str | None = Field(None, validation_alias=_env("POSTMARK_WEBHOOK_USER"))
    postmark_webhook_password: SecretStr | None = Field(None, validation_alias=_env("POSTMARK_WEBHOOK_PASSWORD"))
    sendgrid_webhook_public_key: str | None = Field(None, validation_alias=_env("SENDGRID_WEBHOOK_PUBLIC_KEY"))
    mailgun_signing_key: SecretStr | None = Field(None, validation_alias=_env("MAILGUN_SIGNING_KEY"))
    ses_topic_arns: CommaList = Field(default_factory=list, validation_alias=_env("SES_TOPIC_ARNS"))

    @field_validator(
        "senders", "approvers", "admins", "ses_topic_arns", "trusted_proxies", "slack_scopes", mode="before"
    )
    @classmethod
    def _lists(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        """Each entry an address or a CIDR (`10.0.0.0/8`, `::1`); anything else is refused at start-up."""
        return [str(ipaddress.ip_network(item, strict=False)) for item in value]

    @field_validator("default_currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return check_currency(value)

    @field_validator("org_iban")
    @classmethod
    def _iban(cls, value: str | None) -> str | None:
        return check_iban(value)

    @field_validator("org_bic")
    @classmethod
    def _bic(cls, value: str | None) -> str | None:
        return check_bic(value)

    @field_validator("default_language")
    @classmethod
    def _language(cls, value: str) -> str:
        """A language we ship no wording for would silently fall back to English: refuse it at start-up."""
        check_language(value, "language")
        return value.strip()

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql", "postgres")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value

    @field_validator("sendgrid_webhook_public_key")
    @classmethod
    def _sendgrid_key(cls, value: str | None) -> str | None:
        if value:
            load_sendgrid_public_key(value)  # ValueError names the problem; load_settings names the variable
        return value or None

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator(
        "dkim_selector", "dkim_private_key_file", "dkim_domain", "spf_relay", "dns_nameserver", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`INVOICEBOT_DKIM_SELECTOR=` in a .env means "not set", not an invalid empty value."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("dkim_private_key_file")
    @classmethod
    def _dkim_key(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value and not info.data.get("dkim_selector"):
            raise ValueError("needs INVOICEBOT_DKIM_SELECTOR too (the selector the public key is published under)")
        if value:
            read_private_key(value)  # ValueError names the problem; load_settings names the variable
        return value or None

    @property
    def dkim_signing_domain(self) -> str:
        return self.dkim_domain or self.sender_email.rpartition("@")[2]

    @field_validator("token_key")
    @classmethod
    def _token_key(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        """Required when installable in many workspaces (tokens are never stored in plain text); a key
        Fernet cannot use would only fail at the first install: refuse it at start-up."""
        if value is None and info.data.get("slack_client_id") and info.data.get("slack_client_secret"):
            raise ValueError(
                "is required with SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (Slack tokens are encrypted with it)"
            )
        if value is not None:
            keys = fernet_keys(value.get_secret_value())
            if not keys:
                raise ValueError("must be a Fernet key, or several separated by commas (newest first)")
            for number, key in enumerate(keys, start=1):
                try:
                    Fernet(key)
                except (ValueError, TypeError):
                    raise ValueError(f"key {number} must be a Fernet key: 32 url-safe base64-encoded bytes") from None
        return value

    @property
    def token_keys(self) -> tuple[bytes, ...]:
        """INVOICEBOT_TOKEN_KEY's keys, newest first (none in single-workspace mode)."""
        return fernet_keys(self.token_key.get_secret_value()) if self.token_key is not None else ()

    @property
    def multi_workspace(self) -> bool:
        """Installable in many workspaces: Bolt's OAuth flow instead of one SLACK_BOT_TOKEN."""
        return bool(self.slack_client_id and self.slack_client_secret)

    @property
    def smtp_configured(self) -> bool:
        return bool(self.smtp_host)

    @property
    def effective_bounce_domain(self) -> str:
        return self.bounce_domain or self.sender_email.rpartition("@")[2] or "localhost"


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the environment variable."""


def _variable_name(loc: tuple[int | str, ...]) -> str:
    field = str(loc[0]) if loc else "?"
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info else None
    if isinstance(alias, AliasChoices) and alias.choices:
        return str(alias.choices[0])
    return field.upper()


def variable_of(field: str) -> str:
    """The environment variable that sets the `Settings` field `field` (e.g. org_name → INVOICEBOT_ORG_NAME)."""
    return _variable_name((field,))


def load_settings(**overrides: object) -> Settings:
    """Read settings once; turn pydantic's report into one line naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = _variable_name(first["loc"])
        raise SettingsError(f"setting {name} is invalid: {first['msg']}") from None


def verp_secret(settings: Settings) -> bytes:
    """The key signing VERP tokens and preview links: the setting, else a random key kept in a 0600 file."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    path = Path(settings.secret_key_file)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip().encode()

"""DKIM signing: the email aiosmtpd receives from the real worker verifies with dkimpy against a
real DNS server (dnslib on 127.0.0.1) publishing the public key; a changed byte breaks it."""

from __future__ import annotations

from dataclasses import replace

import dkim
import dns.resolver
import pytest

from bot.config import SettingsError, load_settings
from bot.organisation_settings import organisation_settings
from services.email.dkim import load_dkim_key
from tests.harness.dns import sender_zone, write_dkim_key
from tests.harness.sending import IDENTITY, make_worker, queue_delivery

pytestmark = pytest.mark.smtp_client(timeout=2.0, pool_size=1)


def dns_lookup(nameserver: str):
    """dkimpy's `dnsfunc`, asking only the test DNS server."""
    host, port = nameserver.split(":")
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port, resolver.lifetime = [host], int(port), 5.0

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        answer = resolver.resolve(name.decode().rstrip("."), "TXT")
        return b"".join(b"".join(rdata.strings) for rdata in answer)

    return lookup


async def test_a_signed_invoice_email_verifies_against_the_published_key(
    sessions, session, org, transport, smtp, dns_server, tmp_path
):
    key_file, public_key = write_dkim_key(tmp_path)
    dns_server.serve(sender_zone("example.com", spf=None, dkim=("inv2026", public_key), dmarc=None))
    identity = replace(IDENTITY, dkim=load_dkim_key(str(key_file), selector="inv2026", domain="example.com"))
    await queue_delivery(session, org)

    assert await make_worker(sessions, transport, identity=identity).drain() == 1

    [received] = smtp.received
    assert received.data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com;")
    lookup = dns_lookup(dns_server.nameserver)
    assert dkim.verify(received.data, dnsfunc=lookup)
    tampered = received.data.replace(b"Subject: ", b"Subject: Re: ", 1)
    assert not dkim.verify(tampered, dnsfunc=lookup)


async def test_without_a_key_nothing_is_signed(sessions, session, org, transport, smtp):
    await queue_delivery(session, org)

    assert await make_worker(sessions, transport).drain() == 1

    assert b"DKIM-Signature" not in smtp.received[0].data


def test_the_key_setting_is_read_once_into_the_sender_identity(tmp_path):
    key_file, public_key = write_dkim_key(tmp_path)
    settings = load_settings(
        INVOICEBOT_DKIM_PRIVATE_KEY_FILE=str(key_file),
        INVOICEBOT_DKIM_SELECTOR="inv2026",
        INVOICEBOT_SENDER_EMAIL="billing@acme.example",
    )

    key = organisation_settings(settings).identity.dkim

    assert key is not None
    assert (key.selector, key.domain, key.public_key_b64) == ("inv2026", "acme.example", public_key)


def test_a_key_file_that_is_not_a_key_or_lacks_its_selector_is_one_line_naming_the_setting(tmp_path):
    not_a_key = tmp_path / "key.pem"
    not_a_key.write_text("hello\n")

    with pytest.raises(SettingsError, match=r"INVOICEBOT_DKIM_PRIVATE_KEY_FILE is invalid: .*not an unencrypted PEM"):
        load_settings(INVOICEBOT_DKIM_PRIVATE_KEY_FILE=str(not_a_key), INVOICEBOT_DKIM_SELECTOR="s1")
    with pytest.raises(SettingsError, match="needs INVOICEBOT_DKIM_SELECTOR too"):
        load_settings(INVOICEBOT_DKIM_PRIVATE_KEY_FILE=str(not_a_key))

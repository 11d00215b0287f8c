"""A real DNS server on 127.0.0.1 (dnslib) serving test zones, for `invoicebot doctor` and DKIM tests.

`dns_server` starts it with no records; a test adds zone text (`server.serve("...")`, master-file
lines with absolute names) and points INVOICEBOT_DNS_NAMESERVER at `server.nameserver`. It answers
UDP in its own thread, so it answers a CLI subprocess and the test's own resolver alike.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dnslib import QTYPE, RCODE, RR, DNSRecord
from dnslib.server import DNSLogger, DNSServer


class ZoneResolver:
    """Answers from the records it holds: NXDOMAIN for an unknown name, an empty answer for a known
    name without the asked type."""

    def __init__(self) -> None:
        self.records: list[RR] = []

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        qname, qtype = request.q.qname, QTYPE[request.q.qtype]
        named = [rr for rr in self.records if rr.rname == qname]
        for rr in named:
            if qtype in (QTYPE[rr.rtype], "ANY"):
                reply.add_answer(rr)
        if not named:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class TestDnsServer:
    def __init__(self) -> None:
        self.zone = ZoneResolver()
        quiet = DNSLogger(prefix=False, logf=lambda _line: None)
        self.server = DNSServer(self.zone, port=0, address="127.0.0.1", logger=quiet)

    def serve(self, zone_text: str) -> None:
        """Add records, e.g. 'example.com. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"'."""
        self.zone.records.extend(RR.fromZone(zone_text))

    @property
    def nameserver(self) -> str:
        host, port = self.server.server.server_address[:2]
        return f"{host}:{port}"


@pytest.fixture
def dns_server() -> Iterator[TestDnsServer]:
    server = TestDnsServer()
    server.server.start_thread()
    yield server
    server.server.stop()
    server.server.server.server_close()


def write_dkim_key(folder: Path) -> tuple[Path, str]:
    """A fresh 2048-bit RSA key as PEM in `folder`, and the p= value of its DNS record."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = folder / "dkim.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return path, base64.b64encode(der).decode("ascii")


def txt(name: str, value: str) -> str:
    """One TXT record line; a long value (a DKIM key) split into the 255-byte strings DNS allows."""
    chunks = " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
    return f"{name}. 300 IN TXT {chunks}\n"


def sender_zone(domain: str, *, spf: str | None, dkim: tuple[str, str] | None, dmarc: str | None) -> str:
    """The records of a sender domain: its SPF, one DKIM key (selector, p=), its DMARC policy;
    the relay's own SPF at _spf.relay.example allows 127.0.0.0/8."""
    zone = txt("_spf.relay.example", "v=spf1 ip4:127.0.0.0/8 -all")
    if spf is not None:
        zone += txt(domain, spf)
    if dkim is not None:
        zone += txt(f"{dkim[0]}._domainkey.{domain}", f"v=DKIM1; k=rsa; p={dkim[1]}")
    if dmarc is not None:
        zone += txt(f"_dmarc.{domain}", dmarc)
    return zone

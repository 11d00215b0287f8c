"""Can the sender's domain deliver: SPF includes the relay, the DKIM key is published, DMARC is aligned.

Gmail and Yahoo file mail from bulk senders without SPF, DKIM and an aligned DMARC policy as
spam (or refuse it), so `invoicebot doctor` asks DNS what a receiving server would ask. The
resolver is dnspython's, pointed at a configurable nameserver (tests run a real DNS server on
127.0.0.1). Each finding is a `Check` with the sentence that fixes it.

Limits, said here so nobody trusts more than is checked: SPF is evaluated for the mechanisms
a relay is named by (include, ip4, ip6, a, mx, redirect; at most 10 lookups), not macros or
exists. The organisational domain of DMARC alignment (RFC 7489 §3.2) is the registrable domain
under the Public Suffix List bundled with `publicsuffixlist` (read offline, so `doctor` needs no
download): mail.example.co.uk belongs to example.co.uk, never to co.uk.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.resolver
from publicsuffixlist import PublicSuffixList

from services.checks import Check, failed, passed

MAX_SPF_LOOKUPS = 10  # RFC 7208 §4.6.4
DNS_SECONDS = 5.0

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DnsUnanswered(Exception):
    """The nameserver did not answer (timeout, refused); not the same as "no such record"."""


def make_resolver(nameserver: str | None) -> dns.asyncresolver.Resolver:
    """The system's resolver, or one asking only `nameserver` ("host" or "host:port")."""
    if not nameserver:
        resolver = dns.asyncresolver.Resolver()
    else:
        host, _, port = nameserver.rpartition(":") if nameserver.count(":") == 1 else (nameserver, "", "")
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [host or nameserver]
        resolver.port = int(port) if port else 53
    resolver.lifetime = DNS_SECONDS
    return resolver


@dataclass(frozen=True)
class SenderDomain:
    """What the checks need: the From domain, the envelope (bounce) domain SPF applies to, the DKIM
    domain and selector, and who relays (`relay`: a domain SPF includes or an address; else the SMTP host)."""

    from_domain: str
    bounce_domain: str
    dkim_domain: str
    dkim_selector: str | None
    relay: str | None
    smtp_host: str | None
    dkim_public_key: str | None = None  # base64 of our signing key, when invoicebot signs


async def _records(resolver: dns.asyncresolver.Resolver, name: str, kind: str) -> list[str]:
    try:
        answer = await resolver.resolve(name, kind)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.DNSException as exc:
        raise DnsUnanswered(f"no answer for {name} {kind}: {exc}") from None
    if kind == "TXT":
        return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]
    if kind == "MX":
        return [str(rdata.exchange).rstrip(".") for rdata in answer]
    return [rdata.to_text() for rdata in answer]


def _tags(record: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for part in record.split(";"):
        key, _, value = part.strip().partition("=")
        if key:
            tags[key.strip().lower()] = "".join(value.split())
    return tags


def _address(text: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class _Spf:
    """A bounded SPF walk: does the policy of a domain pass the relay (its addresses or its include)?"""

    def __init__(self, resolver: dns.asyncresolver.Resolver, *, addresses: list[IpAddress], include: str | None):
        self.resolver, self.addresses, self.include = resolver, addresses, include
        self.lookups = 0

    async def record(self, domain: str) -> str | None:
        found = [r for r in await _records(self.resolver, domain, "TXT") if r.lower().startswith("v=spf1")]
        return found[0] if len(found) == 1 else None

    async def hosts(self, name: str, kind: str) -> list[IpAddress]:
        hosts = [name] if kind == "a" else (await _records(self.resolver, name, "MX"))[:10]
        found: list[IpAddress] = []
        for host in hosts:
            for rtype in ("A", "AAAA"):
                found += [ip for text in await _records(self.resolver, host, rtype) if (ip := _address(text))]
        return found

    async def passes(self, domain: str, record: str) -> bool:
        redirect = None
        for term in record.split()[1:]:
            qualifier, body = (term[0], term[1:]) if term[0] in "+-~?" else ("+", term)
            name, _, value = body.partition(":") if ":" in body else body.partition("=")
            name = name.lower()
            if name == "redirect":
                redirect = value
                continue
            if qualifier != "+" or not await self._matches(domain, name, value):
                continue
            return True
        if redirect and self.lookups < MAX_SPF_LOOKUPS:
            self.lookups += 1
            target = await self.record(redirect)
            return target is not None and await self.passes(redirect, target)
        return False

    async def _matches(self, domain: str, name: str, value: str) -> bool:
        if name in ("ip4", "ip6"):
            network = ipaddress.ip_network(value, strict=False)
            return any(ip in network for ip in self.addresses if ip.version == network.version)
        if name == "all":
            return True
        if name not in ("include", "a", "mx") or self.lookups >= MAX_SPF_LOOKUPS:
            return False
        self.lookups += 1
        if name == "include":
            if self.include and value.lower().rstrip(".") == self.include:
                return True
            nested = await self.record(value)
            return nested is not None and await self.passes(value, nested)
        target, _, _cidr = (value or domain).partition("/")
        return any(ip in self.addresses for ip in await self.hosts(target, name))


async def check_spf(resolver: dns.asyncresolver.Resolver, sender: SenderDomain) -> Check:
    title, domain = "SPF", sender.bounce_domain
    relay = sender.relay or sender.smtp_host
    if not relay:
        return failed(title, "no relay to check", "set INVOICEBOT_SMTP_HOST (or INVOICEBOT_SPF_RELAY)")
    addresses: list[IpAddress] = []
    include = None
    if (ip := _address(relay)) is not None:
        addresses = [ip]
    elif sender.relay:
        include = relay.lower().rstrip(".")
    spf = _Spf(resolver, addresses=addresses, include=include)
    if not addresses and include is None:
        addresses += await spf.hosts(relay, "a")
    record = await spf.record(domain)
    example = f"include:{include}" if include else " ".join(f"ip{a.version}:{a}" for a in addresses) or "include:…"
    if record is None:
        return failed(
            title,
            f"{domain} publishes no SPF record (or more than one)",
            f'publish one TXT record at {domain}: "v=spf1 {example} ~all"',
        )
    if await spf.passes(domain, record):
        return passed(title, f"{domain} allows {relay}")
    return failed(title, f'{domain}: "{record}" does not allow {relay}', f"add {example} to the SPF record of {domain}")


async def check_dkim(resolver: dns.asyncresolver.Resolver, sender: SenderDomain) -> Check:
    title = "DKIM"
    if not sender.dkim_selector:
        return failed(
            title,
            "INVOICEBOT_DKIM_SELECTOR is not set",
            "set it to the selector your relay signs with (the s= of a sent email's DKIM-Signature), "
            "or let invoicebot sign (README, 'DKIM')",
        )
    name = f"{sender.dkim_selector}._domainkey.{sender.dkim_domain}"
    keys = [_tags(r) for r in await _records(resolver, name, "TXT") if "p=" in r]
    if not keys or not keys[0].get("p"):
        what = "publishes no DKIM key" if not keys else "has an empty (revoked) key"
        return failed(title, f"{name} {what}", f"publish the relay's (or invoicebot's) public key as TXT at {name}")
    if sender.dkim_public_key and keys[0]["p"] != sender.dkim_public_key:
        return failed(
            title,
            f"the key at {name} is not the public half of INVOICEBOT_DKIM_PRIVATE_KEY_FILE",
            f'publish "v=DKIM1; k=rsa; p={sender.dkim_public_key}" at {name}',
        )
    return passed(title, f"key published at {name}")


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    """Parsed once, on the first DMARC check: the list has some 10,000 rules (about 0.3 s)."""
    return PublicSuffixList()


def organisational_domain(domain: str) -> str:
    """The public suffix plus one label (RFC 7489 §3.2); a name that is itself a public suffix
    (or unknown to the list) is its own organisational domain."""
    name = domain.lower().rstrip(".")
    return _public_suffixes().privatesuffix(name) or name


def aligned(domain: str, from_domain: str, mode: str) -> bool:
    """DMARC identifier alignment: strict is the same domain, relaxed the same organisational domain."""
    if mode == "s":
        return domain.lower() == from_domain.lower()
    return organisational_domain(domain) == organisational_domain(from_domain)


async def check_dmarc(resolver: dns.asyncresolver.Resolver, sender: SenderDomain) -> Check:
    title, domain = "DMARC", sender.from_domain
    names = dict.fromkeys([f"_dmarc.{domain}", f"_dmarc.{organisational_domain(domain)}"])
    record = None
    for name in names:
        found = [r for r in await _records(resolver, name, "TXT") if r.replace(" ", "").upper().startswith("V=DMARC1")]
        if found:
            record = _tags(found[0])
            break
    if record is None or "p" not in record:
        return failed(
            title, f"{domain} publishes no DMARC policy", f'publish TXT at _dmarc.{domain}: "v=DMARC1; p=none"'
        )
    spf_ok = aligned(sender.bounce_domain, domain, record.get("aspf", "r"))
    dkim_ok = bool(sender.dkim_selector) and aligned(sender.dkim_domain, domain, record.get("adkim", "r"))
    if not (spf_ok or dkim_ok):
        return failed(
            title,
            f"neither the bounce domain {sender.bounce_domain} nor the DKIM domain {sender.dkim_domain} "
            f"aligns with {domain}",
            f"set INVOICEBOT_BOUNCE_DOMAIN to {domain} or a subdomain of it, or sign with DKIM as {domain}",
        )
    via = " and ".join(name for name, ok in (("SPF", spf_ok), ("DKIM", dkim_ok)) if ok)
    return passed(title, f"policy {record['p']}, aligned through {via}")


async def deliverability_checks(resolver: dns.asyncresolver.Resolver, sender: SenderDomain) -> list[Check]:
    """SPF, DKIM and DMARC of the sender, each a Check (a DNS server that does not answer fails that line)."""
    checks: list[Check] = []
    for title, check in (("SPF", check_spf), ("DKIM", check_dkim), ("DMARC", check_dmarc)):
        try:
            checks.append(await check(resolver, sender))
        except DnsUnanswered as exc:
            checks.append(failed(title, str(exc), "check that DNS answers (INVOICEBOT_DNS_NAMESERVER)"))
    return checks

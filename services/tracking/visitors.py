"""A privacy-preserving key for "the same visitor": who a view counts for, without storing who they are.

The key is an HMAC (the installation's secret) of the client's *network* — its /24 for
IPv4, its /48 for IPv6 — and the *family* of its browser and operating system
("firefox/windows"), never the address or the raw User-Agent. Why so coarse:

- a browser's version, a plug-in or a privacy extension changes the User-Agent string, and
  a phone moves between addresses of one provider's network; neither is a new reader;
- anyone can send any User-Agent or hop addresses inside a network: with a fixed, short
  list of families, one network can produce at most `len(FAMILIES)` keys, so views cannot
  be inflated by rotating headers;
- an HMAC of a network plus a family identifies no person, and the secret stops anyone
  holding the database from testing guesses of an address against it.

The family list is ours and small on purpose (a full User-Agent parser such as `ua-parser`
names hundreds of families, which is what we must not count by).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re

IPV4_PREFIX = 24
IPV6_PREFIX = 48

# Order matters: Edge and Opera say "Chrome" too, Chrome says "Safari".
_BROWSERS = (
    ("edge", re.compile(r"edg(e|a|ios)?/", re.IGNORECASE)),
    ("opera", re.compile(r"opr/|opera", re.IGNORECASE)),
    ("samsung", re.compile(r"samsungbrowser", re.IGNORECASE)),
    ("firefox", re.compile(r"firefox/|fxios/", re.IGNORECASE)),
    ("chrome", re.compile(r"chrome/|crios/|chromium/", re.IGNORECASE)),
    ("safari", re.compile(r"safari/|applewebkit/", re.IGNORECASE)),
    ("outlook", re.compile(r"outlook|microsoft office", re.IGNORECASE)),
)
_SYSTEMS = (
    ("android", re.compile(r"android", re.IGNORECASE)),
    ("ios", re.compile(r"iphone|ipad|ipod|ios", re.IGNORECASE)),
    ("windows", re.compile(r"windows", re.IGNORECASE)),
    ("mac", re.compile(r"mac os|macintosh", re.IGNORECASE)),
    ("linux", re.compile(r"linux|x11|cros", re.IGNORECASE)),
)


def agent_family(user_agent: str | None) -> str:
    """`browser/system` from a fixed list ("chrome/android", "other/other"): bounded by design."""
    agent = user_agent or ""
    browser = next((name for name, pattern in _BROWSERS if pattern.search(agent)), "other")
    system = next((name for name, pattern in _SYSTEMS if pattern.search(agent)), "other")
    return f"{browser}/{system}"


def client_network(address: str | None) -> str:
    """The /24 (IPv4) or /48 (IPv6) holding `address`; "-" when there is none or it is not an IP."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return "-"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = IPV4_PREFIX if ip.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def visitor_key(*, client_address: str | None, user_agent: str | None, secret: bytes) -> str:
    """The keyed hash that says "same visitor" (20 hex characters); see the module's docstring."""
    material = f"visitor\n{client_network(client_address)}\n{agent_family(user_agent)}".encode()
    return hmac.new(secret, material, hashlib.sha256).hexdigest()[:20]

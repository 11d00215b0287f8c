"""Whatever lands in the bounce mailbox, reading it never raises (property tests)."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.tracking.bounces import BounceReading, NotBounce, read_bounce
from tests.fixtures.dsn import NAMES, load_dsn

FIXTURES = [load_dsn(name, token="abc-def") for name in NAMES]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _assert_read(raw: bytes) -> BounceReading:
    started = time.perf_counter()
    reading = read_bounce(raw)
    assert isinstance(reading, BounceReading)
    assert (reading.report is None) == (reading.not_bounce is not None)
    if reading.report is not None:
        for recipient in reading.report.recipients:
            assert recipient.event_type in ("bounced", "deferred", "delivered")
            assert len(recipient.recipient) <= 320
    assert time.perf_counter() - started < 5
    return reading


@FUZZ
@given(st.binary(max_size=4000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    _assert_read(raw)


@FUZZ
@given(st.sampled_from(FIXTURES), st.floats(min_value=0, max_value=1))
def test_truncated_reports_never_raise(raw: bytes, fraction: float) -> None:
    _assert_read(raw[: int(len(raw) * fraction)])


@FUZZ
@given(st.sampled_from(FIXTURES), st.integers(min_value=0, max_value=10_000), st.binary(min_size=1, max_size=200))
def test_corrupted_reports_never_raise(raw: bytes, at: int, garbage: bytes) -> None:
    at = at % (len(raw) + 1)
    _assert_read(raw[:at] + garbage + raw[at + len(garbage) :])


CHARSETS = st.sampled_from(["utf-8", "latin-1", "x-unknown-charset", "utf-7", "utf-16", "", "\x00bad", "gb2312"])


@FUZZ
@given(
    st.sampled_from(FIXTURES), CHARSETS, st.sampled_from(["base64", "quoted-printable", "8bit", "x-uuencode", "bogus"])
)
def test_wrong_charsets_and_encodings_never_raise(raw: bytes, charset: str, encoding: str) -> None:
    mangled = raw.replace(b"charset=us-ascii", f"charset={charset}".encode("latin-1"))
    mangled = mangled.replace(b"charset=utf-8", f"charset={charset}".encode("latin-1"))
    mangled = mangled.replace(b"Content-Type: message/delivery-status", b"Content-Type: message/delivery-status\n"
                              b"Content-Transfer-Encoding: " + encoding.encode())  # fmt: skip
    _assert_read(mangled)


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(FIXTURES), st.sampled_from([b"Subject", b"X-Junk", b"Status", b"Final-Recipient", b"To"]))
def test_huge_headers_never_raise(raw: bytes, name: bytes) -> None:
    huge = name + b": " + b"A" * 300_000 + b"\n\t" + b"=?utf-8?q?" + b"=FF" * 20_000 + b"?=\n"
    _assert_read(huge + raw)
    _assert_read(raw.replace(b"Action: failed\n", b"Action: failed\n" + huge, 1))


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                ["message/delivery-status", "text/rfc822-headers", "message/rfc822", "multipart/mixed", "text/plain"]
            ),
            st.text(max_size=300),
        ),
        max_size=6,
    ),
    st.text(alphabet="abc-=", min_size=0, max_size=5),
)
def test_malformed_mime_never_raises(parts: list[tuple[str, str]], boundary: str) -> None:
    body = "".join(f"--{boundary}\nContent-Type: {kind}\n\n{text}\n" for kind, text in parts)
    raw = (
        f"From: MAILER-DAEMON@x.example\nContent-Type: multipart/report; report-type=delivery-status; "
        f'boundary="{boundary}"\n\n{body}'
    ).encode("utf-8", "surrogatepass")
    _assert_read(raw)


def test_deeply_nested_multiparts_are_unparseable_not_a_crash() -> None:
    depth = 500
    head = "".join(f'Content-Type: multipart/mixed; boundary="b{n}"\n\n--b{n}\n' for n in range(depth))
    reading = _assert_read(("From: MAILER-DAEMON@x.example\n" + head).encode())
    assert reading.not_bounce in (NotBounce.UNPARSEABLE, None)

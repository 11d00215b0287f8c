"""Benchmark: 10,000 provider webhook events verified, parsed and filed — target ≥ 1,000 events/s.

    .venv/bin/python benchmarks/ingest_webhooks.py                  # SQLite (temporary file)
    .venv/bin/python benchmarks/ingest_webhooks.py --postgres postgresql://postgres@127.0.0.1:5432/bench_webhooks

The PostgreSQL database given is EMPTIED (its public schema is dropped). The events are
real provider payloads, signed as each provider signs them: SendGrid batches of 100
(ECDSA P-256), single Mailgun events (HMAC) and single Postmark records, spread over
1,000 accepted deliveries. Each request is filed as the web app files it: verify, parse,
`record_delivery_events` through the web app's `EventFiler` (concurrent requests share a
transaction: group commit; each request returns once its events are committed). The verify + parse cost
alone is measured in the same run and printed beside it (the baseline: what is left is
the database's share).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select, text

from services.db.engine import create_engine, session_factory
from services.db.migrate import upgrade
from services.db.models import Customer, Delivery, DeliveryEvent, DeliveryStatus, Invoice, Organisation
from services.sending.checks import new_message_id, new_verp_token
from services.tracking.event_types import IncomingEvent
from services.tracking.filer import EventFiler
from services.tracking.webhooks import mailgun, postmark, sendgrid
from services.tracking.webhooks.keys import load_sendgrid_public_key

TARGET_EVENTS_PER_SECOND = 1000.0
SECRET = b"bench-verp-secret"
MAILGUN_KEY = "bench-mailgun-key"
POSTMARK_PASSWORD = "pw"  # noqa: S105 - a benchmark credential
DELIVERIES = 1000


@dataclass(frozen=True)
class Request:
    """One webhook request as the web app receives it."""

    provider: str
    body: bytes
    headers: dict[str, str]


def _sendgrid_item(rng: random.Random, n: int, token: str) -> dict[str, object]:
    kind = rng.choice(("delivered", "open", "deferred", "bounce"))
    item: dict[str, object] = {
        "email": f"ap{n % 3}@acme.example", "timestamp": 1795449600 + n, "event": kind,
        "sg_event_id": f"sg-{n:08d}", "sg_message_id": f"msg.{n}", "invoicebot_delivery": token,
    }  # fmt: skip
    if kind == "bounce":
        item |= {"type": "bounce", "status": "5.1.1", "reason": "550 5.1.1 no such user"}
    return item


def build_requests(tokens: list[str], events: int, *, seed: int = 11) -> tuple[list[Request], dict[str, str]]:
    """Half the events in SendGrid batches of 100, a quarter each as Mailgun and Postmark singles."""
    rng = random.Random(seed)
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    stamp = str(int(time.time()))
    requests: list[Request] = []
    n = 0
    for _ in range(events // 2 // 100):
        batch = [_sendgrid_item(rng, n + i, rng.choice(tokens)) for i in range(100)]
        n += 100
        body = json.dumps(batch).encode()
        signature = base64.b64encode(key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
        requests.append(Request("sendgrid", body, {"signature": signature, "timestamp": stamp}))
    for _ in range(events // 4):
        token = f"mg-{n:08d}"
        payload = {
            "signature": {"timestamp": stamp, "token": token,
                          "signature": hmac.new(MAILGUN_KEY.encode(), f"{stamp}{token}".encode(),
                                                hashlib.sha256).hexdigest()},
            "event-data": {"event": rng.choice(("delivered", "opened")), "id": f"mg-{n:08d}",
                           "timestamp": 1795449600.5 + n, "recipient": "ap0@acme.example",
                           "user-variables": {"invoicebot_delivery": rng.choice(tokens)}},
        }  # fmt: skip
        n += 1
        requests.append(Request("mailgun", json.dumps(payload).encode(), {}))
    while n < events:
        record = {
            "RecordType": "Delivery", "MessageID": f"pm-{n:08d}", "Recipient": "ap1@acme.example",
            "DeliveredAt": "2026-11-23T16:33:54.9070259Z", "Metadata": {"invoicebot-delivery": rng.choice(tokens)},
        }  # fmt: skip
        n += 1
        requests.append(Request("postmark", json.dumps(record).encode(), {}))
    rng.shuffle(requests)
    return requests, {"sendgrid_key": base64.b64encode(public).decode()}


def make_reader(keys: dict[str, str]) -> Callable[[Request, datetime], list[IncomingEvent]]:
    """Verify and parse one request exactly as web/webhooks/providers.py does (Postmark: basic auth)."""
    sendgrid_key = load_sendgrid_public_key(keys["sendgrid_key"])
    authorization = "Basic " + base64.b64encode(f"hooks:{POSTMARK_PASSWORD}".encode()).decode()

    def read(request: Request, now: datetime) -> list[IncomingEvent]:
        if request.provider == "sendgrid":
            sendgrid.verify(public_key=sendgrid_key, body=request.body, signature=request.headers["signature"],
                            timestamp=request.headers["timestamp"], now=now)  # fmt: skip
            return sendgrid.parse(request.body)
        if request.provider == "mailgun":
            payload = mailgun.load_payload(request.body)
            mailgun.verify(payload=payload, signing_key=MAILGUN_KEY, now=now)
            return mailgun.parse(payload)
        postmark.verify(authorization=authorization, user="hooks", password=POSTMARK_PASSWORD)
        return postmark.parse(request.body)

    return read


async def _empty_postgres(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


def migrate(url: str) -> None:
    """An empty database at head (Alembic runs its own event loop, so outside ours)."""
    if url.startswith("postgresql"):
        asyncio.run(_empty_postgres(url))
    upgrade(url)


async def _prepare(url: str) -> list[str]:
    """One organisation and DELIVERIES accepted deliveries in the migrated database."""
    engine = create_engine(url)
    sessions = session_factory(engine)
    async with sessions() as session:
        org = Organisation(name="Bench Ltd")
        session.add(org)
        await session.flush()
        customer = Customer(organisation_id=org.id, ref="ACME", name="Acme", emails=["ap0@acme.example"])
        session.add(customer)
        await session.flush()
        invoice = Invoice(
            organisation_id=org.id, number="INV-1", customer_id=customer.id, issue_date=date(2026, 10, 1),
            due_date=date(2026, 11, 1), currency="EUR", status="sent", subtotal=Decimal(100),
            tax_total=Decimal(20), total=Decimal(120),
        )  # fmt: skip
        session.add(invoice)
        await session.flush()
        tokens = [new_verp_token(SECRET) for _ in range(DELIVERIES)]
        finished = datetime.now(UTC) - timedelta(minutes=5)
        session.add_all(
            Delivery(
                organisation_id=org.id,
                invoice_id=invoice.id,
                status=DeliveryStatus.ACCEPTED,
                to=["ap0@acme.example", "ap1@acme.example", "ap2@acme.example"],
                message_id=new_message_id("INV-1", "bench.example"),
                verp_token=token,
                requested_by="U0BENCH",
                finished_at=finished,
            )
            for token in tokens
        )
        await session.commit()
    await engine.dispose()
    return tokens


async def run(url: str, events: int, concurrency: int = 4) -> float:
    tokens = await _prepare(url)
    requests, keys = build_requests(tokens, events)
    read = make_reader(keys)
    now = datetime.now(UTC)

    started = time.perf_counter()
    parsed = sum(len(read(request, now)) for request in requests)
    parse_seconds = time.perf_counter() - started

    engine = create_engine(url)
    sessions = session_factory(engine)

    filer = EventFiler(sessions, verp_secret=SECRET)  # what the web app's endpoints file through

    async def stream(part: list[Request]) -> None:
        for request in part:
            await filer.file(read(request, now), now=now)

    # Like the web app, requests are served concurrently (each its own transaction); on SQLite
    # one writer at a time is all there is, so one stream.
    streams = concurrency if url.startswith("postgresql") else 1
    started = time.perf_counter()
    await asyncio.gather(*(stream(requests[n::streams]) for n in range(streams)))
    ingest_seconds = time.perf_counter() - started
    async with sessions() as session:
        stored = (await session.execute(select(func.count()).select_from(DeliveryEvent))).scalar_one()
    await engine.dispose()

    rate = parsed / ingest_seconds
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(
        f"{backend}: {len(requests)} requests in {streams} concurrent stream(s), {parsed} events, {stored} rows stored"
    )
    print(f"  verify + parse only : {parse_seconds:7.3f} s  {parsed / parse_seconds:9.0f} events/s")
    print(
        f"  verify + parse + file: {ingest_seconds:7.3f} s  {rate:9.0f} events/s  "
        f"(parse share {parse_seconds / ingest_seconds:.0%}; target ≥ {TARGET_EVENTS_PER_SECOND:.0f}/s: "
        f"{'met' if rate >= TARGET_EVENTS_PER_SECOND else 'NOT met'}, ×{rate / TARGET_EVENTS_PER_SECOND:.2f})"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", help="a PostgreSQL URL (its public schema is DROPPED)")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent requests (PostgreSQL)")
    arguments = parser.parse_args()
    if arguments.postgres:
        migrate(arguments.postgres)
        asyncio.run(run(arguments.postgres, arguments.events, arguments.concurrency))
        return
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/bench.db"
        migrate(url)
        asyncio.run(run(url, arguments.events, 1))


if __name__ == "__main__":
    main()

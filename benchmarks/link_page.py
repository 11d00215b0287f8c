"""The invoice PDF download under load, and what it does to `/healthz` (issue 11, item 8).

Reported: 200 PDF requests, 40 at a time, pushed `/healthz` past a second, because every
GET (and HEAD) rendered the PDF again. Measured here, in one run and one server process:

- **baseline** — today's former code path, kept verbatim as a route of this benchmark
  (`/baseline/i/<token>/pdf`): resolve the token, load the document, render the PDF in
  a thread, on every request;
- **app** — the real route (`/i/<token>/pdf`): the document cache (one rendering per
  content digest, single flight, bounded render threads) with its ETag.

The same for the page itself (`/i/<token>`): the former handler judged and committed the
view inline (baseline route `/baseline/i/<token>`); the app answers from a read and
leaves the view to the background recorder. Every request sends a new User-Agent.

For each, 200 requests (40 in flight) go to one invoice's PDF while a poller asks
`/healthz` one request at a time; printed: requests/s, the downloads' median and p95,
and `/healthz`'s median and p95 during the load. The server (the real web app under
uvicorn, built from `Settings` like production) runs in its own process on 127.0.0.1
with a fresh SQLite database seeded with the demo (the app as `bot.runner.web_server`
builds it, plus the baseline route).

    .venv/bin/python -m benchmarks.link_page [--requests 200] [--concurrency 40]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx

SECRET = "benchmark-secret-0123456789abcdef"  # noqa: S105 - a throwaway key for a local run
TODAY = date(2026, 11, 23)
SENT_INVOICE = "DEMO-0019"
REPOSITORY = Path(__file__).resolve().parents[1]


# -- the server process ---------------------------------------------------------------


async def serve(database_url: str) -> None:
    import uvicorn
    from sqlalchemy import select
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, Response
    from starlette.routing import Route

    from bot.bootstrap import bootstrap
    from bot.config import load_settings
    from bot.runner import bound_port
    from services.db.migrate import upgrade
    from services.db.models import Invoice, utcnow
    from services.documents.model import load_invoice_document
    from services.documents.page import describe_payment_state, render_invoice_page
    from services.documents.pdf import render_invoice_pdf
    from services.invoicing.seed import seed_demo
    from services.tracking.links import resolve_invoice_token
    from services.tracking.page_views import Hit, ViewRules, record_invoice_view

    await asyncio.to_thread(upgrade, database_url)
    settings = load_settings(DATABASE_URL=database_url, INVOICEBOT_SECRET_KEY=SECRET, INVOICEBOT_HTTP_PORT=0)
    runtime = bootstrap(settings)
    async with runtime.session() as session:
        organisation = await runtime.organisations.organisation(session)
        await seed_demo(session, organisation_id=organisation.id, today=TODAY, smtp_verified=True)
        await session.commit()
        token = (await session.execute(select(Invoice.public_token).where(Invoice.number == SENT_INVOICE))).scalar()

    async def baseline_pdf(request: Request) -> Response:
        """The former handler: a read, then a rendering in a thread, for every request."""
        async with runtime.session() as session:
            invoice = await resolve_invoice_token(
                session, token=request.path_params["token"], now=utcnow(), max_age_days=settings.link_max_age_days
            )
            document = await load_invoice_document(
                session, organisation_id=invoice.organisation_id, invoice_id=invoice.id, public_url=settings.public_url
            )
        content = await asyncio.to_thread(render_invoice_pdf, document)
        return Response(content, media_type="application/pdf")

    async def baseline_page(request: Request) -> Response:
        """The former page handler: the view judged and committed inline, before the page is answered."""
        now = utcnow()
        async with runtime.session() as session:
            invoice = await resolve_invoice_token(
                session, token=request.path_params["token"], now=now, max_age_days=settings.link_max_age_days
            )
            document = await load_invoice_document(
                session, organisation_id=invoice.organisation_id, invoice_id=invoice.id, public_url=settings.public_url
            )
            hit = Hit(
                request.method, request.headers.get("user-agent"), request.client.host if request.client else None
            )
            await record_invoice_view(
                session, invoice_id=invoice.id, hit=hit, now=now, rules=ViewRules(), secret=SECRET.encode()
            )
            await session.commit()
        state = describe_payment_state(
            status=invoice.status, due_date=invoice.due_date, today=now.date(), language=document.language
        )
        return HTMLResponse(render_invoice_page(document, state=state, pdf_url="pdf", ubl_url="ubl"))

    baseline_routes = [
        Route("/baseline/i/{token}/pdf", baseline_pdf, methods=["GET"]),
        Route("/baseline/i/{token}", baseline_page, methods=["GET"]),
    ]
    web = runtime.web_app
    web.router.routes.extend(baseline_routes)
    config = uvicorn.Config(
        web, host="127.0.0.1", port=0, log_level="warning", lifespan="off", access_log=False, proxy_headers=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise SystemExit("server did not start")
        await asyncio.sleep(0.01)
    print(f"PORT {bound_port(server)} {token}", flush=True)
    await asyncio.to_thread(sys.stdin.read)  # runs until the client closes our stdin
    server.should_exit = True
    await asyncio.wait_for(task, timeout=10)
    await runtime.aclose()


# -- the client -------------------------------------------------------------------------


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def load(base: str, path: str, *, requests: int, concurrency: int) -> dict[str, float]:
    """`requests` GETs of `path`, `concurrency` at a time, with `/healthz` polled meanwhile."""
    gate = asyncio.Semaphore(concurrency)
    download_ms: list[float] = []
    health_ms: list[float] = []
    done = asyncio.Event()
    limits = httpx.Limits(max_connections=concurrency + 2)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http, httpx.AsyncClient(timeout=120) as poller:

        async def one(n: int) -> None:
            agent = f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/{100 + n}.0 Safari/537.36"
            async with gate:
                started = time.perf_counter()
                response = await http.get(base + path, headers={"User-Agent": agent})
                download_ms.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200 or not response.content.startswith((b"%PDF-", b"<!DOCTYPE")):
                    raise SystemExit(f"{path} answered {response.status_code}")

        async def poll() -> None:
            deadline = time.monotonic() + 300
            while not done.is_set() and time.monotonic() < deadline:
                started = time.perf_counter()
                response = await poller.get(base + "/healthz")
                health_ms.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"/healthz answered {response.status_code}")
                await asyncio.sleep(0.005)

        polling = asyncio.create_task(poll())
        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(requests)))
        wall = time.perf_counter() - started
        done.set()
        await polling
    return {
        "rps": requests / wall,
        "p50": statistics.median(download_ms),
        "p95": percentile(download_ms, 0.95),
        "health_p50": statistics.median(health_ms),
        "health_p95": percentile(health_ms, 0.95),
        "health_n": float(len(health_ms)),
    }


def report(name: str, figures: dict[str, float]) -> None:
    print(
        f"{name:9} {figures['rps']:8.1f} req/s   downloads p50 {figures['p50']:8.1f} ms  p95 {figures['p95']:8.1f} ms"
        f"   /healthz p50 {figures['health_p50']:7.1f} ms  p95 {figures['health_p95']:7.1f} ms"
        f"  ({figures['health_n']:.0f} polls)"
    )


async def main(requests: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        database_url = f"sqlite:///{Path(folder) / 'bench.db'}"
        server = subprocess.Popen(  # noqa: ASYNC220 - started once, before any measurement
            [sys.executable, "-m", "benchmarks.link_page", "--serve", database_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPOSITORY,
        )
        try:
            assert server.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(server.stdout.readline), timeout=120)
            _, port, token = line.split()
            base = f"http://127.0.0.1:{port}"
            for what, suffix in (("PDF", "/pdf"), ("page", "")):
                print(
                    f"\n{requests} {what} requests, {concurrency} at a time, one invoice, a new User-Agent each;"
                    " /healthz polled during the load"
                )
                baseline = await load(base, f"/baseline/i/{token}{suffix}", requests=requests, concurrency=concurrency)
                report("baseline", baseline)
                app = await load(base, f"/i/{token}{suffix}", requests=requests, concurrency=concurrency)
                report("app", app)
                print(
                    f"ratios app/baseline: req/s ×{app['rps'] / baseline['rps']:.1f}, "
                    f"/healthz p95 ×{app['health_p95'] / baseline['health_p95']:.3f}"
                )
        finally:
            assert server.stdin is not None
            server.stdin.close()
            server.wait(timeout=30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=40)
    parser.add_argument("--serve", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve:
        asyncio.run(serve(arguments.serve))
    else:
        asyncio.run(main(arguments.requests, arguments.concurrency))

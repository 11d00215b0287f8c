"""`/invoices due` over HTTP at 100,000 invoices (issue 3).

Target: a signed `/invoices due` request to the running web app answers with its blocks
in p99 ≤ 50 ms on SQLite and on PostgreSQL, and its median is within 3× of a Bolt app
whose handler acks a constant message, measured in the same run.

The server (the real web app: Starlette + Bolt's async adapter + our handlers, and the
baseline Bolt app on another path) runs in its own process under uvicorn, so the client
does not share its GIL. The fake Slack Web API (Bolt's one `auth.test`) runs in the server
process too. Requests are sent one at a time, app and baseline interleaved, each freshly
signed (signing happens before the clock starts). Everything is on 127.0.0.1. The data is
built by `benchmarks.due_listing` (set-based SQL); the SQLite file is copied so the other
benchmark's cache is never written to. Exit status 1 when a target is missed.

    .venv/bin/python -m benchmarks.slack_due [--backend sqlite|postgres|both] [--rows N] [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from benchmarks.due_listing import DATA_VERSION, TODAY, prepare
from bot.sandbox.slack_requests import SlackUserRef, sign, slash_command_body

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

SIGNING_SECRET = "benchmark-signing-secret"  # noqa: S105 - a throwaway value for a local run
BOT_TOKEN = "xoxb-benchmark"  # noqa: S105 - the fake Web API accepts it
P99_TARGET_MS, RATIO_TARGET = 50.0, 3.0
USER = SlackUserRef(id="U0BENCH", team_id="T0OWN", name="bench")


# -- the server process ---------------------------------------------------------------


async def serve(database_url: str, org_name: str) -> None:
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.bootstrap import Seams, bootstrap
    from bot.config import load_settings
    from bot.sandbox.slack_api import FakeSlackApi
    from bot.web import create_web_app

    fake = FakeSlackApi(token=BOT_TOKEN)
    await fake.start()
    settings = load_settings(
        DATABASE_URL=database_url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        INVOICEBOT_SLACK_API_URL=fake.base_url,
        INVOICEBOT_SMTP_HOST="127.0.0.1",
        INVOICEBOT_ORG_NAME=org_name,
    )
    runtime = bootstrap(settings, seams=Seams(today=lambda: TODAY))
    app = runtime.slack_app
    baseline = AsyncApp(signing_secret=SIGNING_SECRET, client=AsyncWebClient(token=BOT_TOKEN, base_url=fake.base_url))

    web = create_web_app(slack_app=app, slack_signing_secret=SIGNING_SECRET)
    await serve_until_stdin_closes(web, baseline)
    await runtime.aclose()
    await fake.stop()


async def serve_until_stdin_closes(web: Any, baseline: AsyncApp) -> None:
    """Uvicorn on a free port (printed as `PORT n` for the client) until the client closes our stdin;
    `baseline` (a Bolt AsyncApp) answers `/invoices` with a constant at /baseline/events."""
    import uvicorn
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from slack_bolt.async_app import AsyncAck
    from starlette.routing import Route

    from bot.runner import bound_port
    from bot.web import SLACK_EVENTS_PATH

    @baseline.command("/invoices")
    async def constant(ack: AsyncAck) -> None:
        await ack(response_type="ephemeral", text="constant")

    baseline_handler = AsyncSlackRequestHandler(baseline)

    async def baseline_events(request: Any) -> Any:
        return await baseline_handler.handle(request)

    web.router.routes.append(Route("/baseline/events", baseline_events, methods=["POST"]))
    config = uvicorn.Config(web, host="127.0.0.1", port=0, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise SystemExit("server did not start")
        await asyncio.sleep(0.01)
    print(f"PORT {bound_port(server)} {SLACK_EVENTS_PATH}", flush=True)
    await asyncio.to_thread(sys.stdin.read)  # runs until the client closes our stdin
    server.should_exit = True
    await asyncio.wait_for(task, timeout=10)


# -- the client -------------------------------------------------------------------------


async def timed_post(http: httpx.AsyncClient, url: str, user: SlackUserRef = USER) -> tuple[float, dict[str, Any]]:
    body = slash_command_body(text="due", user=user, response_url="http://127.0.0.1:9/unused")
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(signing_secret=SIGNING_SECRET, body=body)}
    started = time.perf_counter()
    response = await http.post(url, content=body, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}: {response.text[:200]}")
    return elapsed, response.json()


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure(
    base: str, requests: int, users: Sequence[SlackUserRef] = (USER,)
) -> tuple[list[float], list[float], dict[str, Any]]:
    """App and baseline interleaved; each pair as a user of a team picked at random from `users`."""
    app_ms: list[float] = []
    baseline_ms: list[float] = []
    pick = random.Random(17)  # the same sequence of teams on every run
    async with httpx.AsyncClient(timeout=10) as http:
        _, answer = await timed_post(http, f"{base}/slack/events", users[0])
        for _ in range(min(100, requests)):  # warm-up: connections, caches, the JIT-less interpreter
            user = pick.choice(users)
            await timed_post(http, f"{base}/slack/events", user)
            await timed_post(http, f"{base}/baseline/events", user)
        for _ in range(requests):
            user = pick.choice(users)
            app_ms.append((await timed_post(http, f"{base}/slack/events", user))[0])
            baseline_ms.append((await timed_post(http, f"{base}/baseline/events", user))[0])
    return app_ms, baseline_ms, answer


async def database_for(backend: str, rows: int, postgres_url: str, workdir: Path) -> tuple[str, str, str]:
    engine, where = await prepare(backend, rows, postgres_url, rebuild=False)
    url = engine.url.render_as_string(hide_password=False)
    await engine.dispose()
    marker = f"Benchmark Ltd ({rows} invoices, v{DATA_VERSION})"
    if backend == "sqlite":
        source = Path(url.split("///", 1)[1])
        copy = workdir / "slack_due.db"
        shutil.copyfile(source, copy)
        return f"sqlite:///{copy}", marker, where
    return postgres_url, marker, where


def run_backend(backend: str, args: argparse.Namespace) -> bool:
    with tempfile.TemporaryDirectory() as workdir:
        url, marker, where = asyncio.run(database_for(backend, args.rows, args.postgres_url, Path(workdir)))
        app_ms, baseline_ms, answer = measure_server(
            ["benchmarks.slack_due", "--serve", url, "--org-name", marker], args.requests
        )
    print(f"\n{backend}: {args.rows:,} invoices ({where}); {args.requests} requests each, interleaved")
    return summarise(app_ms, baseline_ms, answer)


def measure_server(
    module_and_args: list[str], requests: int, users: Sequence[SlackUserRef] = (USER,)
) -> tuple[list[float], list[float], dict[str, Any]]:
    """Start `python -m <module_and_args>` (a server printing `PORT n`), measure it, stop it."""
    with server_running(module_and_args) as base:
        return asyncio.run(measure(base, requests, users))


@contextmanager
def server_running(module_and_args: list[str]) -> Iterator[str]:
    """`python -m <module_and_args>` in its own process (its own GIL) until the block ends; its URL."""
    server = subprocess.Popen(
        [sys.executable, "-m", *module_and_args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline().split()
        if not line or line[0] != "PORT":
            raise SystemExit("the server process did not report its port")
        yield f"http://127.0.0.1:{line[1]}"
    finally:
        if server.stdin:
            server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def summarise(app_ms: list[float], baseline_ms: list[float], answer: dict[str, Any]) -> bool:
    """Print the figures against the targets; whether both are met."""
    rows_shown = sum(1 for block in answer["blocks"] if block["type"] == "section")
    p50, p99 = statistics.median(app_ms), percentile(app_ms, 0.99)
    b50, b99 = statistics.median(baseline_ms), percentile(baseline_ms, 0.99)
    ratio = p50 / b50
    ok = p99 <= P99_TARGET_MS and ratio <= RATIO_TARGET
    print(f"  answer: {len(answer['blocks'])} blocks, {rows_shown} invoice rows; first: {answer['blocks'][0]}")
    print(f"  /invoices due   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   (target p99 ≤ {P99_TARGET_MS:.0f} ms)")
    print(f"  constant ack    p50 {b50:6.2f} ms   p99 {b99:6.2f} ms")
    print(f"  median ratio {ratio:.2f}× (target ≤ {RATIO_TARGET:.0f}×)  →  {'PASS' if ok else 'FAIL'}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test_e1_bench"),
        help="a database of its own: its schema is dropped and rebuilt",
    )
    parser.add_argument("--serve", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--org-name", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.org_name))
        return
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = [run_backend(backend, args) for backend in backends]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()

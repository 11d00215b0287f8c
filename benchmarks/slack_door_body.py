"""An unsigned 100 MB body to `/slack/events`: what it costs the server (issue 11, item 2).

Two servers, each in its own process under uvicorn on 127.0.0.1, each with a Bolt app
answering nothing: *door* is our web app (`bot.web.create_web_app`: bounded read, signature
first), *baseline* is the same Bolt app behind Bolt's own Starlette adapter (the web app
before issue 11). The client streams one unsigned 100 MB form body to each and prints the
status, the time to the answer and the server's peak resident memory (ru_maxrss, read by
the server itself after the request). Target: the door answers 413 and its peak memory
grows by less than 10 MB; the baseline is printed for the ratio.

    .venv/bin/python -m benchmarks.slack_door_body [--megabytes N]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import httpx

SIGNING_SECRET = "benchmark-signing-secret"  # noqa: S105 - a throwaway value for a local run
CHUNK = 1024 * 1024


def _serve(kind: str) -> None:
    import uvicorn
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from slack_bolt.async_app import AsyncApp
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    from bot.web import create_web_app

    bolt = AsyncApp(signing_secret=SIGNING_SECRET, token="xoxb-benchmark")  # noqa: S106

    async def peak(_request: Request) -> Response:
        return PlainTextResponse(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))

    if kind == "door":
        app = create_web_app(slack_app=bolt, slack_signing_secret=SIGNING_SECRET, extra_routes=[Route("/peak", peak)])
    else:
        handler = AsyncSlackRequestHandler(bolt)

        async def events(request: Request) -> Response:
            return await handler.handle(request)

        app = Starlette(routes=[Route("/slack/events", events, methods=["POST"]), Route("/peak", peak)])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="off")
    server = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        for _ in range(1000):
            if server.started:
                break
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        await asyncio.to_thread(sys.stdin.read)
        server.should_exit = True
        await task

    asyncio.run(run())


async def _body(megabytes: int) -> AsyncIterator[bytes]:
    yield b"text="
    for _ in range(megabytes):
        yield b"a" * CHUNK


async def _post(port: int, megabytes: int) -> tuple[int, float, int, int]:
    async with httpx.AsyncClient(timeout=120) as http:
        before = int((await http.get(f"http://127.0.0.1:{port}/peak")).text)
        started = time.perf_counter()
        try:
            status = (await http.post(f"http://127.0.0.1:{port}/slack/events", content=_body(megabytes))).status_code
        except httpx.HTTPError:  # the server answered and closed before the whole body was sent
            status = -1
        elapsed = time.perf_counter() - started
        after = int((await http.get(f"http://127.0.0.1:{port}/peak")).text)
    return status, elapsed, before, after


def _measure(kind: str, megabytes: int) -> tuple[int, float, int, int]:
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.slack_door_body", "--serve", kind],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        return asyncio.run(_post(port, megabytes))
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--serve", choices=["door", "baseline"])
    options = parser.parse_args()
    if options.serve:
        _serve(options.serve)
        return
    results = {kind: _measure(kind, options.megabytes) for kind in ("baseline", "door")}
    for kind, (status, elapsed, before, after) in results.items():
        memory = f"peak RSS {before / 1024:.0f} → {after / 1024:.0f} MB (+{(after - before) / 1024:.0f} MB)"
        print(f"{kind:8} status {status}  {elapsed * 1000:7.0f} ms  {memory}")
    door_growth = (results["door"][3] - results["door"][2]) / 1024
    base_growth = max(1.0, (results["baseline"][3] - results["baseline"][2]) / 1024)
    print(f"door memory growth / baseline growth: {door_growth / base_growth:.3f}")
    if results["door"][0] not in (413, -1) or door_growth >= 10:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

"""Child processes for CPU-bound rendering, driven from the event loop without helper threads.

Why not `concurrent.futures.ProcessPoolExecutor`: it moves every job and every result through
two helper threads in the calling process (a feeder that pickles, a manager that unpickles),
and each hand-over waits for the GIL the event loop is holding. A rendered invoice email is
~100 KB, more than a pipe holds, so the child then sits blocked in `write` until the busy
parent's manager thread gets the GIL to read it: an idle core. Here each child has one
Unix socket; the event loop writes jobs and reads results itself, a result is sent as raw
bytes when it is bytes (no pickling of the message), and each child always has its next job
queued beside it so it never waits for the parent between jobs.

A child that dies (killed, out of memory) fails only the jobs it held
(`RenderProcessDied`) and is started again for the next job. A job still running after
`job_seconds` (a render that hangs) fails with `RenderTimedOut` and its child is killed, so
it fails its other jobs and is replaced the same way: before, the caller gave up on the
job but the child went on hanging, holding its share of the pool for good. Children exit by themselves
when the parent goes away (their socket reaches end of file), ignore Ctrl-C (the parent
decides when to stop), and are started with `spawn`, never `fork`: the parent has
database threads and an event loop that a forked child must not inherit.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import multiprocessing
import pickle
import signal
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# A frame: 4-byte length of what follows, 1-byte kind, payload.
_HEADER = struct.Struct("!IB")
_JOB = 0  # parent → child: pickle((function, args))
_BYTES = 1  # child → parent: the function returned these bytes, sent as they are
_PICKLED = 2  # child → parent: pickle(result)
_ERROR = 3  # child → parent: pickle(exception) the function raised
_READY = 4  # child → parent: preloading done
_START_SECONDS = 120.0  # a child that is not ready by then is a start-up failure
_STOP_SECONDS = 10.0  # a child still busy this long after end of file is killed
DEFAULT_JOB_SECONDS = 120.0  # an invoice renders in well under a second; this long is a hang


class RenderPoolError(RuntimeError):
    """The pool, not the job, failed: the same job may well render on a later attempt."""


class RenderProcessDied(RenderPoolError):
    """The child process running this job exited before answering (killed, crashed)."""


class RenderTimedOut(RenderPoolError):
    """The job ran past the pool's time limit; its process was killed (and is started again)."""


class RenderPoolUnavailable(RenderPoolError):
    """No child could take the job: the pool is closed, or a child could not be started."""


def _child_main(sock: socket.socket, preload: Sequence[str]) -> None:
    """The child's loop: read a job, run it, answer; return at end of file (the parent is gone)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for module in preload:
        importlib.import_module(module)
    reader = sock.makefile("rb")
    sock.sendall(_HEADER.pack(1, _READY))
    while True:
        header = reader.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        length, _kind = _HEADER.unpack(header)
        payload = reader.read(length - 1)
        if len(payload) < length - 1:
            return
        function, args = pickle.loads(payload)  # noqa: S301 - our own parent wrote it
        try:
            result = function(*args)
        except Exception as exc:
            kind, body = _ERROR, _pickled_error(exc)
        else:
            if isinstance(result, bytes):
                kind, body = _BYTES, result
            else:
                kind, body = _PICKLED, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        sock.sendall(_HEADER.pack(len(body) + 1, kind))
        sock.sendall(body)


def _pickled_error(exc: Exception) -> bytes:
    """The exception for the parent; one that does not survive pickling arrives as a RuntimeError with its text."""
    try:
        body = pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.loads(body)  # noqa: S301 - our own bytes; an exception whose __init__ cannot be replayed fails here
        return body
    except Exception:
        return pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))


class _ChildProtocol(asyncio.Protocol):
    """The parent's end of one child's socket: frames in, futures resolved in order."""

    def __init__(
        self,
        on_lost: Callable[[_ChildProtocol], None],
        on_overdue: Callable[[_ChildProtocol], None],
        job_seconds: float | None,
    ) -> None:
        self.buffer = bytearray()
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.alive = True
        self._on_lost = on_lost
        self._on_overdue = on_overdue
        self._job_seconds = job_seconds
        self._clock: asyncio.TimerHandle | None = None  # the running job's time limit

    def send(self, body: bytes, future: asyncio.Future[Any]) -> None:
        """Queue a job; its time limit starts when the child starts it (after the jobs before it)."""
        assert self.transport is not None
        self.waiting.append(future)
        self.transport.write(_HEADER.pack(len(body) + 1, _JOB) + body)
        if len(self.waiting) == 1:
            self._start_clock()

    def _start_clock(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            self._clock = None
        if self._job_seconds is not None and self.waiting and self.alive:
            self._clock = asyncio.get_running_loop().call_later(self._job_seconds, self._overdue)

    def _overdue(self) -> None:
        self._clock = None
        if not self.waiting or not self.alive:
            return
        running = self.waiting[0]
        if not running.done():
            running.set_exception(
                RenderTimedOut(f"the render took longer than {self._job_seconds:g} s; its process was stopped")
            )
        self._on_overdue(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while len(buffer) >= _HEADER.size:
            length, kind = _HEADER.unpack_from(buffer)
            end = 4 + length
            if len(buffer) < end:
                return
            body = bytes(buffer[_HEADER.size : end])
            del buffer[:end]
            self._answer(kind, body)

    def _answer(self, kind: int, body: bytes) -> None:
        if kind == _READY:
            if not self.ready.done():
                self.ready.set_result(None)
            return
        future = self.waiting.popleft()
        self._start_clock()  # the child goes on to its next job
        if future.done():  # the caller gave up (cancelled); the answer is dropped
            return
        if kind == _BYTES:
            future.set_result(body)
        elif kind == _PICKLED:
            future.set_result(pickle.loads(body))  # noqa: S301 - our own child wrote it
        else:
            future.set_exception(pickle.loads(body))  # noqa: S301

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        self._start_clock()  # stops it: nothing runs any more
        died = RenderProcessDied("the render process exited before finishing this job")
        if not self.ready.done():
            self.ready.set_exception(died)
            self.ready.exception()  # retrieved: a child that dies at start-up is reported by start()
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(died)
        self._on_lost(self)


class _Child:
    def __init__(self, process: BaseProcess, protocol: _ChildProtocol) -> None:
        self.process = process
        self.protocol = protocol


class RenderPool:
    """`processes` children running top-level functions on picklable arguments.

    `await pool.run(function, *args)` is `loop.run_in_executor(pool, function, *args)` without
    the helper threads. Jobs go to the child with the fewest outstanding; a child's jobs run
    in order. `start()` is optional (the first `run` starts the children) but lets a caller
    pay the start-up — interpreter, `preload` imports — before the clock or the first job.
    """

    def __init__(
        self, processes: int, *, preload: Sequence[str] = (), job_seconds: float | None = DEFAULT_JOB_SECONDS
    ) -> None:
        """`job_seconds`: a job still running this long after its child started it is failed
        (`RenderTimedOut`) and the child killed and replaced; None: no limit."""
        if processes < 1:
            raise ValueError("a render pool needs at least one process")
        self.processes = processes
        self.preload = tuple(preload)
        self.job_seconds = job_seconds
        self._children: list[_Child | None] = [None] * processes
        self._context = multiprocessing.get_context("spawn")
        self._starting: asyncio.Lock | None = None
        self._closed = False

    @property
    def pids(self) -> list[int]:
        """The live children's process ids (for tests and the demo's clean-exit check)."""
        return [c.process.pid for c in self._children if c is not None and c.protocol.alive and c.process.pid]

    async def start(self) -> None:
        """Start every missing child and wait until each has imported `preload`."""
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._closed:
                raise RenderPoolUnavailable("the render pool is closed")
            missing = [n for n, c in enumerate(self._children) if c is None or not c.protocol.alive]
            started = await asyncio.gather(*(self._spawn() for _ in missing))
            for n, child in zip(missing, started, strict=True):
                self._children[n] = child

    async def _spawn(self) -> _Child:
        loop = asyncio.get_running_loop()
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            process = self._context.Process(
                target=_child_main, args=(child_end, self.preload), name="invoicebot-render", daemon=True
            )
            if threading.current_thread() is threading.main_thread():
                # the child inherits SIGINT ignored from its first instruction, before it can set it itself
                previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
                try:
                    await asyncio.to_thread(process.start)
                finally:
                    signal.signal(signal.SIGINT, previous)
            else:  # signals belong to the main thread; the child ignores Ctrl-C once it runs
                await asyncio.to_thread(process.start)
        finally:
            child_end.close()
        parent_end.setblocking(False)
        _transport, protocol = await loop.connect_accepted_socket(
            lambda: _ChildProtocol(self._child_lost, self._child_overdue, self.job_seconds), sock=parent_end
        )
        try:
            await asyncio.wait_for(asyncio.shield(protocol.ready), _START_SECONDS)
        except BaseException:
            process.kill()
            raise
        return _Child(process, protocol)

    def _child_lost(self, protocol: _ChildProtocol) -> None:
        for n, child in enumerate(self._children):
            if child is not None and child.protocol is protocol:
                log.warning("render process %s exited (code %s)", child.process.pid, child.process.exitcode)
                child.process.join(timeout=0)
                self._children[n] = None

    def _child_overdue(self, protocol: _ChildProtocol) -> None:
        """Kill the child whose job hangs; its socket's end of file then fails the jobs queued
        behind it and frees its place (`_child_lost`), and the next `run` starts a new one."""
        for child in self._children:
            if child is not None and child.protocol is protocol:
                log.warning(
                    "render process %s ran a job past the %g s time limit; killing it (a new one is started)",
                    child.process.pid,
                    self.job_seconds,
                )
                protocol.alive = False  # no new job for it: the next `run` starts its replacement
                child.process.kill()

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run `function(*args)` in a child; its exception is raised here. Restarts dead children.

        A failure of the pool itself (closed, a child that will not start) is a `RenderPoolError`,
        so the caller can tell it from an error in the job and try the job again later.
        """
        if self._closed:
            raise RenderPoolUnavailable("the render pool is closed")
        if any(c is None or not c.protocol.alive for c in self._children):
            try:
                await self.start()
            except RenderPoolError:
                raise
            except Exception as exc:
                raise RenderPoolUnavailable(f"a render process could not be started: {exc}") from exc
        live = (c for c in self._children if c is not None and c.protocol.alive)
        child = min(live, key=lambda c: len(c.protocol.waiting))
        protocol = child.protocol
        body = pickle.dumps((function, args), protocol=pickle.HIGHEST_PROTOCOL)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        protocol.send(body, future)
        return await future

    async def aclose(self) -> None:
        """Stop the children: end of file first (each finishes its current job), then kill."""
        self._closed = True
        children = [c for c in self._children if c is not None]
        self._children = [None] * self.processes
        for child in children:
            if child.protocol.transport is not None:
                child.protocol.transport.close()
        for child in children:
            await asyncio.to_thread(child.process.join, _STOP_SECONDS)
            if child.process.is_alive():
                child.process.kill()
                await asyncio.to_thread(child.process.join, 5)
            with contextlib.suppress(ValueError):
                child.process.close()

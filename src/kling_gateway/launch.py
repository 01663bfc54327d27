"""Run the gateway's processes: the API on every core, the sync worker once, each logging as configured.

With one API process the sync worker runs inside it (unless `--no-worker`). With N, uvicorn starts N API processes
sharing one socket, none of them with a worker, and replaces any that dies; `serve` runs the sync worker in one
process of its own beside them, also replaced if it dies, so tasks are polled once, not N times. The API processes
build their app from the settings (`Settings`), those given on the command line handed down through the
environment. SIGTERM or Ctrl-C: the API processes stop accepting connections and finish the requests under way
within `graceful_timeout_s`, then the worker finishes its round (within the same bound, else it is killed). A worker
that exits otherwise than told to (a crash, an OOM kill) is started again.

What stays per process: the key cache (a revoked key stops working within `key_cache_ttl_s` in every process
alike) and, without `redis_url`, the requests-per-second count, so a key's rate is N times its limit over N
processes; with Redis the count is shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterable
from multiprocessing.context import SpawnProcess
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from kling_gateway import logs
from kling_gateway.api import create_app
from kling_gateway.serving import ConnectionLimits, LimitedHttpToolsProtocol, limited_protocol
from kling_gateway.settings import Settings, get_settings, hand_down
from kling_gateway.store.database import Database
from kling_gateway.store.migrate import ensure_schema
from kling_gateway.sync.worker import run_standalone

API_PROCESS_APP = f"{__name__}:api_process_app"  # what each of N API processes imports
RESTART_PAUSE_S = 1.0  # before starting a sync worker again after it died: a crash loop must not spin
# An API process that does not answer its supervisor's ping this long is replaced: long enough for N processes to
# import the gateway at once on a busy machine.
HEALTHCHECK_TIMEOUT_S = 30

log = logging.getLogger(__name__)


def cores() -> int:
    """The cores this process may run on: how many API processes `serve` starts by default."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def serve(settings: Settings, *, run_worker: bool, given: Iterable[str] = ()) -> None:
    """Serve the API with `settings.workers` processes (default: one per core) until SIGTERM or Ctrl-C; `given`
    names the settings the command line set, which every process must share."""
    workers = settings.workers or cores()

    def run(app: object, **multiprocess: object) -> None:
        uvicorn.run(
            app,  # type: ignore[arg-type]  # an app, or the import string N processes need
            # uvicorn pickles its options for each of N processes: a protocol class made at run time would not travel
            http=HandedDownHttpTools if multiprocess else limited_protocol(settings.http.connection_limits()),
            host=settings.host,
            port=settings.port,
            log_config=logs.logging_config(settings.log_level, settings.log_format),
            log_level=settings.log_level,
            access_log=False,  # the gateway's own access log (`api.request_log`) names the request and the key
            timeout_graceful_shutdown=settings.graceful_timeout_s,
            **multiprocess,  # type: ignore[arg-type]
        )

    if workers == 1:
        run(create_app(settings, run_worker=run_worker))
        return
    logs.configure(settings.log_level, settings.log_format)  # this process's lines before uvicorn's start
    before_processes_start(settings)
    hand_down(settings, given)
    with WorkerProcess(settings) if run_worker else contextlib.nullcontext():
        run(API_PROCESS_APP, factory=True, workers=workers, timeout_worker_healthcheck=HEALTHCHECK_TIMEOUT_S)


def before_processes_start(settings: Settings) -> None:
    """Prepare, once, what the API and worker processes share, before any of them starts: the schema (they would
    race to create it). Metrics shared by several processes prepare their directory here too."""
    asyncio.run(_ensure_schema(settings))


async def _ensure_schema(settings: Settings) -> None:
    db = Database(settings.resolved_database_url())
    try:
        await ensure_schema(db)
    finally:
        await db.dispose()


class HandedDownHttpTools(LimitedHttpToolsProtocol):
    """The protocol of an API process among several, within the limits of the settings handed down to it."""

    @functools.cached_property
    def limits(self) -> ConnectionLimits:  # type: ignore[override]
        return get_settings().http.connection_limits()


def api_process_app() -> FastAPI:
    """Build the app of one of several API processes: the settings handed down, no sync worker."""
    return create_app(get_settings(), run_worker=False)


def run_worker(settings: Settings) -> None:
    """Run the sync worker in this process until SIGTERM or Ctrl-C (or, when a process started it, until that
    process is gone)."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run_until_signalled(settings))


async def _run_until_signalled(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    parent = multiprocessing.parent_process()
    if parent is not None:  # started by `serve`: a worker left behind by a killed `serve` would poll for nobody
        threading.Thread(target=_stop_with, args=(parent, loop, stop), name="parent-watch", daemon=True).start()
    log.info("sync worker running in process %d", os.getpid())
    await run_standalone(settings, stop)


def _stop_with(
    parent: multiprocessing.process.BaseProcess, loop: asyncio.AbstractEventLoop, stop: asyncio.Event
) -> None:
    parent.join()
    loop.call_soon_threadsafe(stop.set)


def _worker_process_main(settings: Settings) -> None:
    logs.configure(settings.log_level, settings.log_format)
    run_worker(settings)


class WorkerProcess:
    """Run the sync worker in a process of its own while the context lasts, starting it again if it dies."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._process: SpawnProcess | None = None
        self._watch = threading.Thread(target=self._keep_alive, name="sync-worker-watch", daemon=True)

    def __enter__(self) -> WorkerProcess:
        self._start()
        self._watch.start()
        return self

    def _start(self) -> None:
        process = multiprocessing.get_context("spawn").Process(
            target=_worker_process_main, args=(self.settings,), name="kling-gateway-worker"
        )
        process.start()
        self._process = process

    def _keep_alive(self) -> None:
        while True:
            process = self._process
            assert process is not None
            process.join()
            if process.exitcode == 0:  # it was told to stop (SIGTERM to every process of the service, Ctrl-C)
                return
            if self._stopping.wait(RESTART_PAUSE_S):
                return
            log.error(
                "the sync worker (process %s) exited with code %s; starting another", process.pid, process.exitcode
            )
            with self._lock:
                if self._stopping.is_set():
                    return
                self._start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is None:
            return
        process.terminate()  # SIGTERM: it finishes its round and closes its connections
        process.join(self.settings.graceful_timeout_s)
        if process.is_alive():
            log.warning("the sync worker did not stop within %d s; killing it", self.settings.graceful_timeout_s)
            process.kill()
            process.join()

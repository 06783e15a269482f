"""Examine untrusted files in worker processes with time and memory limits.

Image and PDF decoders are large C libraries; a hostile file can make them loop, allocate without
end, or crash. Files are examined by a few long-lived worker processes (started from a
single-threaded fork server) under ``RLIMIT_AS``; each file gets a wall-clock limit. A worker that
overruns, runs out of memory or dies is killed and replaced, so the worst a file can do is fail
itself. Workers are reused because starting one costs far more than examining a page.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import resource
import signal
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pipeline.errors import DecoderCrashed, FileTooBig, FileTooSlow, InputFileError

T = TypeVar("T")

_CTX = mp.get_context("forkserver")
# Decoders the workers need, imported once in the fork server rather than in every worker.
_CTX.set_forkserver_preload(["pipeline.ingest.examine"])


def _address_space() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _serve(conn, memory_bytes: int) -> None:
    if memory_bytes:
        # The limit is what a file may add on top of the loaded decoders' own address space.
        limit = _address_space() + memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        fn, args = task
        try:
            conn.send(("ok", fn(*args)))
        except InputFileError as exc:
            conn.send(("error", exc))
        except MemoryError:
            conn.send(("memory", None))
            return  # the heap may be in a poor state: a fresh worker takes over
        except BaseException as exc:  # report, never hang the parent
            conn.send(("crash", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"))


class _Worker:
    def __init__(self, memory_bytes: int):
        self.conn, child = _CTX.Pipe()
        self.proc = _CTX.Process(target=_serve, args=(child, memory_bytes), daemon=True)
        self.proc.start()
        child.close()
        self.used = 0

    def stop(self, kill: bool = False) -> None:
        try:
            if not kill:
                self.conn.send(None)
        except OSError:
            pass
        self.proc.join(0 if kill else 2)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


class Sandbox:
    """Up to ``workers`` bounded worker processes; ``run`` is safe to call from several threads."""

    def __init__(self, workers: int, memory_mb: int, recycle_after: int = 500):
        self.memory_bytes = memory_mb * 1024 * 1024
        self.recycle_after = recycle_after
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(workers)
        self.memory_mb = memory_mb

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().stop()
            except queue.Empty:
                return

    def run(self, fn: Callable[..., T], args: tuple, path: Path, timeout_s: float) -> T:
        """``fn(*args)`` in a worker; its InputFileError is re-raised here, anything else becomes one."""
        with self._slots:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                worker = _Worker(self.memory_bytes)
            healthy = False
            try:
                worker.conn.send((fn, args))
                if not worker.conn.poll(timeout_s):
                    raise FileTooSlow(path, f"examining the file took longer than {timeout_s:.0f} s; it may be damaged or hostile")
                try:
                    status, value = worker.conn.recv()
                except EOFError:
                    worker.proc.join(5)
                    code = worker.proc.exitcode
                    if code is not None and code < 0:
                        raise DecoderCrashed(path, f"the decoder crashed ({signal.Signals(-code).name}) on this file; "
                                                   "it is damaged or hostile") from None
                    raise DecoderCrashed(path, f"the examining process ended without an answer (exit {code})") from None
                healthy = status in ("ok", "error")
            finally:
                worker.used += 1
                if healthy and worker.used < self.recycle_after:
                    self._idle.put(worker)
                else:
                    worker.stop(kill=not healthy)
        if status == "ok":
            return value
        if status == "error":
            raise value
        if status == "memory":
            raise FileTooBig(path, f"decoding needs more than the {self.memory_mb} MB memory limit")
        raise DecoderCrashed(path, f"unexpected error while examining the file: {value}")


def run_bounded(fn: Callable[..., T], args: tuple, path: Path, timeout_s: float, memory_mb: int) -> T:
    """One call in a fresh bounded worker."""
    with Sandbox(1, memory_mb) as box:
        return box.run(fn, args, path, timeout_s)

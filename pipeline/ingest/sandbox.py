"""Run the examination of one untrusted file in a child process with time and memory limits.

Image and PDF decoders are large C libraries; a hostile file can make them loop, allocate without
end, or crash. Each file is examined in a child forked from a single-threaded fork server, under
``RLIMIT_AS`` and a wall-clock timeout, so the worst a file can do is fail itself.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import signal
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pipeline.errors import DecoderCrashed, FileTooBig, FileTooSlow, InputFileError

T = TypeVar("T")

_CTX = mp.get_context("forkserver")
# Decoders the children need, imported once in the fork server rather than in every child.
_CTX.set_forkserver_preload(["pipeline.ingest.examine"])


def _child(conn, fn: Callable, args: tuple, memory_bytes: int) -> None:
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    try:
        conn.send(("ok", fn(*args)))
    except InputFileError as exc:
        conn.send(("error", exc))
    except MemoryError:
        conn.send(("memory", None))
    except BaseException as exc:  # report, never hang the parent
        conn.send(("crash", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"))
    finally:
        conn.close()


def run_bounded(fn: Callable[..., T], args: tuple, path: Path, timeout_s: float, memory_mb: int) -> T:
    """``fn(*args)`` in a child; its InputFileError is re-raised here, anything else becomes one."""
    recv, send = _CTX.Pipe(duplex=False)
    proc = _CTX.Process(target=_child, args=(send, fn, args, memory_mb * 1024 * 1024), daemon=True)
    proc.start()
    send.close()
    try:
        if not recv.poll(timeout_s):
            proc.kill()
            raise FileTooSlow(path, f"examining the file took longer than {timeout_s:.0f} s; it may be damaged or hostile")
        try:
            status, value = recv.recv()
        except EOFError:
            proc.join(5)
            code = proc.exitcode
            if code is not None and code < 0:
                name = signal.Signals(-code).name
                raise DecoderCrashed(path, f"the decoder crashed ({name}) on this file; it is damaged or hostile") from None
            raise DecoderCrashed(path, f"the examining process ended without an answer (exit {code})") from None
    finally:
        recv.close()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join()
    if status == "ok":
        return value
    if status == "error":
        raise value
    if status == "memory":
        raise FileTooBig(path, f"decoding needs more than the {memory_mb} MB memory limit")
    raise DecoderCrashed(path, f"unexpected error while examining the file: {value}")

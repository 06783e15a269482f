"""Keeping the search index up to date at a lower CPU priority than searches.

Applying journal rows (tantivy's indexing, its segment commits and merges) is background work: on a
2-core machine whose cores a flow keeps busy, it took a core from searches and made the readers'
p95 3-4x slower (bench/index.py). Linux keeps a nice value per thread and a thread inherits its
creator's, so the work runs in a fresh thread that first lowers its own priority; the writer threads
tantivy starts from there inherit it. The caller waits for the result as before.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

# Added to the caller's nice value (0-19, higher yields more): at 10 a busy indexer gets ~10% of a
# core that a search wants, and all of an idle one.
INDEXER_NICE = 10

T = TypeVar("T")


def at_low_priority(fn: Callable[..., T], *args, **kwargs) -> T:
    """``fn(*args, **kwargs)`` in a thread of lower CPU priority; its result, or its exception."""
    out: dict[str, object] = {}

    def run() -> None:
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + INDEXER_NICE))
        except (AttributeError, OSError) as e:  # no per-thread priorities here: run at the caller's
            log.debug("indexer priority unchanged: %s", e)
        try:
            out["value"] = fn(*args, **kwargs)
        except BaseException as e:  # handed to the caller, who sees it as if it had called fn itself
            out["error"] = e

    t = threading.Thread(target=run, name="search-indexer")
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]  # type: ignore[return-value]

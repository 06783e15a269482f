"""Keep page-sized buffers in the process that recognises pages.

glibc serves an allocation above its mmap threshold (128 KB at first, raised as mapped blocks are
freed, to at most 32 MB) with fresh pages from the kernel and unmaps them on free; a 300-dpi A4
page in colour is 26 MB, and preprocessing makes several such copies per page, each then zeroed
by the kernel page by page. With the threshold above a page, and the heap's top kept up to a
bound, the next page reuses the last page's memory: dangan's own work per page fell by ~30% on
the bench pages (README, "Memory and batching"), the engine's calls unchanged.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

# Above an A3 page at 300 dpi in colour (~52 MB): such buffers come from the heap and are reused.
MMAP_THRESHOLD = 64 * 2**20
# Free memory kept at the heap's top between pages; beyond it the heap is trimmed back. A page's
# buffers together exceed 64 MB: at 64 MB they were trimmed after each page and faulted in again
# on the next (dangan 3,800-6,000 faults a page, the raw engine 1,000-4,400); at 256 MB 1,200-1,400
# and ~230, each 35-50 ms a page faster, the peak the same (the largest page's working set).
TRIM_THRESHOLD = 256 * 2**20
# Grown onto the heap's top each time it is extended, so a page's buffers come in few extensions.
TOP_PAD = 16 * 2**20

_done = False


def keep_page_buffers() -> bool:
    """Set glibc's thresholds for this process (once); False where the C library is not glibc."""
    global _done
    if _done:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = all(mallopt(p, v) == 1 for p, v in ((_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
                                               (_M_TRIM_THRESHOLD, TRIM_THRESHOLD),
                                               (_M_TOP_PAD, TOP_PAD)))
    if not ok:
        log.debug("mallopt refused the page-buffer thresholds; allocation stays as it was")
    _done = ok
    return ok

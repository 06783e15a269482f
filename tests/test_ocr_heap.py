"""A process that reads pages reuses freed page-sized buffers instead of mapping fresh ones."""

import json
import os
import subprocess
import sys

import pytest

from .conftest import ROOT

_CHILD = """
import json, resource, sys
import numpy as np
from pipeline.ocr.heap import keep_page_buffers
if sys.argv[1] == "keep":
    assert keep_page_buffers() and keep_page_buffers()  # once, then a no-op
faults = []
for _ in range(3):
    page = np.ones(40 * 2**20, np.uint8)  # a colour page of ~A4 at 350 dpi
    del page
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    page = np.ones(40 * 2**20, np.uint8)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    del page
print(json.dumps(faults))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_freed_page_buffer_is_reused_not_mapped_again():
    def faults(mode):
        # Pages of 4 KB: with numpy's huge-page advice a fresh 40 MB buffer faults in as ~20
        # huge pages or as ~10,000 small ones, as the machine's free memory allows.
        out = subprocess.run([sys.executable, "-c", _CHILD, mode], cwd=ROOT, capture_output=True, text=True,
                             timeout=60, env={**os.environ, "NUMPY_MADVISE_HUGEPAGE": "0"})
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout)

    # glibc's default maps a 40 MB buffer afresh each time: the kernel faults its pages in again.
    assert min(faults("default")) > 100
    assert max(faults("keep")) < 20

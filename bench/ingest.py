"""Ingest throughput: hashing (SHA-256 + SM3) and hashing + probing, against ``sha256sum``.

Generates 300-dpi A4 greyscale TIFFs (LZW, scanner noise), then in one run times
  1. ``sha256sum`` over all files (the anchor),
  2. dangan's digests alone (SHA-256 and SM3 of every file, files in parallel threads),
  3. dangan's ingest scan (identify, digests, decode every page, QC metrics; bounded child processes).
Goal (issue 3): SHA-256+SM3 at >= 0.5 of sha256sum's rate. Not a test.

    .venv/bin/python bench/ingest.py [--files 24] [--workers 0]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "batch" / "J002-WS-2022-Y-ZHC-0001.png"


def make_files(folder: Path, n: int) -> int:
    base = np.asarray(Image.open(SAMPLE).convert("L"), dtype=np.int16)
    total = 0
    for i in range(n):
        rng = np.random.default_rng(i)
        page = np.clip(base + rng.normal(0, 5, base.shape), 0, 255).astype(np.uint8)
        p = folder / f"J001-WS-2021-Y-BGS-{i + 1:04d}.tif"
        Image.fromarray(page).save(p, compression="tiff_lzw", dpi=(300, 300))
        total += p.stat().st_size
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=24)
    ap.add_argument("--workers", type=int, default=0, help="0: one per core")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dangan-bench-ingest-"))
    batch = work / "batch"
    batch.mkdir()
    size = make_files(batch, args.files)
    files = sorted(batch.iterdir())
    mb = size / 1e6
    subprocess.run(["cat", *map(str, files)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache

    t = time.perf_counter()
    subprocess.run(["sha256sum", *map(str, files)], stdout=subprocess.DEVNULL, check=True)
    anchor = time.perf_counter() - t

    from pipeline.config import load_settings
    from pipeline.ingest import scan_batch
    from pipeline.ingest.fixity import digest_file

    workers = args.workers or os.cpu_count() or 1
    t = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(digest_file, files))
    digests = time.perf_counter() - t

    settings = load_settings(data_dir=work / "data", limits={"ingest_workers": workers})
    scan_batch(batch, settings)  # warm-up: starts the fork server
    t = time.perf_counter()
    inv = scan_batch(batch, settings)
    scan = time.perf_counter() - t
    assert not inv.failures and len(inv.files) == args.files

    print(f"{args.files} TIFFs, {mb:.0f} MB, {args.files} pages; {workers} workers, {os.cpu_count()} cores")
    print(f"{'':34}{'MB/s':>8}{'pages/s':>9}{'ratio':>8}")
    print(f"{'sha256sum (anchor)':34}{mb / anchor:8.0f}{args.files / anchor:9.1f}{1:8.2f}")
    print(f"{'dangan SHA-256 + SM3':34}{mb / digests:8.0f}{args.files / digests:9.1f}{anchor / digests:8.2f}")
    print(f"{'dangan ingest (digests+decode+QC)':34}{mb / scan:8.0f}{args.files / scan:9.1f}{anchor / scan:8.2f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

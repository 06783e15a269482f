"""Pages per minute on the sample batch: the raw OCR engine alone vs the whole digitize-batch flow.

Both are measured in the same run on the same pages and the same engine settings, so the ratio
is the pipeline's overhead (decode, access copy, outputs, store, index, Prefect). Not a test.

    .venv/bin/python bench/sample_batch.py [--batch samples/batch] [--repeat 1]

Run it with PREFECT_API_URL set to time against a server, or without for ephemeral Prefect.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.memory import peak_rss_mb  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=Path, default=Path(__file__).resolve().parents[1] / "samples" / "batch")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # closed networks: no telemetry
    os.environ.setdefault("DO_NOT_TRACK", "1")
    work = Path(tempfile.mkdtemp(prefix="dangan-bench-"))
    os.environ["DANGAN_DATA_DIR"] = str(work / "data")
    from pipeline.config import load_settings
    from pipeline.ingest import scan_batch
    from pipeline.ingest.pages import load_page
    from pipeline.ocr.engines import shared_engine
    from pipeline.ocr.recognise import PageRecogniser

    settings = load_settings()
    pages = scan_batch(args.batch, settings).pages
    images = [np.asarray(load_page(p.path, p.format, p.index, settings.limits.max_image_pixels).convert("RGB"))
              for p in pages]
    engine = shared_engine(settings)  # the same instance the flow's tasks will use
    engine.recognise(images[0])  # warm-up: first call allocates the runtime's arenas

    t = time.perf_counter()
    for _ in range(args.repeat):
        for img in images:
            engine.recognise(img)
    raw = time.perf_counter() - t
    n = len(images) * args.repeat

    recogniser = PageRecogniser(settings, engine)  # what the flow runs per page: preprocessing + engine
    pil = [load_page(p.path, p.format, p.index, settings.limits.max_image_pixels) for p in pages]
    t = time.perf_counter()
    for _ in range(args.repeat):
        for img in pil:
            recogniser(img)
    prepared = time.perf_counter() - t

    from flows.digitize import digitize_batch

    flow_s = 0.0
    for i in range(args.repeat):
        batch = work / f"batch{i}"
        shutil.copytree(args.batch, batch)
        os.environ["DANGAN_DATA_DIR"] = str(work / f"data{i}")  # fresh store: every page is recognised
        t = time.perf_counter()
        summary = digitize_batch(str(batch))
        flow_s += time.perf_counter() - t
        assert summary["pages_recognised"] == len(images), summary
    t = time.perf_counter()
    digitize_batch(str(work / "batch0"))  # re-run: everything skipped
    os.environ["DANGAN_DATA_DIR"] = str(work / "data0")
    rerun = time.perf_counter() - t

    print(f"pages: {len(images)} x {args.repeat}, engine {engine.signature()}, threads {settings.ocr.threads}")
    print(f"raw engine      {raw / n:6.2f} s/page  {60 * n / raw:6.1f} pages/min")
    print(f"+ preprocessing {prepared / n:6.2f} s/page  {60 * n / prepared:6.1f} pages/min  "
          f"({100 * (prepared / raw - 1):+.0f}% over the raw engine)")
    print(f"whole flow      {flow_s / n:6.2f} s/page  {60 * n / flow_s:6.1f} pages/min")
    print(f"flow / recognition {flow_s / prepared:6.2f}x  (decode, access copy, 4 page formats, item PDF, store, index, "
          f"Prefect: {100 * (flow_s / prepared - 1):+.0f}%)")
    print(f"re-run (all skipped) {rerun:.2f} s")
    print(f"peak RSS        {peak_rss_mb():.0f} MB")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

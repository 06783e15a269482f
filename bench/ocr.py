"""CER and seconds per page by page kind: dangan vs the same engine raw vs Tesseract. Not a test.

For each generated archive-like page (bench/pages.py: horizontal simplified, vertical traditional,
skewed 2-5°, noisy, low-contrast, with a seal, two columns; A4 at 300 dpi by default) it runs,
in one process and one run:

  (a) dangan: the default engine (or ``--engine``) with dangan's preprocessing, orientation
      and layout,
  (b) the same engine with no preprocessing (the page as scanned, read as horizontal),
  (c) OCRmyPDF 17.13 with its usual settings (``-l chi_sim``, ``chi_tra_vert`` on the vertical
      traditional pages, default PDF/A output, text from ``--sidecar``) where the ``bench`` extra
      is installed; otherwise Tesseract run directly with those settings (``--psm 3``, no image
      cleaning, ``OMP_THREAD_LIMIT=1``),

and prints CER (whitespace removed) per kind, s/page, the ratios, and the peak RSS of this
process. Throughput with one single-threaded engine per core (``--workers``) is measured on the
same pages for dangan and Tesseract.

    .venv/bin/python bench/ocr.py [--pages-per-kind 2] [--dpi 300] [--workers 2] [--rounds 2] [--engine NAME]
                                  [--runtime auto|onnxruntime|openvino] [--precision auto|f32]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.memory import peak_rss_mb  # noqa: E402
from bench.pages import KINDS, make_page  # noqa: E402
from pipeline.ocr.accuracy import cer  # noqa: E402


def _settings(engine: str, preprocess: bool):
    from pipeline.config import load_settings

    s = load_settings()
    return s.model_copy(update={"ocr": s.ocr.model_copy(update={"engine": engine}),
                                "preprocess": s.preprocess.model_copy(update={"enabled": preprocess})})


_REC = None


def _init(engine: str, preprocess: bool) -> None:
    global _REC
    from pipeline.ocr.recognise import PageRecogniser

    _REC = PageRecogniser(_settings(engine, preprocess))


def _make(job: tuple[str, int, int], work: Path) -> tuple[str, Path]:
    kind, seed, dpi = job
    page = make_page(kind, seed, dpi=dpi)
    path = work / f"{kind}-{seed}.png"
    page.image.save(path, dpi=(dpi, dpi), compress_level=1)
    return page.text, path


def _load(path: Path):
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        return im


def _run(path: Path) -> tuple[float, float, str]:
    """One page through dangan, from its file (decoding included, as in the flow)."""
    t = time.perf_counter()
    text = _REC(_load(path)).page.text
    return time.perf_counter() - t, peak_rss_mb(), text


def tesseract_page(path: Path, kind: str, dpi: int) -> tuple[str, float]:
    """Tesseract as OCRmyPDF runs it: the page image as it is, its language, automatic layout."""
    import subprocess

    lang = "chi_tra_vert" if kind == "vertical_tc" else "chi_sim"
    t = time.perf_counter()
    out = subprocess.run(["tesseract", str(path), "stdout", "-l", lang, "--psm", "3", "--dpi", str(dpi)],
                         capture_output=True, env={**os.environ, "OMP_THREAD_LIMIT": "1"}, check=True).stdout.decode()
    return out, time.perf_counter() - t


def _tess(job):
    path, kind, dpi = job
    return tesseract_page(path, kind, dpi)


def have_ocrmypdf() -> bool:
    return shutil.which("ocrmypdf", path=str(Path(sys.executable).parent)) is not None


def ocrmypdf_run(pngs: list[Path], lang: str, jobs: int, work: Path, dpi: int) -> tuple[list[str], float]:
    """OCRmyPDF with its usual settings (``-l LANG --jobs N``, default PDF/A-2b output) on one PDF
    of these page images (img2pdf: lossless, as a scanner's PDF); text per page from --sidecar."""
    import subprocess

    import img2pdf

    src = work / f"in-{lang}-{jobs}-{len(pngs)}.pdf"
    src.write_bytes(img2pdf.convert([str(p) for p in pngs], layout_fun=img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))))
    side = src.with_suffix(".txt")
    exe = str(Path(sys.executable).parent / "ocrmypdf")
    t = time.perf_counter()
    subprocess.run([exe, "-q", "-l", lang, "--jobs", str(jobs), "--sidecar", str(side), str(src),
                    str(src.with_suffix(".ocr.pdf"))], check=True, env={**os.environ, "OMP_THREAD_LIMIT": "1"})
    seconds = time.perf_counter() - t
    return side.read_text(encoding="utf-8").split("\f")[: len(pngs)], seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages-per-kind", type=int, default=2)
    ap.add_argument("--dpi", type=int, default=300)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--rounds", type=int, default=2, help="throughput passes of each side, taking turns")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--engine", default=None, help="an OCR engine name (default: the profile's)")
    ap.add_argument("--runtime", choices=["auto", "onnxruntime", "openvino"], default=None,
                    help="where the ONNX models run (default: the profile's)")
    ap.add_argument("--precision", choices=["auto", "f32"], default=None, help="OpenVINO's arithmetic")
    args = ap.parse_args()
    # Through the environment, so the spawned throughput workers load the same settings.
    for var, value in (("DANGAN_OCR_RUNTIME", args.runtime), ("DANGAN_OCR_PRECISION", args.precision)):
        if value:
            os.environ[var] = value
    kinds = args.kinds.split(",")
    jobs = [(k, 100 + i, args.dpi) for k in kinds for i in range(args.pages_per_kind)]
    work = Path(tempfile.mkdtemp(prefix="dangan-bench-ocr-"))
    # Pages are made before any timing, in another process (so this one's peak memory is the
    # OCR's), and saved as PNG as a scanner would.
    with ProcessPoolExecutor(1) as pool:
        made = list(pool.map(_make, jobs, [work] * len(jobs)))
    truth = {(k, s): text for (k, s, _), (text, _) in zip(jobs, made)}
    paths = {(k, s): path for (k, s, _), (_, path) in zip(jobs, made)}
    print(f"load before: {os.getloadavg()[0]:.2f} (1-min), {os.cpu_count()} cores, {len(jobs)} pages at {args.dpi} dpi")

    from pipeline.config import load_settings
    from pipeline.ocr import runtime as rt
    from pipeline.ocr.recognise import PageRecogniser

    ocr = load_settings().ocr
    engine_name = args.engine or ocr.engine
    used = rt.describe(ocr.runtime, ocr.precision) or {"runtime": "onnxruntime"}
    print(f"engine: {engine_name}, runtime: {used['runtime']}"
          + (f" ({used['precision']})" if "precision" in used else ""))
    results: dict[str, dict] = {"dangan": {"rows": []}, "raw": {"rows": []}}
    # Sequential, one process, one thread: CER, s/page, peak memory. The two share one engine and
    # take turns page by page, each first on every other page, so a drift of the machine's speed
    # (other work, clocks) falls on both alike.
    recs = {label: PageRecogniser(_settings(engine_name, pre)) for label, pre in (("dangan", True), ("raw", False))}
    for rec in recs.values():
        rec(_load(paths[jobs[0][:2]]))  # warm-up
    for n, (k, s, d) in enumerate(jobs):
        for label in ("dangan", "raw") if n % 2 == 0 else ("raw", "dangan"):
            t = time.perf_counter()
            r = recs[label](_load(paths[(k, s)]))
            results[label]["rows"].append((k, time.perf_counter() - t, r.page.text, r.page.seconds))
    rss = peak_rss_mb()
    rows = []
    anchor = "OCRmyPDF" if have_ocrmypdf() else "tesseract"
    if anchor == "OCRmyPDF":  # one OCRmyPDF run per kind, one job: s/page on one core
        for k in kinds:
            mine = [(kk, s, d) for kk, s, d in jobs if kk == k]
            lang = "chi_tra_vert" if k == "vertical_tc" else "chi_sim"
            texts, sec = ocrmypdf_run([paths[(kk, s)] for kk, s, _ in mine], lang, 1, work, args.dpi)
            rows += [(k, sec / len(mine), text, sec / len(mine)) for text in texts]
    else:  # no OCRmyPDF installed: Tesseract directly with OCRmyPDF's settings
        for k, s, d in jobs:
            text, sec = tesseract_page(paths[(k, s)], k, d)
            rows.append((k, sec, text, sec))
    results["tesseract"] = {"rows": rows}

    def per_kind(label):
        out = {}
        for (k, sec, text, eng), (_, s, _) in zip(results[label]["rows"], jobs):
            e, n = cer(text, truth[(k, s)])
            o = out.setdefault(k, [0, 0, 0.0, 0.0])
            o[0] += e
            o[1] += n
            o[2] += sec
            o[3] += eng
        return out

    tables = {label: per_kind(label) for label in results}
    print(f"\n(c) = {anchor}" + (" 17.13 (-l chi_sim, chi_tra_vert on vertical pages; --jobs 1 here)"
                                if anchor == "OCRmyPDF" else " run directly with OCRmyPDF's settings"))
    print(f"\n{'kind':14s} {'dangan CER':>10s} {'raw CER':>8s} {'(c) CER':>9s}   {'dangan/(c)':>11s} "
          f"{'pre gain':>8s}   {'s/pg dangan':>11s} {'raw':>6s} {'(c)':>6s}")
    for k in kinds:
        d, r, t = (tables[x][k] for x in ("dangan", "raw", "tesseract"))
        n = args.pages_per_kind
        cd, cr, ct = (100 * v[0] / max(v[1], 1) for v in (d, r, t))
        gain = (1 - cd / cr) * 100 if cr else 0.0
        print(f"{k:14s} {cd:9.1f}% {cr:7.1f}% {ct:8.1f}%   {cd / ct if ct else 0:11.2f} {gain:7.0f}%   "
              f"{d[2] / n:11.2f} {r[2] / n:6.2f} {t[2] / n:6.2f}")
    tot = {x: [sum(v[i] for v in tables[x].values()) for i in range(4)] for x in tables}
    n = len(jobs)
    print(f"{'all':14s} {100 * tot['dangan'][0] / tot['dangan'][1]:9.1f}% {100 * tot['raw'][0] / tot['raw'][1]:7.1f}% "
          f"{100 * tot['tesseract'][0] / tot['tesseract'][1]:8.1f}%   {'':11s} {'':8s}   "
          f"{tot['dangan'][2] / n:11.2f} {tot['raw'][2] / n:6.2f} {tot['tesseract'][2] / n:6.2f}")
    print(f"\ndangan (preprocessing, orientation, routing, layout) over the raw engine: "
          f"{100 * (tot['dangan'][2] / tot['raw'][2] - 1):+.1f}% time per page")
    print(f"peak RSS of this process (one engine, sequential runs): {rss:.0f} MB")

    # Throughput: all pages, `workers` single-threaded processes each, against the anchor with as
    # many jobs. The machine's speed drifts (+-10% between runs on a shared VM), so each side is
    # timed `--rounds` times, taking turns (each first in every other round), and the ratio is of
    # the summed times; each round's own ratio is printed as well.
    w = args.workers
    files = [paths[(k, s)] for k, s, _ in jobs]
    tess_jobs = [(paths[(k, s)], k, d) for k, s, d in jobs]

    def anchor_pass() -> float:
        if anchor == "OCRmyPDF":  # its own page parallelism: one run, --jobs w, per language
            wall = 0.0
            for lang, sel in (("chi_sim", [j for j in jobs if j[0] != "vertical_tc"]),
                              ("chi_tra_vert", [j for j in jobs if j[0] == "vertical_tc"])):
                if sel:
                    wall += ocrmypdf_run([paths[(k, s)] for k, s, _ in sel], lang, w, work, args.dpi)[1]
            return wall
        with ProcessPoolExecutor(w) as tpool:
            t = time.perf_counter()
            list(tpool.map(_tess, tess_jobs))
            return time.perf_counter() - t

    rounds: list[tuple[float, float]] = []
    worker_rss = 0.0
    # Spawned, as the flow's workers are (no engine state forked); each reports its own VmHWM.
    with ProcessPoolExecutor(w, mp_context=get_context("spawn"), initializer=_init,
                             initargs=(engine_name, True)) as pool:
        list(pool.map(_run, files[:w]))  # load each worker's models first

        def dangan_pass() -> float:
            nonlocal worker_rss
            t = time.perf_counter()
            worker_rss = max(worker_rss, max(r[1] for r in pool.map(_run, files)))
            return time.perf_counter() - t

        for i in range(max(1, args.rounds)):
            if i % 2 == 0:
                d_wall = dangan_pass()
                a_wall = anchor_pass()
            else:
                a_wall = anchor_pass()
                d_wall = dangan_pass()
            rounds.append((d_wall, a_wall))
    shutil.rmtree(work, ignore_errors=True)
    dangan_wall = sum(d for d, _ in rounds) / len(rounds)
    tess_wall = sum(a for _, a in rounds) / len(rounds)
    print(f"\nthroughput, {w} worker processes x 1 thread, {n} pages, {len(rounds)} rounds taking turns:")
    print(f"  dangan     {dangan_wall / n:6.2f} s/page wall  ({60 * n / dangan_wall:5.1f} pages/min), "
          f"peak RSS per worker {worker_rss:.0f} MB")
    print(f"  {anchor:10s} {tess_wall / n:6.2f} s/page wall  ({60 * n / tess_wall:5.1f} pages/min)")
    print(f"  dangan / {anchor} throughput: {tess_wall / dangan_wall:.2f}x "
          f"(rounds: {', '.join(f'{a / d:.2f}x' for d, a in rounds)})")
    print(f"load after: {os.getloadavg()[0]:.2f} (1-min)")


if __name__ == "__main__":
    main()

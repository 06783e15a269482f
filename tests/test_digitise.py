import shutil

import pytest

from pipeline.ocr.recognise import ocr_signature
from pipeline.digitise import ingest_batch, pending_pages, recognise_pages
from pipeline.store import open_store

from .conftest import SAMPLES, CountingEngine


@pytest.mark.slow
def test_sample_batch_outputs_and_store(sample_run):
    s, ocr = sample_run["settings"], sample_run["ocr"]
    assert ocr.done == 6 and ocr.failures == []
    with open_store(s.db_url) as store:
        c = store.counts()
        assert (c["items"], c["files"], c["pages"], c["docs"], c["indexed"]) == (7, 6, 6, 6, 6)
        assert c["lines"] > 40
        page = store.db.execute("SELECT * FROM pages WHERE refcode='J001-WS·2021-Y-BGS-0001' AND page_no=2").fetchone()
        assert page["ocr_state"] == "done" and 0.5 < page["mean_conf"] <= 1
    stem = s.out_dir / "J001-WS·2021-Y-BGS-0001" / "page-0002"
    for ext in ("jpg", "json", "txt"):
        assert stem.with_name(f"page-0002.{ext}").is_file()


@pytest.mark.slow
def test_rerun_adds_no_rows_and_calls_no_engine(sample_run):
    s = sample_run["settings"]
    originals = {p: p.read_bytes() for p in sample_run["batch"].iterdir()}
    with open_store(s.db_url) as store:
        before = store.counts()
        counting = CountingEngine(sample_run["engine"].engine)
        ing = ingest_batch(sample_run["batch"], s, store)
        assert ing.files_new == 0
        assert pending_pages(ing.pages, store, ocr_signature(s)) == []
        result = recognise_pages(ing.pages, s, store, counting, ing.batch)
        after = store.counts()
    assert counting.calls == 0 and result.skipped == 6 and result.done == 0
    for table in ("items", "files", "pages", "lines", "docs", "indexed", "failures", "events"):
        assert after[table] == before[table], table
    # Masters are never written.
    assert {p: p.read_bytes() for p in sample_run["batch"].iterdir()} == originals


@pytest.mark.slow
def test_bad_files_fail_alone_with_reasons(tmp_path, settings, engine):
    batch = tmp_path / "batch"
    batch.mkdir()
    good = SAMPLES / "J002-WS-2022-Y-ZHC-0001.png"
    shutil.copy(good, batch / good.name)
    jpeg = (SAMPLES / "J001-WS-2021-Y-BGS-0002.jpg").read_bytes()
    (batch / "J001-WS-2021-Y-BGS-0002.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (batch / "J001-WS-2021-Y-BGS-0005.tif").write_bytes(b"")
    with open_store(settings.db_url) as store:
        ing = ingest_batch(batch, settings, store)
        ocr = recognise_pages(ing.pages, settings, store, engine, ing.batch)
        failures = {r["path"]: (r["kind"], r["reason"]) for r in store.failures(ing.batch)}
    assert ocr.done == 1
    assert failures["J001-WS-2021-Y-BGS-0002.jpg"][0] == "corrupt-file"
    assert "truncated" in failures["J001-WS-2021-Y-BGS-0002.jpg"][1]
    assert failures["J001-WS-2021-Y-BGS-0005.tif"] == ("empty-file", "the file is empty (0 bytes): rescan or recopy it")
    assert len(failures) == 2


@pytest.mark.slow
def test_item_pdfs_and_review_flags(sample_run):
    import subprocess

    from pipeline.digitise import review_reason, write_item_pdfs

    s = sample_run["settings"]
    with open_store(s.db_url) as store:
        refcodes = {r["refcode"] for r in store.db.execute("SELECT refcode FROM pages WHERE ocr_state='done'")}
        paths = write_item_pdfs(refcodes, s, store)
        assert len(paths) == len(refcodes) == 4
        pdf = next(p for p in paths if "0003" in p.name)  # the two-page PDF item
        text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True).stdout
        stored = "".join(r["text"] for r in store.db.execute(
            "SELECT text FROM pages WHERE refcode='J001-WS·2022-D30-BGS-0003' ORDER BY page_no"))
        assert "".join(text.split()) == "".join(stored.split())
        assert store.reviews() == []  # the sample pages read confidently
    strict = s.model_copy(update={"ocr": s.ocr.model_copy(update={"review_below": 0.999})})
    page = sample_run["ocr"]
    assert page.review == []
    from pipeline.ocr.types import OcrLine, PageText

    low = PageText((OcrLine("档案", 0.5, ()),), 1, 1, "e")
    assert "below 0.80" in review_reason(low, s) and review_reason(low, strict)
    assert review_reason(PageText((), 1, 1, "e"), s) == "no text recognised"


@pytest.mark.slow
def test_worker_pool_reads_pages_like_one_process(tmp_path, settings, engine):
    """Two engine processes, pages in parallel: the same text as the in-process engine."""
    from bench.pages import make_page
    from pipeline.digitise import close_pools

    batch = tmp_path / "batch"
    batch.mkdir()
    for n, kind in enumerate(("horizontal", "skewed", "seal"), 1):
        make_page(kind, 20 + n, dpi=200, size=(1654, 500)).image.save(batch / f"J009-WS-2020-Y-BGS-{n:04d}.png", dpi=(200, 200))
    pooled = settings.model_copy(update={"ocr": settings.ocr.model_copy(update={"workers": 2})})
    try:
        with open_store(pooled.db_url) as store:
            ing = ingest_batch(batch, pooled, store)
            res = recognise_pages(ing.pages, pooled, store, None, ing.batch)
            texts = {r["refcode"]: r["text"] for r in store.db.execute("SELECT refcode, text FROM pages")}
    finally:
        close_pools()
    assert res.done == 3 and res.failures == []
    single = settings.model_copy(update={"data_dir": tmp_path / "single"})
    with open_store(single.db_url) as store:
        ing = ingest_batch(batch, single, store)
        recognise_pages(ing.pages, single, store, engine, ing.batch)
        assert texts == {r["refcode"]: r["text"] for r in store.db.execute("SELECT refcode, text FROM pages")}


_KILLED_PARENT = """
import os, sys
from pathlib import Path
from pipeline.config import load_settings
from pipeline.digitise import page_pool
s = load_settings(data_dir=Path(sys.argv[1]))
s = s.model_copy(update={"ocr": s.ocr.model_copy(update={"workers": 2, "engine": "tesseract"})})
pool = page_pool(s)
pids = {pool.submit(os.getpid).result() for _ in range(8)}
print(" ".join(map(str, pids)), flush=True)
os._exit(9)  # as if killed: no shutdown, no atexit
"""


@pytest.mark.slow
def test_engine_workers_end_when_the_flow_process_dies(tmp_path):
    import os
    import subprocess
    import sys
    import time

    from .conftest import ROOT

    out = subprocess.run([sys.executable, "-c", _KILLED_PARENT, str(tmp_path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    pids = [int(p) for p in out.stdout.split()]
    assert pids, out.stderr[-2000:]

    def alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        with open(f"/proc/{pid}/stat") as fh:  # a zombie is gone for our purposes
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"

    deadline = time.monotonic() + 20
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in pids), pids

"""The PostgreSQL store end to end: the sample batch ingested and recognised into it (real OCR, real
PostgreSQL), searched through the search service, re-run without duplicates, and compared row for
row with the same batch in the embedded SQLite store."""

import pytest

from pipeline.index.query import Filters
from pipeline.search import SearchRequest, search
from pipeline.store import open_store
from pipeline.store.postgres import PostgresStore

QUERIES = ["档", "档案", "数字化", "开放审核", "档案 -开放", "天津 OR 内蒙古", '"档案 工作"']


def _found(run, q: str, role: str) -> set[tuple]:
    with open_store(run["settings"].db_url) as store:
        resp = search(store, run["settings"], SearchRequest(q=q, role=role, filters=Filters(), limit=100))
    return {(h.refcode, h.page, h.snippet, h.box) for h in resp.hits} | {("total", resp.total)}


@pytest.mark.slow
def test_pipeline_runs_on_postgres_and_finds_what_sqlite_finds(sample_run, sample_run_pg):
    pg = sample_run_pg["settings"].db_url
    assert pg.startswith("postgresql://")
    with open_store(pg) as store:
        assert isinstance(store, PostgresStore)
        counts = store.counts()
        assert counts["pages"] == 6 and counts["docs"] == counts["pages"] and counts["lines"] > 20
    with open_store(sample_run["settings"].db_url) as lite:
        want = {k: v for k, v in lite.counts().items() if k not in ("events", "runs")}
    assert {k: v for k, v in counts.items() if k not in ("events", "runs")} == want
    for q in QUERIES:
        for role in ("public", "staff"):
            assert _found(sample_run_pg, q, role) == _found(sample_run, q, role), (q, role)
    assert _found(sample_run_pg, "档案", "staff") != _found(sample_run_pg, "档案", "public")  # roles differ


@pytest.mark.slow
def test_rerun_on_postgres_adds_nothing(sample_run_pg):
    from pipeline.digitise import ingest_batch, pending_pages, recognise_pages
    from pipeline.ocr.recognise import ocr_signature

    s = sample_run_pg["settings"]
    engine = sample_run_pg["engine"]
    with open_store(s.db_url) as store:
        before = store.counts()
        ing = ingest_batch(sample_run_pg["batch"], s, store)
        assert pending_pages(ing.pages, store, ocr_signature(s)) == []
        calls = engine.calls
        recognise_pages(ing.pages, s, store, engine, ing.batch)
        assert engine.calls == calls
        after = store.counts()
    assert {k: v for k, v in after.items() if k != "runs"} == {k: v for k, v in before.items() if k != "runs"}

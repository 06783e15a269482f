import json

import tantivy

from dataclasses import dataclass

from pipeline.index.query import FACETS, Filters, parse
from pipeline.ingest.catalogue import CatalogueRow
from pipeline.ocr.types import OcrLine, PageText
from pipeline.refcode import RefCode
from pipeline.store import open_store


@dataclass
class Ref:
    refcode: str
    page_no: int
    path: str = "/b/x.jpg"
    relpath: str = "x.jpg"
    file_sha256: str = "aa"
    index: int = 0
    dpi: float | None = 300.0


def _row(ref: str, status: str) -> CatalogueRow:
    return CatalogueRow(2, RefCode.parse(ref), "J001", 2021, "永久", "BGS", "题名", status, 1)


def _page(text: str) -> PageText:
    return PageText((OcrLine(text, 0.9, ((0, 0), (10, 0), (10, 5), (0, 5))),), 100, 200, "eng:1")


def test_upserts_are_idempotent_and_access_is_default_deny(store_url):
    store = open_store(store_url)
    for _ in range(2):
        for ref, status in (("J001-WS·2021-Y-BGS-0001", "开放"), ("J001-WS·2021-Y-BGS-0002", "控制")):
            store.upsert_item(_row(ref, status), "/b")
            r = Ref(ref, 1)
            store.upsert_page_source(r, "/b")
            store.save_page_text(r, _page("档案开放审核"), "/o/p.jpg", "/b", None)
    store.ensure_item("J001-WS·2021-Y-BGS-0003", "J001", 2021, "/b")
    r3 = Ref("J001-WS·2021-Y-BGS-0003", 1)
    store.upsert_page_source(r3, "/b")
    store.save_page_text(r3, _page("档案开放审核"), "/o/p.jpg", "/b", None)
    c = store.counts()
    assert (c["items"], c["pages"], c["lines"], c["docs"], c["indexed"]) == (3, 3, 3, 3, 3)

    q = parse("开放审核")
    found = store.search(q, ["开放"], Filters())
    assert found["total"] == 1 and [r["refcode"] for r in found["rows"]] == ["J001-WS·2021-Y-BGS-0001"]
    assert found["facets"]["open_status"] == {"开放": 1}
    assert store.search(q, ["开放", "控制", "未审核"], Filters())["total"] == 3
    assert store.search(q, [], Filters()) == {"total": 0, "rows": [], "facets": {f: {} for f in FACETS}}
    store.close()


def test_changed_source_bytes_reset_the_page(store_url):
    store = open_store(store_url)
    store.upsert_item(_row("J001-WS·2021-Y-BGS-0001", "开放"), "/b")
    r = Ref("J001-WS·2021-Y-BGS-0001", 1)
    store.upsert_page_source(r, "/b")
    store.save_page_text(r, _page("甲"), "/o/p.jpg", "/b", None)
    assert store.page_done(r.refcode, 1, "aa", "eng:1")
    assert not store.page_done(r.refcode, 1, "aa", "eng:2")
    store.upsert_page_source(Ref(r.refcode, 1, file_sha256="bb"), "/b")
    assert not store.page_done(r.refcode, 1, "bb", "eng:1")
    state = store.db.execute("SELECT ocr_state FROM pages").fetchone()[0]
    assert state == "pending"
    store.close()


def _stored(store_url):
    """Two pages and a recording's two segments, indexed as the flow does."""
    from types import SimpleNamespace as NS

    store = open_store(store_url)
    store.upsert_item(_row("J001-WS·2021-Y-BGS-0001", "开放"), "/b")
    for n, text in ((1, "档案数字化成果"), (2, "开放审核工作")):
        store.upsert_page_source(Ref("J001-WS·2021-Y-BGS-0001", n), "/b")
        store.save_page_text(Ref("J001-WS·2021-Y-BGS-0001", n), _page(text), "/o/p.jpg", "/b", None)
    rec = NS(path="/b/a.wav", refcode="J001-WS·2021-Y-BGS-0001", offset_ms=0, batch="/b", relpath="a.wav")
    segs = [NS(start_ms=0, end_ms=900, text="语音识别档案", text_original="語音識別檔案", confidence=0.8),
            NS(start_ms=1000, end_ms=2000, text="天津市档案馆", text_original="天津市檔案館", confidence=0.8)]
    store.save_transcript(rec, NS(engine="w:1", segments=segs, dropped={}), None)
    return store


def _keys(store, q: str) -> list[str]:
    return sorted(r["key"] for r in store.search(parse(q), ["开放"], Filters(), limit=100)["rows"])


def test_reindex_is_idempotent_and_repairs_what_the_check_finds(store_url):
    store = _stored(store_url)
    before = {q: _keys(store, q) for q in ("档案", "档", "审核", "天津市")}
    assert before["档案"] == ["page:J001-WS·2021-Y-BGS-0001:1", "segment:J001-WS·2021-Y-BGS-0001:0",
                             "segment:J001-WS·2021-Y-BGS-0001:1000"]
    assert store.check_index() == []
    for _ in range(2):  # nothing to repair: nothing changes
        assert store.reindex() == {"docs": 4, "added": 0, "changed": 0, "removed": 0}
        assert {q: _keys(store, q) for q in before} == before and store.check_index() == []

    # Break it three ways: a doc's text, a doc gone, a doc's index entries.
    seg = "segment:J001-WS·2021-Y-BGS-0001:1000"
    with store.tx() as db:
        db.execute("UPDATE docs SET body='别的' WHERE key='page:J001-WS·2021-Y-BGS-0001:2'")
        db.execute("DELETE FROM docs WHERE key='page:J001-WS·2021-Y-BGS-0001:1'")  # its index entries stay behind
        doc_id = db.execute("SELECT id FROM docs WHERE key=?", (seg,)).fetchone()[0]
    with store.index.writer(wait_s=5) as w:  # the index loses a doc behind the journal's back
        w.delete_documents_by_query(tantivy.Query.term_set_query(store.index.index.schema, "id", [doc_id]))
        w.commit()
    problems = set(store.check_index())
    assert ("page:J001-WS·2021-Y-BGS-0001:1", "not indexed") in problems
    assert ("page:J001-WS·2021-Y-BGS-0001:2", "indexed text differs from the stored text") in problems
    assert (seg, "not in the search index") in problems
    assert _keys(store, "天津市") != before["天津市"]

    assert store.reindex() == {"docs": 4, "added": 1, "changed": 1, "removed": 0}
    assert store.check_index() == []
    assert {q: _keys(store, q) for q in before} == before
    store.close()


def test_reindex_cli_check_exits_16_until_rebuilt(store_url, tmp_path):
    from click.testing import CliRunner

    from pipeline.cli import cli

    store = _stored(store_url)
    with store.tx() as db:
        db.execute("UPDATE docs SET body='别的' WHERE key='page:J001-WS·2021-Y-BGS-0001:2'")
    store.close()
    env = {"DANGAN_DB": store_url, "DANGAN_DATA_DIR": str(tmp_path)}
    res = CliRunner().invoke(cli, ["reindex", "--check", "--json"], env=env)
    assert res.exit_code == 16, res.output
    out = json.loads(res.output)
    assert out["consistent"] is False and {p["key"] for p in out["problems"]} == {"page:J001-WS·2021-Y-BGS-0001:2"}
    res = CliRunner().invoke(cli, ["reindex"], env=env)
    assert res.exit_code == 0 and "1 changed" in res.output, res.output
    res = CliRunner().invoke(cli, ["reindex", "--check"], env=env)
    assert res.exit_code == 0 and "0 disagree" in res.output, res.output


def test_every_set_of_statuses_sees_exactly_its_docs(store_url):
    """The role's limit is built differently depending on how many statuses it bars (none, a few,
    most): every subset of five statuses sees exactly its own docs, in rows, totals and facets."""
    from itertools import combinations

    statuses = ["开放", "控制", "未审核", "待定", ""]
    store = open_store(store_url)
    with store.tx() as db:
        for n, status in enumerate(statuses):
            for k in range(n + 1):  # status n has n+1 docs: counts tell statuses apart
                ref = f"J001-WS·2021-Y-BGS-{n:02d}{k:02d}"
                db.execute("INSERT INTO items(refcode, fonds, year, open_status, updated_at) VALUES (?,?,?,?,?)",
                           (ref, "J001", 2021, status, "t"))
                store._index(db, f"page:{ref}:1", "page", ref, 1, f"档案{status}第{k}页")
    for size in range(1, len(statuses) + 1):
        for allowed in combinations(statuses, size):
            for q, less in (("档案", 0), ("档", 0), ("档案 -第0页", 1)):  # -第0页: one doc fewer per status
                want = {s: n for s in allowed if (n := statuses.index(s) + 1 - less)}
                found = store.search(parse(q), list(allowed), Filters(), limit=100)
                assert found["total"] == sum(want.values()) == len(found["rows"]), (allowed, q)
                assert {r["open_status"] for r in found["rows"]} == set(want), (allowed, q)
                assert found["facets"]["open_status"] == want, (allowed, q)
    store.close()


def test_a_search_boxes_each_page_hit_on_its_own_line(store_url):
    """Several page hits are boxed from one lookup of their lines, each on the line holding the hit."""
    from pipeline.config import load_settings
    from pipeline.search import SearchRequest, search

    store = open_store(store_url)
    ref = "J001-WS·2021-Y-BGS-0001"
    store.upsert_item(_row(ref, "开放"), "/b")
    for n, hit_line in ((1, 0), (2, 1), (3, 2)):
        texts = ["会议纪要", "人员名单", "经费预算"]
        texts[hit_line] = "档案数字化"
        lines = tuple(OcrLine(t, 0.9, ((10, 10 + 40 * i), (200, 10 + 40 * i), (200, 40 + 40 * i), (10, 40 + 40 * i)))
                      for i, t in enumerate(texts))
        r = Ref(ref, n)
        store.upsert_page_source(r, "/b")
        store.save_page_text(r, PageText(lines, 300, 400, "eng:1"), f"/o/p{n}.jpg", "/b", None)
    assert store.lines_of_pages([]) == {}
    got = store.lines_of_pages([(ref, 2), (ref, 3), (ref, 2), (ref, 9)])
    assert sorted(got) == [(ref, 2), (ref, 3)] and [ln["text"] for ln in got[(ref, 3)]] == ["会议纪要", "人员名单", "档案数字化"]
    resp = search(store, load_settings(), SearchRequest(q="数字化", role="public", limit=20))
    assert {h.page: h.box for h in resp.hits} == {1: (10, 10, 200, 40), 2: (10, 50, 200, 80), 3: (10, 90, 200, 120)}
    store.close()

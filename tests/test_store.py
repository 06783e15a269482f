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


def test_upserts_are_idempotent_and_access_is_default_deny(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
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
    assert (c["items"], c["pages"], c["lines"], c["docs"], c["docs_fts"]) == (3, 3, 3, 3, 3)

    q = parse("开放审核")
    found = store.search(q, ["开放"], Filters())
    assert found["total"] == 1 and [r["refcode"] for r in found["rows"]] == ["J001-WS·2021-Y-BGS-0001"]
    assert found["facets"]["open_status"] == {"开放": 1}
    assert store.search(q, ["开放", "控制", "未审核"], Filters())["total"] == 3
    assert store.search(q, [], Filters()) == {"total": 0, "rows": [], "facets": {f: {} for f in FACETS}}
    store.close()


def test_changed_source_bytes_reset_the_page(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
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

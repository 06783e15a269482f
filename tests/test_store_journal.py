"""The store and its search index never disagree in what they answer: a crash between the two
commits is repaired, and until then searches are exact and leak nothing (open status changes are in
force from the store's commit)."""

import random
import shutil

from pipeline.index.query import Filters, parse
from pipeline.index.tantivy_index import SearchIndex
from pipeline.index.text import compact_chars
from pipeline.ingest.catalogue import CatalogueRow
from pipeline.refcode import RefCode
from pipeline.store import journal, open_store
from pipeline.store.postgres import PostgresStore
from pipeline.store.sqlite import SQLiteStore
from tests.test_store import Ref, _page

OPEN, RESTRICTED = "J001-WS·2021-Y-BGS-0001", "J001-WS·2021-Y-BGS-0002"


def _row(ref: str, status: str, year: int = 2021) -> CatalogueRow:
    return CatalogueRow(2, RefCode.parse(ref), "J001", year, "永久", "BGS", "题名", status, 1)


def _crash_before_the_index_commits(monkeypatch) -> None:
    """Writers commit to the store and die before the index applies the journal."""
    monkeypatch.setattr(SQLiteStore, "_catch_up", lambda self, wait_s: None)
    monkeypatch.setattr(PostgresStore, "_catch_up", lambda self, wait_s: None)


def _filled(url: str) -> SQLiteStore:
    """Two recognised pages, as the flow stores them: one 开放, one 控制."""
    store = open_store(url)
    for ref, status, text in ((OPEN, "开放", "档案开放审核工作"), (RESTRICTED, "控制", "开放审核制度与档案")):
        store.upsert_item(_row(ref, status), "/b")
        store.upsert_page_source(Ref(ref, 1), "/b")
        store.save_page_text(Ref(ref, 1), _page(text), "/o/p.jpg", "/b", None)
    return store


def _public(store, q: str) -> dict:
    return store.search(parse(q), ["开放"], Filters(), limit=100)


def test_status_change_is_in_force_from_the_store_commit_even_if_the_index_lags(store_url, monkeypatch):
    store = _filled(store_url)
    assert _public(store, "审核")["total"] == 1
    _crash_before_the_index_commits(monkeypatch)
    store.upsert_item(_row(OPEN, "控制"), "/b")  # withdrawn from public view
    store.upsert_item(_row(RESTRICTED, "开放"), "/b")  # opened
    for q in ("审核", "档", "开放审核", "档案 -制度"):
        found = _public(store, q)
        assert {r["refcode"] for r in found["rows"]} <= {RESTRICTED}, q
        assert set(found["facets"]["open_status"]) <= {"开放"}, q
        assert found["total"] == len(found["rows"]) == sum(found["facets"]["open_status"].values()), q
        assert all("档案开放审核工作" not in r["body"] for r in found["rows"]), q
    assert [r["refcode"] for r in _public(store, "制度")["rows"]] == [RESTRICTED]
    staff = store.search(parse("审核"), ["开放", "控制"], Filters())
    assert staff["total"] == 2 and staff["facets"]["open_status"] == {"开放": 1, "控制": 1}
    store.close()


def test_a_crash_between_store_and_index_is_repaired_on_open(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = _filled(url)
    _crash_before_the_index_commits(monkeypatch)
    rng = random.Random(3)
    bodies = {}
    with store.tx() as db:
        for i in range(60):
            bodies[i] = "".join(rng.choice("档案馆数字化开放审核") for _ in range(rng.randint(1, 20)))
            store._index(db, f"segment:{OPEN}:{i}", "segment", OPEN, None, bodies[i])
        store._unindex(db, f"page:{RESTRICTED}:1")
    _, applied = store.index.searcher()
    assert applied < journal.last_seq(store.db)  # the index lags the store
    # Until repaired, searches are still exact: pending docs are taken from the store.
    bodies["p"] = "档案开放审核工作"
    for q in ("档", "档案", "开放审核", "馆数", "档 -审核"):
        want = {k for k, b in bodies.items() if parse(q).matches(compact_chars(b))}
        found = store.search(parse(q), ["开放", "控制"], Filters(), limit=1000)
        assert found["total"] == len(want) and len(found["rows"]) == len(want), q
    store.close()
    monkeypatch.undo()

    with open_store(url) as store:  # the next open applies what the crash left pending
        _, applied = store.index.searcher()
        assert applied == journal.last_seq(store.db)
        assert store.db.execute("SELECT count(*) FROM index_journal").fetchone()[0] == 0
        assert journal.check(store.db, store.index) == []
        assert store.counts()["indexed"] == store.counts()["docs"] == 61


def test_a_crash_inside_the_index_commit_leaves_it_as_it_was(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = _filled(url)

    def crash(self, w, applied):
        raise OSError("disk gone")

    monkeypatch.setattr(SearchIndex, "_commit", crash)
    store.upsert_item(_row(OPEN, "控制"), "/b")  # the index's failure is not the store's: logged, left pending
    assert store.item(OPEN)["open_status"] == "控制"
    assert store.index.searcher()[1] < journal.last_seq(store.db)
    assert _public(store, "审核")["total"] == 0
    store.close()
    monkeypatch.undo()
    with open_store(url) as store:
        assert journal.check(store.db, store.index) == [] and _public(store, "审核")["total"] == 0


def test_check_finds_a_copy_changed_behind_the_journal_and_reindex_repairs_it(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = _filled(url)
    store.db.execute("UPDATE items SET open_status='开放' WHERE refcode=?", (RESTRICTED,))  # no journal row
    assert set(store.check_index()) == {(f"page:{RESTRICTED}:1", "index entries differ from the text")}
    assert store.reindex()["docs"] == 2 and store.check_index() == []
    assert _public(store, "制度")["total"] == 1
    store.close()


def test_a_lost_index_is_rebuilt_from_the_store(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    _filled(url).close()
    shutil.rmtree(tmp_path / "db.sqlite.index")
    with open_store(url) as store:
        assert store.check_index() == [] and _public(store, "审核")["total"] == 1


def test_a_lagging_index_answers_as_a_current_one_under_every_filter(store_url, monkeypatch):
    """Docs waiting for the index are read once and then filtered for each search (role, 全宗, years,
    kind, batch); each further change is seen at once, and the answers are those of the index once it
    has caught up."""
    store = _filled(store_url)
    _crash_before_the_index_commits(monkeypatch)
    with store.tx() as db:
        for i, text in enumerate(("档案开放", "开放审核程序", "馆藏档案审核")):
            store._index(db, f"segment:{OPEN}:{i}", "segment", OPEN, None, text)
    searches = [(q, st, f) for q in ("审核", "档案", "开放审核")
                for st in (["开放"], ["开放", "控制"])
                for f in (Filters(), Filters(kind=("segment",)), Filters(year_from=2022), Filters(year_to=2021),
                          Filters(fonds=("J002",)), Filters(batch="/b"), Filters(batch="/elsewhere"))]

    def answers():
        out = []
        for q, st, f in searches:
            r = store.search(parse(q), st, f, limit=100)
            out.append((r["total"], sorted(x["key"] for x in r["rows"]), r["facets"]))
        return out

    assert store.index.count() == 2  # the three segments wait for the index
    lagging = answers()
    store.upsert_item(_row(RESTRICTED, "开放", year=2023), "/b")  # while the first change still waits
    assert [r["refcode"] for r in _public(store, "制度")["rows"]] == [RESTRICTED]
    assert _public(store, "制度")["facets"]["year"] == {"2023": 1}
    moved = answers()
    monkeypatch.undo()
    store._catch_up(wait_s=5)
    assert store.index.count() == 5  # caught up: the answers below come from the index alone
    assert answers() == moved != lagging
    store.close()

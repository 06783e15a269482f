"""PostgreSQL's store and its tantivy index never disagree in what they answer, although its journal
sequence does not follow commit order: writers committing out of order, crashes between the store's
and the index's commits, an index older than the journal's pruning, a folder of another database."""

import random
import shutil

from pipeline.index.query import Filters, parse
from pipeline.index.tantivy_index import SearchIndex
from pipeline.index.text import compact_chars
from pipeline.store import open_store, pg_journal
from pipeline.store.postgres import PostgresStore
from tests.test_store import Ref, _page
from tests.test_store_journal import OPEN, RESTRICTED, _filled, _public, _row

STAFF = ["开放", "控制", "未审核"]


def _journal_rows(store) -> int:
    return store.db.execute("SELECT count(*) FROM index_journal").fetchone()[0]


def _segment(store, db, n: int, body: str) -> None:
    store._index(db, f"segment:{OPEN}:{n}", "segment", OPEN, None, body)


def test_a_writer_committing_after_a_later_sequence_number_is_not_skipped(pg_url):
    first, second = _filled(pg_url), open_store(pg_url)
    with first.tx_plain() as db:  # takes the lower seq, commits last
        _segment(first, db, 1, "早取号晚提交的档案")
        low = db.execute("SELECT max(seq) FROM index_journal").fetchone()[0]
        with second.tx() as db2:  # a higher seq, committed (and applied by its writer) first
            _segment(second, db2, 2, "晚取号早提交的档案")
        assert second.db.execute("SELECT max(seq) FROM index_journal").fetchone()[0] is None  # applied, pruned
        assert low is not None
        assert pg_journal.check(second, second.index) == []  # the check sees only committed docs
    # Committed now, after the index applied a higher seq: "applied up to seq N" would skip it forever.
    assert _journal_rows(first) == 1
    assert _public(first, "早取号")["total"] == 1  # pending: taken from the store, exactly
    assert second.search(parse("早取号"), STAFF, Filters())["total"] == 1
    with second.tx() as db2:  # the next write applies everything visible, whatever its seq
        _segment(second, db2, 3, "又一条")
    assert _journal_rows(first) == 0 and pg_journal.check(second, second.index) == []
    for q, n in (("早取号晚提交", 1), ("晚取号早提交", 1), ("档案", 3)):
        assert _public(second, q)["total"] == n, q
    first.close()
    second.close()


def test_a_crash_between_store_and_index_commits_is_repaired_on_open(pg_url, monkeypatch):
    store = _filled(pg_url)
    monkeypatch.setattr(PostgresStore, "_catch_up", lambda self, wait_s: None)  # dies before the index commits
    rng = random.Random(5)
    bodies = {}
    with store.tx() as db:
        for i in range(60):
            bodies[i] = "".join(rng.choice("档案馆数字化开放审核") for _ in range(rng.randint(1, 20)))
            _segment(store, db, i, bodies[i])
        store._unindex(db, f"page:{RESTRICTED}:1")
    assert _journal_rows(store) == 61
    bodies["p"] = "档案开放审核工作"
    for q in ("档", "档案", "开放审核", "馆数", "档 -审核"):  # exact while the index lags
        want = {k for k, b in bodies.items() if parse(q).matches(compact_chars(b))}
        found = store.search(parse(q), STAFF, Filters(), limit=1000)
        assert found["total"] == len(want) == len(found["rows"]), q
    store.close()
    monkeypatch.undo()
    with open_store(pg_url) as store:  # the next open applies what the crash left
        assert _journal_rows(store) == 0 and pg_journal.check(store, store.index) == []
        assert store.counts()["indexed"] == store.counts()["docs"] == 61


def test_a_crash_after_the_index_commit_before_pruning_applies_the_rows_again_harmlessly(pg_url, monkeypatch):
    store = _filled(pg_url)
    monkeypatch.setattr(pg_journal, "_prune", lambda store, seqs, generation: None)
    store.upsert_item(_row(OPEN, "控制"), "/b")
    with store.tx() as db:
        _segment(store, db, 7, "开放审核")
    assert _journal_rows(store) == 2  # in the index, still in the journal
    assert _public(store, "审核")["total"] == 0  # withdrawn from public view, from the store's commit
    monkeypatch.undo()
    store.close()
    with open_store(pg_url) as store:
        assert _journal_rows(store) == 0
        assert pg_journal.check(store, store.index) == []  # applied twice, present once
        assert store.search(parse("审核"), STAFF, Filters())["total"] == 3 and _public(store, "审核")["total"] == 0


def test_a_crash_inside_the_index_commit_leaves_it_as_it_was(pg_url, monkeypatch):
    store = _filled(pg_url)
    monkeypatch.setattr(SearchIndex, "_commit", lambda self, w, applied: (_ for _ in ()).throw(OSError("disk gone")))
    store.upsert_item(_row(OPEN, "控制"), "/b")  # the index's failure is not the store's: logged, left pending
    assert store.item(OPEN)["open_status"] == "控制" and _journal_rows(store) == 1
    assert _public(store, "审核")["total"] == 0
    store.close()
    monkeypatch.undo()
    with open_store(pg_url) as store:
        assert pg_journal.check(store, store.index) == [] and _public(store, "审核")["total"] == 0


def test_an_index_older_than_the_pruning_is_never_trusted(pg_url, tmp_path):
    store = _filled(pg_url)
    backup = tmp_path / "backup"
    shutil.copytree(store.index.path, backup)  # the index as it was
    store.upsert_item(_row(OPEN, "控制"), "/b")  # applied, pruned: the journal no longer says so
    s, generation = store.index.searcher()
    with store.tx_plain() as db:
        assert pg_journal.pending(db, generation - 1) is None  # a searcher holding the older snapshot retakes it
    store.close()
    shutil.rmtree(store.index.path)
    shutil.copytree(backup, store.index.path)  # restored from a backup, behind the store
    with open_store(pg_url) as store:  # rebuilt on open: the restored copy would show OPEN to the public
        assert _public(store, "审核")["total"] == 0 and pg_journal.check(store, store.index) == []


def test_a_lost_index_is_rebuilt_and_a_folder_never_serves_another_database(pg_server, pg_url):
    store = _filled(pg_url)
    path = store.index.path
    store.close()
    shutil.rmtree(path)
    with open_store(pg_url) as store:
        assert pg_journal.check(store, store.index) == [] and _public(store, "审核")["total"] == 1
    with open_store(pg_server.new_database()) as other:  # another database on the same host: its own folder
        assert other.index.path != path and _public(other, "审核")["total"] == 0


def test_index_many_writes_what_index_writes_row_by_row(tmp_path, pg_url):
    rows = [(f"segment:{OPEN}:{i}", "segment", OPEN, None, f"第{i}段档案") for i in range(30)]
    rows.append((f"segment:{OPEN}:3", "segment", OPEN, None, "重写的文字"))  # a key twice: its last text
    stores = [_filled(f"sqlite:///{tmp_path / 'db.sqlite'}"), _filled(pg_url)]
    with stores[0].tx() as db:
        for r in rows:
            stores[0]._index(db, *r)
    with stores[1].tx() as db:
        stores[1]._index_many(db, rows)
    with stores[1].tx() as db:  # again, one changed: only that one is rewritten
        stores[1]._index_many(db, [*rows[:3], (rows[5][0], *rows[5][1:4], "改过的")])
    with stores[0].tx() as db:
        stores[0]._index(db, rows[5][0], *rows[5][1:4], "改过的")
    for q in ("档案", "第1", "重写", "改过", "段", "第6段"):
        got = [sorted((r["key"], r["body"]) for r in s.search(parse(q), STAFF, Filters(), limit=100)["rows"])
               for s in stores]
        assert got[0] == got[1] and got[0], q
    assert pg_journal.check(stores[1], stores[1].index) == [] and _journal_rows(stores[1]) == 0
    for s in stores:
        s.close()


def test_pages_stay_exact_while_another_process_holds_the_index_writer(pg_url):
    store = _filled(pg_url)
    with store.index.writer(wait_s=1):  # held elsewhere: the write commits, its rows wait for the writer
        store.upsert_page_source(Ref(OPEN, 2), "/b")
        store.save_page_text(Ref(OPEN, 2), _page("等写锁的档案"), "/o/p.jpg", "/b", None)
        assert _journal_rows(store) == 1 and _public(store, "写锁")["total"] == 1
    store.close()
    with open_store(pg_url) as store:
        assert _journal_rows(store) == 0 and _public(store, "写锁")["total"] == 1


def test_a_store_of_the_sql_index_era_is_migrated_on_open(pg_url):
    store = _filled(pg_url)
    path = store.index.path
    store.db.execute("ALTER TABLE docs ADD COLUMN compact TEXT NOT NULL DEFAULT '', ADD COLUMN terms TEXT[] "
                     "NOT NULL DEFAULT '{}'")
    store.db.execute("CREATE INDEX docs_terms ON docs USING gin (terms)")
    store.close()
    shutil.rmtree(path)  # that era had no index folder
    with open_store(pg_url) as store:
        cols = {r[0] for r in store.db.execute("SELECT column_name FROM information_schema.columns "
                                               "WHERE table_name = 'docs'")}
        assert not cols & {"terms", "compact"}
        assert store.db.execute("SELECT to_regclass('docs_terms')").fetchone()[0] is None
        assert _public(store, "审核")["total"] == 1 and pg_journal.check(store, store.index) == []

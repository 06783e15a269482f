"""Keeping a PostgreSQL store and its tantivy index (``pipeline.index.tantivy_index``) in agreement.

As on SQLite (``pipeline.store.journal``), every change the index copies writes a journal row in the
same store transaction. What differs: PostgreSQL's sequences do not follow commit order when several
writers run at once (a transaction holding seq 5 may commit after one holding seq 6), so "the index
is complete up to seq N" would silently skip rows. Here nothing relies on order:

* the indexer reads **every** journal row visible in one snapshot, applies them (each doc is deleted
  and added again by id, re-read from that snapshot, so applying twice is harmless), commits tantivy
  with a new *generation* number, then deletes exactly the rows it applied and records the generation
  as ``pruned`` in one store transaction. A crash between the two commits leaves the rows in place:
  they are applied again;
* a search treats every journal row it can see as pending (those docs are left out of the index's
  answer and evaluated from the store, in the same snapshot), and if ``pruned`` is above its index
  snapshot's generation, rows it no longer sees may be missing from that snapshot: it takes a newer
  one.

The index folder lives on the host that serves searches (``index_root``); one writer at a time on
that host (tantivy's lock). Several app servers each keeping their own copy would need a journal per
copy: not done here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

from pipeline.index.tantivy_index import IndexDoc, SearchIndex
from pipeline.index.text import compact_chars
from pipeline.store.journal import Pending, disagreements, index_docs

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS index_journal (
    seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- identifies a row, says nothing of order
    refcode TEXT NOT NULL,
    doc_id  BIGINT,  -- NULL: every doc of the item (its 全宗, 年度, 保管期限 or open status changed)
    chars   TEXT     -- the doc's compact text as written; NULL when removed or for an item
);
CREATE TABLE IF NOT EXISTS index_state (
    one      INT PRIMARY KEY CHECK (one = 1),
    store_id TEXT NOT NULL,    -- names this store's index folder: a folder never serves another database
    pruned   BIGINT NOT NULL   -- the highest index generation whose journal rows were deleted
);
INSERT INTO index_state VALUES (1, gen_random_uuid()::text, 0) ON CONFLICT DO NOTHING;
"""

_DOCS = """SELECT d.id, d.key, d.kind, d.refcode, i.fonds, i.year, i.retention, i.open_status, d.body
           FROM docs d JOIN items i ON i.refcode = d.refcode"""
SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"


def index_root() -> Path:
    """Where PostgreSQL stores keep their index folders on this host: ``DANGAN_PG_INDEX_DIR``, else
    ``pg-index`` in the data folder (``DANGAN_DATA_DIR`` or the XDG data folder)."""
    if d := os.environ.get("DANGAN_PG_INDEX_DIR"):
        return Path(d).expanduser()
    data = os.environ.get("DANGAN_DATA_DIR") or Path(
        os.environ.get("XDG_DATA_HOME") or Path.home() / ".local/share") / "dangan"
    return Path(data).expanduser() / "pg-index"


def record_doc(db, refcode: str, doc_id: int, body: str | None) -> None:
    db.execute("INSERT INTO index_journal(refcode, doc_id, chars) VALUES (?,?,?)",
               (refcode, doc_id, None if body is None else compact_chars(body)))


def record_item(db, refcode: str) -> bool:
    cur = db.execute("INSERT INTO index_journal(refcode) SELECT ? WHERE EXISTS (SELECT 1 FROM docs WHERE refcode=?)",
                     (refcode, refcode))
    return cur.rowcount > 0


def pending(db, generation: int) -> tuple[Pending, list[int]] | None:
    """Every journal row visible now (docs and items the index may lack) and their seqs, or None when
    rows applied after the index snapshot of ``generation`` have been pruned (take a newer one)."""
    if db.execute("SELECT pruned FROM index_state").fetchone()[0] > generation:
        return None
    out, seqs = Pending(upto=generation), []
    for seq, refcode, doc_id, chars in db.execute("SELECT seq, refcode, doc_id, chars FROM index_journal").fetchall():
        if doc_id is None:
            out.refcodes.add(refcode)
        else:  # written twice: which row is newer is not read from seqs; the store's body decides
            out.ids[doc_id] = None if doc_id in out.ids else chars
        seqs.append(seq)
    return out, seqs


def docs(db, p: Pending, with_body: bool = True) -> list[IndexDoc]:
    """As ``journal.docs``: the store's current docs ``p`` names."""
    ids_sql = _DOCS if with_body else _DOCS.replace("d.body", "'' AS body")
    rows = db.execute(f"{ids_sql} WHERE d.id = ANY(?)", [list(p.ids)]).fetchall() if p.ids else []
    if p.refcodes:
        rows += db.execute(f"{_DOCS} WHERE d.refcode = ANY(?)", [sorted(p.refcodes)]).fetchall()
    return index_docs(rows, p.ids)


def catch_up(store, index: SearchIndex, wait_s: float) -> int:
    """Apply every visible journal row (the number of docs copied). Raises ``IndexBusy`` when another
    process holds the writer longer than ``wait_s``. An index older than the pruning is rebuilt."""
    db = store.db
    _, gen = index.searcher()
    if (db.execute("SELECT pruned FROM index_state").fetchone()[0] <= gen
            and db.execute("SELECT 1 FROM index_journal LIMIT 1").fetchone() is None):
        return 0  # nothing pending: no need for the writer
    with index.writer(wait_s) as w:
        _, gen = index.searcher()  # under the writer lock: no one else commits meanwhile
        with store.tx_plain() as db:
            db.execute(SNAPSHOT)
            found = pending(db, gen)
            if found is None:
                log.warning("search index %s is older than the store's journal: rebuilding it", index.path)
                pruned = db.execute("SELECT pruned FROM index_state").fetchone()[0]
                seqs = [r[0] for r in db.execute("SELECT seq FROM index_journal")]
                new = max(gen, pruned) + 1
                n = index.rebuild(w, _all_docs(db), new)
            else:
                p, seqs = found
                if not seqs:
                    return 0
                todo = docs(db, p)
                new, n = max(gen, db.execute("SELECT pruned FROM index_state").fetchone()[0]) + 1, len(todo)
                index.apply(w, todo, p.ids, p.refcodes, new)
        _prune(store, seqs, new)
    return n


def rebuild(store, index: SearchIndex, wait_s: float) -> int:
    """Copy every doc anew (one tantivy commit); the number of docs."""
    with index.writer(wait_s) as w:
        _, gen = index.searcher()
        with store.tx_plain() as db:
            db.execute(SNAPSHOT)
            new = max(gen, db.execute("SELECT pruned FROM index_state").fetchone()[0]) + 1
            seqs = [r[0] for r in db.execute("SELECT seq FROM index_journal")]
            n = index.rebuild(w, _all_docs(db), new)
        _prune(store, seqs, new)
    return n


def _all_docs(db) -> Iterator[IndexDoc]:
    cur = db.conn.cursor(name="dangan_all_docs")  # server-side: 1M bodies never sit in memory at once
    cur.itersize = 5000
    cur.execute(_DOCS)
    for r in cur:
        yield IndexDoc(*r, chars=compact_chars(r[8]))
    cur.close()


def _prune(store, seqs: list[int], generation: int) -> None:
    """After the tantivy commit of ``generation``: the rows it applied are gone, in one store transaction."""
    with store.tx_plain() as db:
        # Not waited for on disk: if a crash loses it, the rows are applied again, which is harmless.
        db.execute("SET LOCAL synchronous_commit = off")
        db.execute("DELETE FROM index_journal WHERE seq = ANY(?)", (seqs,))
        db.execute("UPDATE index_state SET pruned = GREATEST(pruned, ?)", (generation,))


def check(store, index: SearchIndex) -> list[tuple[str, str]]:
    """As ``journal.check``: every doc whose copy in the index disagrees with the store."""
    catch_up(store, index, wait_s=30)
    want = {r[0]: (r[1], IndexDoc(*r, chars="").fingerprint()) for r in store.db.execute(_DOCS).fetchall()}
    return disagreements(want, index.entries())

"""Keeping the SQLite store and its search index (``pipeline.index.tantivy_index``) in agreement.

The two are separate files, so no transaction spans both. Instead every change the index must copy
(a doc's text written or removed, an item's 全宗/年度/保管期限/open status changed) writes a journal
row in the *same store transaction* as the change. The indexer applies journal rows in order and
commits the highest sequence number it applied inside the same tantivy commit as the docs. So:

* a crash after the store committed and before the index did leaves journal rows above the index's
  number: they are applied again on the next write or open (applying is idempotent: each doc is
  re-read from the store);
* a search never trusts the index for a doc with a pending journal row: it leaves those docs out of
  the index's answer and evaluates them from the store (same snapshot), so a changed open status is
  in force from the moment the store commits it — results, counts and facets alike.

Applied rows are deleted afterwards; ``index_pruned`` records up to where, so a search holding an
older index snapshot than the pruning knows to take a newer one.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field

from pipeline.index.query import FACETS, Query
from pipeline.index.tantivy_index import IndexDoc, SearchIndex
from pipeline.index.text import compact_chars

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS index_journal (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused, even after pruning
    refcode TEXT NOT NULL,
    doc_id  INTEGER,   -- NULL: every doc of the item (its 全宗, 年度, 保管期限 or open status changed)
    chars   TEXT       -- the doc's compact text as written; NULL when removed or for an item
);
CREATE TABLE IF NOT EXISTS index_pruned (one INTEGER PRIMARY KEY CHECK (one = 1), upto INTEGER NOT NULL);
INSERT OR IGNORE INTO index_pruned VALUES (1, 0);
"""

_DOCS = """SELECT d.id, d.key, d.kind, d.refcode, i.fonds, i.year, i.retention, i.open_status, d.body
           FROM docs d JOIN items i ON i.refcode = d.refcode"""


def record_doc(db: sqlite3.Connection, refcode: str, doc_id: int, body: str | None) -> None:
    """A doc was written (``body``) or removed (None)."""
    db.execute("INSERT INTO index_journal(refcode, doc_id, chars) VALUES (?,?,?)",
               (refcode, doc_id, None if body is None else compact_chars(body)))


def record_item(db: sqlite3.Connection, refcode: str) -> bool:
    """An item's indexed fields changed: its docs (if any) are to be copied again."""
    cur = db.execute("INSERT INTO index_journal(refcode) SELECT ? WHERE EXISTS (SELECT 1 FROM docs WHERE refcode=?)",
                     (refcode, refcode))
    return cur.rowcount > 0


def last_seq(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name='index_journal'").fetchone()
    return row[0] if row else 0


@dataclass
class Pending:
    """Journal rows the index snapshot has not applied: docs (id → compact text, None when the doc
    is to be re-read) and whole items."""

    ids: dict[int, str | None] = field(default_factory=dict)
    refcodes: set[str] = field(default_factory=set)
    upto: int = 0


def pending(db: sqlite3.Connection, applied: int) -> Pending | None:
    """What the index (complete up to ``applied``) lacks, or None when pruning has gone past
    ``applied`` (the index snapshot is older than the journal: take a newer one)."""
    if db.execute("SELECT upto FROM index_pruned").fetchone()[0] > applied:
        return None
    out = Pending(upto=applied)
    for seq, refcode, doc_id, chars in db.execute(
            "SELECT seq, refcode, doc_id, chars FROM index_journal WHERE seq > ? ORDER BY seq", (applied,)):
        if doc_id is None:
            out.refcodes.add(refcode)
        else:
            out.ids[doc_id] = chars
        out.upto = seq
    return out


def docs(db: sqlite3.Connection, p: Pending, with_body: bool = True) -> list[IndexDoc]:
    """The store's current docs that ``p`` names; ``with_body=False``: bodies left empty where the
    journal has the compact text (for searching)."""
    # A doc's own journal row carries its compact text: its body is read only to fingerprint it.
    ids_sql = _DOCS if with_body else _DOCS.replace("d.body", "'' AS body")
    rows = db.execute(f"{ids_sql} WHERE d.id IN (SELECT value FROM json_each(?))",
                      [json.dumps(list(p.ids))]).fetchall()
    if p.refcodes:
        rows += db.execute(f"{_DOCS} WHERE d.refcode IN (SELECT value FROM json_each(?))",
                           [json.dumps(sorted(p.refcodes))]).fetchall()
    return index_docs(rows, p.ids)


def index_docs(rows, known: dict) -> list[IndexDoc]:
    """Store rows as index docs, once each (a doc may come by id and by item); ``known`` holds the
    compact text the journal already has, by id, so it is not folded again."""
    seen: set[int] = set()
    out = []
    for r in rows:
        if r[0] in seen:
            continue
        seen.add(r[0])
        chars = known.get(r[0])
        out.append(IndexDoc(*r, chars=compact_chars(r[8]) if chars is None else chars))
    return out


def catch_up(db: sqlite3.Connection, index: SearchIndex, wait_s: float) -> int:
    """Apply every pending journal row; the number of docs copied. Raises ``IndexBusy`` when another
    process holds the index's writer longer than ``wait_s`` (that process applies them instead).
    An index older than the journal's pruning (restored from a backup, say) is rebuilt."""
    _, applied = index.searcher()
    if last_seq(db) == applied:  # nothing pending: no need for the writer
        return 0
    with index.writer(wait_s) as w:
        _, applied = index.searcher()  # read under the writer lock: no one else commits meanwhile
        db.execute("BEGIN")  # one snapshot for the journal and the docs it names
        try:
            p = pending(db, applied)
            if p is None:
                log.warning("search index %s is older than the store's journal: rebuilding it", index.path)
                upto = last_seq(db)
                n = index.rebuild(w, _all_docs(db), upto)
            elif p.upto == applied:
                return 0
            else:
                todo = docs(db, p)
                upto, n = p.upto, len(todo)
        finally:
            db.execute("COMMIT")
        if p is not None:
            index.apply(w, todo, p.ids, p.refcodes, upto)
    prune(db, upto)
    return n


def rebuild(db: sqlite3.Connection, index: SearchIndex, wait_s: float) -> int:
    """Copy every doc anew (one tantivy commit); the number of docs."""
    with index.writer(wait_s) as w:
        db.execute("BEGIN")
        try:
            upto = last_seq(db)
            n = index.rebuild(w, _all_docs(db), upto)
        finally:
            db.execute("COMMIT")
    prune(db, upto)
    return n


def _all_docs(db: sqlite3.Connection) -> Iterator[IndexDoc]:
    for r in db.execute(_DOCS):
        yield IndexDoc(*r, chars=compact_chars(r[8]))


def prune(db: sqlite3.Connection, upto: int) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("DELETE FROM index_journal WHERE seq <= ?", (upto,))
        db.execute("UPDATE index_pruned SET upto = max(upto, ?)", (upto,))
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def check(db: sqlite3.Connection, index: SearchIndex) -> list[tuple[str, str]]:
    """(key, reason) for every doc whose copy in the index disagrees with the store: missing, extra,
    twice, or made from other text or item fields (fingerprints differ). Pending journal rows are
    applied first: they are the normal way the two come to agree."""
    catch_up(db, index, wait_s=30)
    want = {r[0]: (r[1], IndexDoc(*r, chars="").fingerprint()) for r in db.execute(_DOCS)}
    return disagreements(want, index.entries())


def disagreements(want: dict[int, tuple[str, int]], entries) -> list[tuple[str, str]]:
    """(key, reason) per doc whose index entries (``(id, fingerprint)`` pairs) differ from ``want``
    (id → (key, fingerprint) from the store): twice, extra, different or missing."""
    problems: list[tuple[str, str]] = []
    seen: set[int] = set()
    for doc_id, fp in entries:
        if doc_id in seen:
            problems.append((want.get(doc_id, (f"#{doc_id}",))[0], "in the search index twice"))
        elif doc_id not in want:
            problems.append((f"#{doc_id}", "in the search index but not in the store"))
        elif want[doc_id][1] != fp:
            problems.append((want[doc_id][0], "index entries differ from the text"))
        seen.add(doc_id)
    problems += [(key, "not in the search index") for doc_id, (key, _) in want.items() if doc_id not in seen]
    return sorted(problems)


def merge_fresh(found, fresh: list[IndexDoc], estimate, offset: int, limit: int):
    """The index's answer (``found``) and the pending docs that match (``fresh``) as one: total, facet
    counts and the ranked page of (negated score, doc id); pending docs get an estimated score."""
    facets = found.facets
    for d in fresh:
        for name in FACETS:
            value = getattr(d, name)
            if value is not None:
                facets[name][value] = facets[name].get(value, 0) + 1
    ranked = sorted([(-score, i) for i, score in found.top]
                    + [(-estimate(d.chars), d.id) for d in fresh])[offset : offset + limit]
    return found.total + len(fresh), facets, ranked


def hits(found: list[IndexDoc], query: Query) -> list[IndexDoc]:
    """The pending docs that match: brute force on their compact text, exactly the reference semantics."""
    return [d for d in found if query.matches(d.chars)]

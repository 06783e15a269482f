"""SQLite backend: WAL (readers never wait for the flow), a busy timeout, idempotent upserts.

Store and full-text index live in one database, so a page's text and its index terms change in
one transaction: a crash leaves both old or both new.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline.index.text import match_expression, snippet, terms

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    refcode         TEXT PRIMARY KEY,
    fonds           TEXT NOT NULL,
    year            INTEGER,
    retention       TEXT,
    org             TEXT,
    title           TEXT,
    open_status     TEXT NOT NULL DEFAULT '未审核',
    catalogue_pages INTEGER,
    batch           TEXT,
    catalogue_row   INTEGER,
    updated_at      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    path        TEXT PRIMARY KEY,
    refcode     TEXT NOT NULL,
    batch       TEXT NOT NULL,
    relpath     TEXT NOT NULL,
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    sm3         TEXT NOT NULL,
    format      TEXT NOT NULL,
    media       TEXT NOT NULL,
    pages       INTEGER NOT NULL,
    ingested_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS files_refcode ON files(refcode);
CREATE TABLE IF NOT EXISTS pages (
    refcode     TEXT NOT NULL,
    page_no     INTEGER NOT NULL,
    file_path   TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    file_index  INTEGER NOT NULL,
    dpi         REAL,
    width       INTEGER,
    height      INTEGER,
    image_path  TEXT,
    ocr_state   TEXT NOT NULL DEFAULT 'pending',   -- pending | done | failed
    engine      TEXT,
    text        TEXT,
    mean_conf   REAL,
    line_count  INTEGER,
    seconds     REAL,
    error       TEXT,
    ocr_at      TEXT,
    PRIMARY KEY (refcode, page_no)
);
CREATE TABLE IF NOT EXISTS lines (
    refcode TEXT NOT NULL,
    page_no INTEGER NOT NULL,
    idx     INTEGER NOT NULL,
    text    TEXT NOT NULL,
    conf    REAL NOT NULL,
    x0 INTEGER, y0 INTEGER, x1 INTEGER, y1 INTEGER,
    polygon TEXT NOT NULL,
    PRIMARY KEY (refcode, page_no, idx)
);
CREATE TABLE IF NOT EXISTS docs (
    id      INTEGER PRIMARY KEY,
    key     TEXT NOT NULL UNIQUE,          -- page:<档号>:<page> (speech segments later)
    kind    TEXT NOT NULL,
    refcode TEXT NOT NULL,
    page_no INTEGER,
    body    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_refcode ON docs(refcode);
CREATE VIRTUAL TABLE IF NOT EXISTS docs_fts USING fts5(terms, content='', tokenize='ascii');
CREATE TABLE IF NOT EXISTS runs (
    id          TEXT PRIMARY KEY,
    flow_run_id TEXT,
    batch       TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    state       TEXT NOT NULL,
    counts      TEXT,
    engine      TEXT
);
CREATE TABLE IF NOT EXISTS failures (
    batch   TEXT NOT NULL,
    path    TEXT NOT NULL,
    page_no INTEGER NOT NULL DEFAULT 0,
    stage   TEXT NOT NULL,
    kind    TEXT NOT NULL,
    reason  TEXT NOT NULL,
    refcode TEXT,
    run_id  TEXT,
    at      TEXT NOT NULL,
    PRIMARY KEY (batch, path, page_no, stage)
);
CREATE TABLE IF NOT EXISTS events (
    id      INTEGER PRIMARY KEY,
    at      TEXT NOT NULL,
    run_id  TEXT,
    type    TEXT NOT NULL,     -- ingestion | message digest calculation | derivative creation | ocr | error
    refcode TEXT,
    path    TEXT,
    outcome TEXT NOT NULL,
    detail  TEXT
);
CREATE TABLE IF NOT EXISTS reviews (           -- pages a person should check (QC), e.g. low OCR confidence
    refcode   TEXT NOT NULL,
    page_no   INTEGER NOT NULL,
    kind      TEXT NOT NULL,                  -- low-confidence
    reason    TEXT NOT NULL,
    mean_conf REAL,
    run_id    TEXT,
    at        TEXT NOT NULL,
    PRIMARY KEY (refcode, page_no, kind)
);
CREATE TABLE IF NOT EXISTS query_log (
    id    INTEGER PRIMARY KEY,
    at    TEXT NOT NULL,
    role  TEXT NOT NULL,
    query TEXT NOT NULL,
    hits  INTEGER NOT NULL
);
"""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Hit:
    refcode: str
    page_no: int
    title: str
    fonds: str
    year: int | None
    open_status: str
    snippet: str
    image_path: str | None
    score: float


class SQLiteStore:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA busy_timeout=30000")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(SCHEMA)  # idempotent; executescript manages its own transaction

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- runs ------------------------------------------------------------------------------
    def start_run(self, batch: str, flow_run_id: str | None = None) -> str:
        run_id = str(uuid.uuid4())
        with self.tx() as db:
            db.execute(
                "INSERT INTO runs(id, flow_run_id, batch, started_at, state) VALUES (?,?,?,?, 'running')",
                (run_id, flow_run_id, batch, now()),
            )
        return run_id

    def finish_run(self, run_id: str, state: str, counts: dict, engine: dict | None = None) -> None:
        with self.tx() as db:
            db.execute(
                "UPDATE runs SET finished_at=?, state=?, counts=?, engine=? WHERE id=?",
                (now(), state, json.dumps(counts, ensure_ascii=False), json.dumps(engine or {}, ensure_ascii=False), run_id),
            )

    # -- ingest ----------------------------------------------------------------------------
    def upsert_item(self, row, batch: str) -> None:
        with self.tx() as db:
            db.execute(
                """INSERT INTO items(refcode, fonds, year, retention, org, title, open_status, catalogue_pages,
                                     batch, catalogue_row, updated_at)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?)
                   ON CONFLICT(refcode) DO UPDATE SET fonds=excluded.fonds, year=excluded.year,
                     retention=excluded.retention, org=excluded.org, title=excluded.title,
                     open_status=excluded.open_status, catalogue_pages=excluded.catalogue_pages,
                     batch=excluded.batch, catalogue_row=excluded.catalogue_row, updated_at=excluded.updated_at
                   WHERE (items.fonds, items.year, items.retention, items.org, items.title, items.open_status,
                          items.catalogue_pages) IS NOT (excluded.fonds, excluded.year, excluded.retention,
                          excluded.org, excluded.title, excluded.open_status, excluded.catalogue_pages)""",
                (str(row.refcode), row.fonds, row.year, row.retention, row.org, row.title, row.open_status,
                 row.pages, batch, row.row, now()),
            )

    def ensure_item(self, refcode: str, fonds: str, year: int | None, batch: str) -> None:
        """An item known only from a file name: not public until someone reviews it."""
        with self.tx() as db:
            db.execute(
                "INSERT INTO items(refcode, fonds, year, batch, updated_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(refcode) DO NOTHING",
                (refcode, fonds, year, batch, now()),
            )

    def upsert_file(self, f, batch: str, run_id: str | None) -> bool:
        """Record a file; True when it is new or its content changed (an event is logged)."""
        with self.tx() as db:
            old = db.execute("SELECT sha256 FROM files WHERE path=?", (str(f.path),)).fetchone()
            if old and old["sha256"] == f.sha256:
                return False
            db.execute(
                """INSERT INTO files(path, refcode, batch, relpath, size, sha256, sm3, format, media, pages, ingested_at)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?)
                   ON CONFLICT(path) DO UPDATE SET refcode=excluded.refcode, size=excluded.size,
                     sha256=excluded.sha256, sm3=excluded.sm3, format=excluded.format, media=excluded.media,
                     pages=excluded.pages, ingested_at=excluded.ingested_at""",
                (str(f.path), f.refcode, batch, f.relpath, f.size, f.sha256, f.sm3, f.format.name,
                 f.format.media, len(f.pages), now()),
            )
            self._event(db, run_id, "ingestion", f.refcode, str(f.path), "success",
                        {"sha256": f.sha256, "sm3": f.sm3, "size": f.size, "format": f.format.name})
            db.execute("DELETE FROM failures WHERE batch=? AND path=? AND stage='ingest'", (batch, f.relpath))
        return True

    def upsert_page_source(self, p, batch: str) -> None:
        with self.tx() as db:
            db.execute(
                """INSERT INTO pages(refcode, page_no, file_path, file_sha256, file_index, dpi)
                   VALUES (?,?,?,?,?,?)
                   ON CONFLICT(refcode, page_no) DO UPDATE SET file_path=excluded.file_path,
                     file_sha256=excluded.file_sha256, file_index=excluded.file_index, dpi=excluded.dpi,
                     ocr_state=CASE WHEN pages.file_sha256 = excluded.file_sha256 AND pages.file_index = excluded.file_index
                                    THEN pages.ocr_state ELSE 'pending' END
                   WHERE (pages.file_path, pages.file_sha256, pages.file_index, pages.dpi)
                         IS NOT (excluded.file_path, excluded.file_sha256, excluded.file_index, excluded.dpi)""",
                (p.refcode, p.page_no, str(p.path), p.file_sha256, p.index, p.dpi),
            )

    def record_failure(self, batch: str, failure, run_id: str | None) -> None:
        with self.tx() as db:
            db.execute(
                """INSERT INTO failures(batch, path, page_no, stage, kind, reason, refcode, run_id, at)
                   VALUES (?,?,?,?,?,?,?,?,?)
                   ON CONFLICT(batch, path, page_no, stage) DO UPDATE SET kind=excluded.kind,
                     reason=excluded.reason, refcode=excluded.refcode, run_id=excluded.run_id, at=excluded.at""",
                (batch, failure.path, failure.page_no or 0, failure.stage, failure.kind, failure.reason,
                 failure.refcode, run_id, now()),
            )
            self._event(db, run_id, "error", failure.refcode, failure.path, "failure",
                        {"stage": failure.stage, "kind": failure.kind, "reason": failure.reason})

    # -- OCR -------------------------------------------------------------------------------
    def page_done(self, refcode: str, page_no: int, file_sha256: str, engine: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM pages WHERE refcode=? AND page_no=? AND file_sha256=? AND engine=? AND ocr_state='done'",
            (refcode, page_no, file_sha256, engine),
        ).fetchone()
        return row is not None

    def save_page_text(self, ref, page, image_path: str, batch: str, run_id: str | None,
                       review: str | None = None) -> None:
        """Store a page's text and lines and (re)index it, all in one transaction.

        ``review``: why a person should check this page (low confidence), or None."""
        key = f"page:{ref.refcode}:{ref.page_no}"
        with self.tx() as db:
            db.execute(
                """UPDATE pages SET width=?, height=?, image_path=?, ocr_state='done', engine=?, text=?,
                     mean_conf=?, line_count=?, seconds=?, error=NULL, ocr_at=? WHERE refcode=? AND page_no=?""",
                (page.width, page.height, image_path, page.engine, page.text, page.mean_confidence,
                 len(page.lines), page.seconds, now(), ref.refcode, ref.page_no),
            )
            db.execute("DELETE FROM lines WHERE refcode=? AND page_no=?", (ref.refcode, ref.page_no))
            db.executemany(
                "INSERT INTO lines(refcode, page_no, idx, text, conf, x0, y0, x1, y1, polygon) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(ref.refcode, ref.page_no, i, ln.text, ln.confidence, *ln.bbox, json.dumps(ln.box))
                 for i, ln in enumerate(page.lines)],
            )
            self._index(db, key, "page", ref.refcode, ref.page_no, page.text)
            db.execute(
                "DELETE FROM failures WHERE batch=? AND path=? AND page_no=? AND stage='ocr'",
                (batch, ref.relpath, ref.page_no),
            )
            db.execute("DELETE FROM reviews WHERE refcode=? AND page_no=? AND kind='low-confidence'",
                       (ref.refcode, ref.page_no))
            if review:
                db.execute("INSERT INTO reviews(refcode, page_no, kind, reason, mean_conf, run_id, at) "
                           "VALUES (?,?,?,?,?,?,?)",
                           (ref.refcode, ref.page_no, "low-confidence", review, page.mean_confidence, run_id, now()))
            self._event(db, run_id, "ocr", ref.refcode, ref.relpath, "success",
                        {"page": ref.page_no, "engine": page.engine, "lines": len(page.lines)})

    def mark_page_failed(self, ref, reason: str) -> None:
        with self.tx() as db:
            db.execute(
                "UPDATE pages SET ocr_state='failed', error=? WHERE refcode=? AND page_no=?",
                (reason, ref.refcode, ref.page_no),
            )

    # -- index -----------------------------------------------------------------------------
    def _index(self, db: sqlite3.Connection, key: str, kind: str, refcode: str, page_no: int | None, body: str) -> None:
        old = db.execute("SELECT id, body FROM docs WHERE key=?", (key,)).fetchone()
        if old:
            if old["body"] == body:
                return
            # Contentless FTS5 deletes by replaying the old terms.
            db.execute("INSERT INTO docs_fts(docs_fts, rowid, terms) VALUES ('delete', ?, ?)", (old["id"], terms(old["body"])))
            db.execute("UPDATE docs SET body=? WHERE id=?", (body, old["id"]))
            doc_id = old["id"]
        else:
            doc_id = db.execute(
                "INSERT INTO docs(key, kind, refcode, page_no, body) VALUES (?,?,?,?,?)",
                (key, kind, refcode, page_no, body),
            ).lastrowid
        db.execute("INSERT INTO docs_fts(rowid, terms) VALUES (?, ?)", (doc_id, terms(body)))

    def search(self, query: str, statuses: list[str], role: str, limit: int = 20, offset: int = 0,
               snippet_chars: int = 24) -> tuple[int, list[Hit]]:
        """Pages whose text contains every word of ``query``, among items with an allowed open status."""
        expr = match_expression(query)
        hits: list[Hit] = []
        total = 0
        if expr and statuses:
            marks = ",".join("?" * len(statuses))
            base = f"""FROM docs_fts JOIN docs d ON d.id = docs_fts.rowid
                       JOIN items i ON i.refcode = d.refcode
                       WHERE docs_fts MATCH ? AND i.open_status IN ({marks})"""
            total = self.db.execute(f"SELECT count(*) {base}", (expr, *statuses)).fetchone()[0]
            rows = self.db.execute(
                f"""SELECT d.refcode, d.page_no, d.body, i.title, i.fonds, i.year, i.open_status, p.image_path,
                           bm25(docs_fts) AS score {base.replace('WHERE', 'LEFT JOIN pages p ON p.refcode = d.refcode AND p.page_no = d.page_no WHERE')}
                    ORDER BY score, d.refcode, d.page_no LIMIT ? OFFSET ?""",
                (expr, *statuses, limit, offset),
            ).fetchall()
            hits = [
                Hit(r["refcode"], r["page_no"], r["title"] or "", r["fonds"], r["year"], r["open_status"],
                    snippet(r["body"], query, snippet_chars), r["image_path"], -r["score"])
                for r in rows
            ]
        with self.tx() as db:
            db.execute("INSERT INTO query_log(at, role, query, hits) VALUES (?,?,?,?)", (now(), role, query, total))
        return total, hits

    # -- reporting -------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        tables = ("items", "files", "pages", "lines", "docs", "failures", "runs", "events", "reviews")
        out = {t: self.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
        out["docs_fts"] = self.db.execute("SELECT count(*) FROM docs_fts").fetchone()[0]
        return out

    def reviews(self, refcodes: list[str] | None = None) -> list[sqlite3.Row]:
        """Pages flagged for a person to check, by 档号 and page."""
        rows = self.db.execute("SELECT * FROM reviews ORDER BY refcode, page_no").fetchall()
        return [r for r in rows if refcodes is None or r["refcode"] in refcodes]

    def item_pages(self, refcode: str) -> list[sqlite3.Row]:
        """An item's recognised pages in order, with their lines as JSON (for item-level outputs)."""
        return self.db.execute(
            "SELECT * FROM pages WHERE refcode=? AND ocr_state='done' ORDER BY page_no", (refcode,)
        ).fetchall()

    def failures(self, batch: str | None = None) -> list[sqlite3.Row]:
        if batch is None:
            return self.db.execute("SELECT * FROM failures ORDER BY batch, path, page_no").fetchall()
        return self.db.execute("SELECT * FROM failures WHERE batch=? ORDER BY path, page_no", (batch,)).fetchall()

    def fonds_progress(self) -> list[sqlite3.Row]:
        """Per 全宗: catalogued items, items with pages, pages, pages whose text is indexed."""
        return self.db.execute(
            """SELECT i.fonds,
                      count(*) AS items,
                      sum(EXISTS (SELECT 1 FROM pages p WHERE p.refcode = i.refcode)) AS items_digitised,
                      coalesce(sum((SELECT count(*) FROM pages p WHERE p.refcode = i.refcode)), 0) AS pages,
                      coalesce(sum((SELECT count(*) FROM pages p JOIN docs d ON d.key = 'page:' || p.refcode || ':' || p.page_no
                                    WHERE p.refcode = i.refcode AND p.ocr_state = 'done')), 0) AS pages_recognised
               FROM items i GROUP BY i.fonds ORDER BY i.fonds"""
        ).fetchall()

    def _event(self, db: sqlite3.Connection, run_id: str | None, type_: str, refcode: str | None, path: str | None,
               outcome: str, detail: dict) -> None:
        db.execute(
            "INSERT INTO events(at, run_id, type, refcode, path, outcome, detail) VALUES (?,?,?,?,?,?,?)",
            (now(), run_id, type_, refcode, path, outcome, json.dumps(detail, ensure_ascii=False)),
        )

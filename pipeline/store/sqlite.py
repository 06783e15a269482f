"""SQLite backend: WAL (readers never wait for the flow), a busy timeout, idempotent upserts.

Full-text search goes to a tantivy index beside the database file (``<store>.index/``), kept in
agreement with it through a journal written in the store's own transactions (``journal``): a crash
between the two is repaired on the next write or open, and a search never trusts the index for a
doc whose change it has not applied yet.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pipeline.errors import DanganError
from pipeline.index.background import at_low_priority
from pipeline.index.query import FACETS
from pipeline.index.tantivy_index import IndexBusy, SearchIndex
from pipeline.store import journal

log = logging.getLogger(__name__)

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
    created_at      TEXT,
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
    facts       TEXT,            -- JSON: format, compression, mode, dpi, QC metrics at ingest
    qc_state    TEXT,            -- pass | warning | error
    text_source TEXT,            -- ocr | pdf-text (a born-digital page's own text layer)
    PRIMARY KEY (refcode, page_no)
);
CREATE TABLE IF NOT EXISTS qc_findings (
    batch    TEXT NOT NULL,
    refcode  TEXT NOT NULL DEFAULT '',
    page_no  INTEGER NOT NULL DEFAULT 0,
    rule     TEXT NOT NULL,
    severity TEXT NOT NULL,
    clause   TEXT NOT NULL,
    message  TEXT NOT NULL,
    path     TEXT NOT NULL DEFAULT '',
    value    REAL,
    lim      REAL
);
CREATE INDEX IF NOT EXISTS qc_findings_batch ON qc_findings(batch);
CREATE TABLE IF NOT EXISTS derivatives (
    path          TEXT PRIMARY KEY,
    refcode       TEXT NOT NULL,
    page_no       INTEGER,
    kind          TEXT NOT NULL,       -- access-image | json | txt | ...
    size          INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    sm3           TEXT NOT NULL,
    source_sha256 TEXT,
    tool          TEXT NOT NULL,
    parameters    TEXT,
    created_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS derivatives_refcode ON derivatives(refcode);
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
    key     TEXT NOT NULL UNIQUE,          -- page:<档号>:<page> or segment:<档号>:<start_ms>
    kind    TEXT NOT NULL,
    refcode TEXT NOT NULL,
    page_no INTEGER,
    body    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_refcode ON docs(refcode);
CREATE TABLE IF NOT EXISTS av (
    file_path         TEXT PRIMARY KEY,
    refcode           TEXT NOT NULL,
    part              INTEGER NOT NULL,               -- 1-based recording of the item
    offset_ms         INTEGER NOT NULL DEFAULT 0,     -- where this recording starts on the item's timeline
    file_sha256       TEXT NOT NULL,
    media             TEXT,                           -- container facts (JSON)
    duration          REAL,                           -- seconds decoded
    speech_seconds    REAL,                           -- seconds of detected speech
    spans             TEXT,                           -- detected speech spans (JSON)
    audio_copy        TEXT,                           -- the 16 kHz mono WAV derivative
    audio_copy_sha256 TEXT,
    audio_copy_sm3    TEXT,
    state             TEXT NOT NULL DEFAULT 'pending', -- pending | awaiting-transcription | transcribed | failed
    engine            TEXT,
    segments          INTEGER,
    error             TEXT,
    updated_at        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS av_refcode ON av(refcode);
CREATE TABLE IF NOT EXISTS segments (
    refcode       TEXT NOT NULL,
    start_ms      INTEGER NOT NULL,                  -- on the item's timeline
    end_ms        INTEGER NOT NULL,
    file_path     TEXT NOT NULL,
    file_start_ms INTEGER NOT NULL,                  -- the same instant inside file_path
    text          TEXT NOT NULL,                     -- simplified
    text_original TEXT NOT NULL,
    confidence    REAL NOT NULL,
    key           TEXT NOT NULL UNIQUE,              -- its docs key: segment:<档号>:<start_ms>
    PRIMARY KEY (refcode, start_ms)
);
CREATE INDEX IF NOT EXISTS segments_file ON segments(file_path);
CREATE TABLE IF NOT EXISTS runs (
    id          TEXT PRIMARY KEY,
    flow_run_id TEXT,
    batch       TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    state       TEXT NOT NULL,
    kind        TEXT NOT NULL DEFAULT 'digitize',   -- digitize | fixity
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
    -- PREMIS event types: ingestion | message digest calculation | fixity check |
    -- quality review | derivative creation | ocr | error
    type    TEXT NOT NULL,
    refcode TEXT,
    path    TEXT,
    outcome TEXT NOT NULL,
    detail  TEXT
);
CREATE INDEX IF NOT EXISTS events_refcode ON events(refcode);
CREATE TABLE IF NOT EXISTS holdings (
    institution       TEXT NOT NULL,
    institution_class TEXT NOT NULL,
    fonds             TEXT NOT NULL,
    items             INTEGER NOT NULL,
    pages             INTEGER,
    av_minutes        REAL,
    items_done        INTEGER NOT NULL DEFAULT 0,
    pages_done        INTEGER NOT NULL DEFAULT 0,
    as_of             TEXT NOT NULL,
    imported_at       TEXT NOT NULL,
    source            TEXT,
    PRIMARY KEY (institution, fonds, as_of)   -- history: one row per count date
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
"""

# Every search writes a row here. On SQLite the table lives in a database file of its own with its
# own connection (not attached: BEGIN IMMEDIATE locks every attached file), so a search never waits
# for the flow's write transaction on the store.
QUERY_LOG = """
CREATE TABLE IF NOT EXISTS {schema}query_log (
    id    INTEGER PRIMARY KEY,
    at    TEXT NOT NULL,
    role  TEXT NOT NULL,
    query TEXT NOT NULL,
    hits  INTEGER NOT NULL
);
"""


# Columns added after a table was first released: added to existing stores on open.
MIGRATIONS = {
    "pages": {"facts": "TEXT", "qc_state": "TEXT", "text_source": "TEXT"},
    "items": {"created_at": "TEXT"},
    "runs": {"kind": "TEXT NOT NULL DEFAULT 'digitize'"},
}


class IndexInconsistent(DanganError):
    """The search index answered with a doc the store says the user may not see: changed behind the
    journal's back (e.g. by hand in SQL). Refused rather than shown; ``dangan reindex`` repairs it."""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


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
        self.db.executescript(SCHEMA + journal.SCHEMA)  # idempotent; executescript manages its own transaction
        self._log_db: sqlite3.Connection | None = None  # opened by the first search
        self._migrate()
        self._journaled = False  # the open transaction wrote journal rows: apply them after it commits
        self._fresh: tuple | None = None  # the last search's pending docs, by (applied, last journal row)
        self.index = SearchIndex(Path(f"{path}.index"))
        try:
            if self.index.created and self.db.execute("SELECT 1 FROM docs LIMIT 1").fetchone():
                log.info("building the search index %s from the store", self.index.path)
                journal.rebuild(self.db, self.index, wait_s=60)
            else:
                self._catch_up(wait_s=0)  # what a crashed writer left pending
        except IndexBusy:
            pass  # another process holds the writer: it applies everything pending

    def _migrate(self) -> None:
        for table, columns in MIGRATIONS.items():
            have = {r["name"] for r in self.db.execute(f"PRAGMA table_info({table})")}
            for name, decl in columns.items():
                if name not in have:
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
        self.db.execute("DROP TABLE IF EXISTS docs_fts")  # the FTS5 index of earlier versions: now tantivy
        if self.db.execute("SELECT 1 FROM sqlite_master WHERE name='query_log'").fetchone():
            old = self.db.execute("SELECT at, role, query, hits FROM query_log ORDER BY id").fetchall()
            with self.log_db:  # earlier versions logged into the store itself
                self.log_db.executemany("INSERT INTO query_log(at, role, query, hits) VALUES (?,?,?,?)", old)
            self.db.execute("DROP TABLE query_log")

    @property
    def log_db(self) -> sqlite3.Connection:
        if self._log_db is None:
            self._log_db = sqlite3.connect(f"{self.path}.querylog", timeout=30, check_same_thread=False)
            self._log_db.row_factory = sqlite3.Row
            self._log_db.execute("PRAGMA journal_mode=WAL")
            self._log_db.execute("PRAGMA synchronous=NORMAL")
            self._log_db.executescript(QUERY_LOG.format(schema=""))
        return self._log_db

    def close(self) -> None:
        self.db.close()
        if self._log_db is not None:
            self._log_db.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        self._journaled = False
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        if self._journaled:
            self._catch_up(wait_s=5)

    def _catch_up(self, wait_s: float) -> None:
        """Apply pending journal rows to the search index, at a lower CPU priority than searches; left
        pending (and searched correctly from the store) when another process holds the index's writer
        longer than ``wait_s``."""
        try:
            at_low_priority(journal.catch_up, self.db, self.index, wait_s)
        except IndexBusy:
            log.info("search index busy: journal rows left for its writer to apply")
        except (OSError, ValueError) as e:  # tantivy's errors are ValueErrors; the store has committed
            log.warning("search index not updated (%s): journal rows left pending, applied on the next write or open", e)

    # -- runs ------------------------------------------------------------------------------
    def start_run(self, batch: str, flow_run_id: str | None = None, kind: str = "digitize") -> str:
        run_id = str(uuid.uuid4())
        with self.tx() as db:
            db.execute(
                "INSERT INTO runs(id, flow_run_id, batch, started_at, state, kind) VALUES (?,?,?,?, 'running', ?)",
                (run_id, flow_run_id, batch, now(), kind),
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
            cur = db.execute(
                """INSERT INTO items(refcode, fonds, year, retention, org, title, open_status, catalogue_pages,
                                     batch, catalogue_row, updated_at, created_at)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
                   ON CONFLICT(refcode) DO UPDATE SET fonds=excluded.fonds, year=excluded.year,
                     retention=excluded.retention, org=excluded.org, title=excluded.title,
                     open_status=excluded.open_status, catalogue_pages=excluded.catalogue_pages,
                     batch=excluded.batch, catalogue_row=excluded.catalogue_row, updated_at=excluded.updated_at
                   WHERE (items.fonds, items.year, items.retention, items.org, items.title, items.open_status,
                          items.catalogue_pages) IS DISTINCT FROM (excluded.fonds, excluded.year, excluded.retention,
                          excluded.org, excluded.title, excluded.open_status, excluded.catalogue_pages)""",
                (str(row.refcode), row.fonds, row.year, row.retention, row.org, row.title, row.open_status,
                 row.pages, batch, row.row, now(), now()),
            )
            if cur.rowcount:
                self._item_changed(db, str(row.refcode))

    def ensure_item(self, refcode: str, fonds: str, year: int | None, batch: str) -> None:
        """An item known only from a file name: not public until someone reviews it."""
        with self.tx() as db:
            db.execute(
                "INSERT INTO items(refcode, fonds, year, batch, updated_at, created_at) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT(refcode) DO NOTHING",
                (refcode, fonds, year, batch, now(), now()),
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
            self._event(db, run_id, "ingestion", f.refcode, f.relpath, "success",
                        {"size": f.size, "format": f.format.name, "pages": len(f.pages), "batch": batch})
            self._event(db, run_id, "message digest calculation", f.refcode, f.relpath, "success",
                        {"sha256": f.sha256, "sm3": f.sm3, "tool": "OpenSSL via Python hashlib"})
            db.execute("DELETE FROM failures WHERE batch=? AND path=? AND stage='ingest'", (batch, f.relpath))
        return True

    def upsert_page_source(self, p, batch: str, facts: dict | None = None, qc_state: str | None = None) -> None:
        facts_json = json.dumps(facts, ensure_ascii=False, sort_keys=True) if facts is not None else None
        text_source = "pdf-text" if getattr(p, "text", None) is not None else "ocr"
        with self.tx() as db:
            db.execute(
                """INSERT INTO pages(refcode, page_no, file_path, file_sha256, file_index, dpi, facts, qc_state, text_source)
                   VALUES (?,?,?,?,?,?,?,?,?)
                   ON CONFLICT(refcode, page_no) DO UPDATE SET file_path=excluded.file_path,
                     file_sha256=excluded.file_sha256, file_index=excluded.file_index, dpi=excluded.dpi,
                     facts=excluded.facts, qc_state=excluded.qc_state, text_source=excluded.text_source,
                     ocr_state=CASE WHEN pages.file_sha256 = excluded.file_sha256 AND pages.file_index = excluded.file_index
                                    THEN pages.ocr_state ELSE 'pending' END
                   WHERE (pages.file_path, pages.file_sha256, pages.file_index, pages.dpi, pages.facts, pages.qc_state,
                          pages.text_source)
                         IS DISTINCT FROM (excluded.file_path, excluded.file_sha256, excluded.file_index, excluded.dpi,
                                 excluded.facts, excluded.qc_state, excluded.text_source)""",
                (p.refcode, p.page_no, str(p.path), p.file_sha256, p.index, p.dpi, facts_json, qc_state, text_source),
            )

    def replace_findings(self, batch: str, findings: list, run_id: str | None) -> None:
        """The batch's QC findings as of this ingest; a quality-review event per item whose findings changed."""
        def key(f) -> tuple:
            return (f["refcode"], f["page_no"], f["rule"], f["severity"], f["message"])

        with self.tx() as db:
            old = {key(r) for r in db.execute("SELECT * FROM qc_findings WHERE batch=?", (batch,))}
            new = [f.as_dict() for f in findings]
            db.execute("DELETE FROM qc_findings WHERE batch=?", (batch,))
            db.executemany(
                """INSERT INTO qc_findings(batch, refcode, page_no, rule, severity, clause, message, path, value, lim)
                   VALUES (?,?,?,?,?,?,?,?,?,?)""",
                [(batch, f["refcode"], f["page_no"], f["rule"], f["severity"], f["clause"], f["message"], f["path"],
                  f["value"], f["limit"]) for f in new],
            )
            changed = {k[0] for k in old ^ {key(f) for f in new}}
            for refcode in sorted(changed):
                mine = [f for f in new if f["refcode"] == refcode]
                outcome = "fail" if any(f["severity"] == "error" for f in mine) else "pass"
                self._event(db, run_id, "quality review", refcode or None, None, outcome,
                            {"findings": [{k: f[k] for k in ("page_no", "rule", "severity", "message")} for f in mine],
                             "standard": "DA/T 31-2017"})

    def findings(self, batch: str | None = None) -> list[sqlite3.Row]:
        q = "SELECT * FROM qc_findings" + (" WHERE batch=?" if batch else "") + " ORDER BY refcode, page_no, rule"
        return self.db.execute(q, (batch,) if batch else ()).fetchall()

    def record_derivative(self, path: str, refcode: str, page_no: int | None, kind: str, digests, source_sha256: str,
                          tool: str, parameters: dict, run_id: str | None) -> None:
        with self.tx() as db:
            db.execute(
                """INSERT INTO derivatives(path, refcode, page_no, kind, size, sha256, sm3, source_sha256, tool, parameters, created_at)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?)
                   ON CONFLICT(path) DO UPDATE SET size=excluded.size, sha256=excluded.sha256, sm3=excluded.sm3,
                     source_sha256=excluded.source_sha256, tool=excluded.tool, parameters=excluded.parameters,
                     created_at=excluded.created_at""",
                (path, refcode, page_no, kind, digests.size, digests.sha256, digests.sm3, source_sha256, tool,
                 json.dumps(parameters, ensure_ascii=False, sort_keys=True), now()),
            )
            self._event(db, run_id, "derivative creation", refcode, path, "success",
                        {"kind": kind, "page": page_no, "sha256": digests.sha256, "sm3": digests.sm3, "tool": tool})

    def events(self, refcode: str | None = None, type_: str | None = None) -> list[dict]:
        where, args = [], []
        if refcode:
            where.append("refcode=?")
            args.append(refcode)
        if type_:
            where.append("type=?")
            args.append(type_)
        q = "SELECT * FROM events" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        return [{**dict(r), "detail": json.loads(r["detail"] or "{}")} for r in self.db.execute(q, args)]

    def log_event(self, run_id: str | None, type_: str, refcode: str | None, path: str | None, outcome: str,
                  detail: dict) -> None:
        with self.tx() as db:
            self._event(db, run_id, type_, refcode, path, outcome, detail)

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

    # -- speech ----------------------------------------------------------------------------
    def av_row(self, file_path: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM av WHERE file_path=?", (file_path,)).fetchone()

    def av_done(self, file_path: str, file_sha256: str, engine: str) -> bool:
        """Transcribed from these exact bytes by this exact engine configuration."""
        row = self.db.execute(
            "SELECT 1 FROM av WHERE file_path=? AND file_sha256=? AND engine=? AND state='transcribed'",
            (file_path, file_sha256, engine),
        ).fetchone()
        return row is not None

    def save_av_detection(self, ref, facts: dict, state: str, run_id: str | None) -> None:
        """Record a recording's probe, its 16 kHz copy and its speech spans (no transcript yet)."""
        with self.tx() as db:
            db.execute(
                """INSERT INTO av(file_path, refcode, part, offset_ms, file_sha256, media, duration, speech_seconds,
                                  spans, audio_copy, audio_copy_sha256, audio_copy_sm3, state, engine, segments,
                                  error, updated_at)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,NULL,NULL,NULL,?)
                   ON CONFLICT(file_path) DO UPDATE SET refcode=excluded.refcode, part=excluded.part,
                     offset_ms=excluded.offset_ms, file_sha256=excluded.file_sha256, media=excluded.media,
                     duration=excluded.duration, speech_seconds=excluded.speech_seconds, spans=excluded.spans,
                     audio_copy=excluded.audio_copy, audio_copy_sha256=excluded.audio_copy_sha256,
                     audio_copy_sm3=excluded.audio_copy_sm3,
                     state=CASE WHEN av.state='transcribed' AND av.file_sha256=excluded.file_sha256
                                THEN av.state ELSE excluded.state END,
                     error=NULL, updated_at=excluded.updated_at""",
                (str(ref.path), ref.refcode, ref.part, ref.offset_ms, ref.file_sha256,
                 json.dumps(facts["media"], ensure_ascii=False), facts["duration"], facts["speech_seconds"],
                 json.dumps(facts["spans"]), facts.get("audio_copy"), facts.get("audio_copy_sha256"),
                 facts.get("audio_copy_sm3"), state, now()),
            )
            if facts.get("audio_copy"):
                self._event(db, run_id, "derivative creation", ref.refcode, ref.relpath, "success",
                            {"derivative": facts["audio_copy"], "sha256": facts["audio_copy_sha256"],
                             "sm3": facts["audio_copy_sm3"], "tool": facts.get("tool"),
                             "parameters": {"sample_rate": 16000, "channels": 1, "format": "pcm_s16le"}})
            self._event(db, run_id, "speech detection", ref.refcode, ref.relpath, "success",
                        {"duration": facts["duration"], "speech_seconds": facts["speech_seconds"], "state": state})
            db.execute("DELETE FROM failures WHERE batch=? AND path=? AND stage='speech'", (ref.batch, ref.relpath))

    def save_transcript(self, ref, transcript, run_id: str | None) -> None:
        """Replace a recording's segments and their index entries, all in one transaction."""
        with self.tx() as db:
            for row in db.execute("SELECT key FROM segments WHERE file_path=?", (str(ref.path),)).fetchall():
                self._unindex(db, row["key"])
            db.execute("DELETE FROM segments WHERE file_path=?", (str(ref.path),))
            for seg in transcript.segments:
                start_ms = ref.offset_ms + seg.start_ms
                key = f"segment:{ref.refcode}:{start_ms}"
                db.execute(
                    """INSERT INTO segments(refcode, start_ms, end_ms, file_path, file_start_ms, text, text_original,
                                            confidence, key) VALUES (?,?,?,?,?,?,?,?,?)""",
                    (ref.refcode, start_ms, ref.offset_ms + seg.end_ms, str(ref.path), seg.start_ms, seg.text,
                     seg.text_original, seg.confidence, key),
                )
                self._index(db, key, "segment", ref.refcode, None, seg.text)
            db.execute("UPDATE av SET state='transcribed', engine=?, segments=?, error=NULL, updated_at=? WHERE file_path=?",
                       (transcript.engine, len(transcript.segments), now(), str(ref.path)))
            db.execute("DELETE FROM failures WHERE batch=? AND path=? AND stage='speech'", (ref.batch, ref.relpath))
            self._event(db, run_id, "transcription", ref.refcode, ref.relpath, "success",
                        {"engine": transcript.engine, "segments": len(transcript.segments), "dropped": transcript.dropped})

    def mark_av_failed(self, ref, reason: str) -> None:
        with self.tx() as db:
            db.execute(
                """INSERT INTO av(file_path, refcode, part, offset_ms, file_sha256, state, error, updated_at)
                   VALUES (?,?,?,?,?,'failed',?,?)
                   ON CONFLICT(file_path) DO UPDATE SET state='failed', error=excluded.error,
                     file_sha256=excluded.file_sha256, updated_at=excluded.updated_at""",
                (str(ref.path), ref.refcode, ref.part, ref.offset_ms, ref.file_sha256, reason, now()),
            )

    def av_progress(self, until: str = "9999") -> list[sqlite3.Row]:
        """Per 全宗, as recorded by ``until``: seconds of audio/video digitised, of detected speech, of
        recordings transcribed, and of speech awaiting a speech model."""
        return self.db.execute(
            """SELECT i.fonds,
                      count(DISTINCT a.refcode) AS av_items,
                      coalesce(sum(a.duration), 0) AS av_seconds,
                      coalesce(sum(a.speech_seconds), 0) AS speech_seconds,
                      coalesce(sum(CASE WHEN a.state = 'transcribed' THEN a.duration END), 0) AS transcribed_seconds,
                      coalesce(sum(CASE WHEN a.state = 'awaiting-transcription' THEN a.speech_seconds END), 0) AS waiting_seconds,
                      sum(CASE WHEN a.state = 'failed' THEN 1 ELSE 0 END) AS av_failed
               FROM av a JOIN items i ON i.refcode = a.refcode WHERE a.updated_at <= ?
               GROUP BY i.fonds ORDER BY i.fonds""",
            (until,),
        ).fetchall()

    # -- index -----------------------------------------------------------------------------
    # The docs table (one row per page or recording segment) is shared by the backends; how it is
    # indexed is not: the ``_doc_extra``/``_doc_changed``/``_item_changed`` hooks. Here each change
    # is a journal row the search index applies after the transaction commits.
    def _doc_extra(self, body: str) -> dict:
        """Backend-specific docs columns derived from the body (none here: the index is beside the store)."""
        return {}

    def _doc_changed(self, db, doc_id: int, refcode: str, body: str | None) -> None:
        journal.record_doc(db, refcode, doc_id, body)
        self._journaled = True

    def _item_changed(self, db, refcode: str) -> None:
        self._journaled |= journal.record_item(db, refcode)

    def _index(self, db, key: str, kind: str, refcode: str, page_no: int | None, body: str) -> None:
        old = db.execute("SELECT id, body FROM docs WHERE key=?", (key,)).fetchone()
        extra = self._doc_extra(body)
        if old:
            if old["body"] == body:
                return
            db.execute(f"UPDATE docs SET body=?{''.join(f', {c}=?' for c in extra)} WHERE id=?",
                       (body, *extra.values(), old["id"]))
            doc_id = old["id"]
        else:
            doc_id = db.execute(
                f"INSERT INTO docs(key, kind, refcode, page_no, body{''.join(', ' + c for c in extra)}) "
                f"VALUES (?,?,?,?,?{',?' * len(extra)}) RETURNING id",
                (key, kind, refcode, page_no, body, *extra.values()),
            ).fetchone()[0]
        self._doc_changed(db, doc_id, refcode, body)

    def _index_many(self, db, rows) -> None:
        """``_index`` for many (key, kind, refcode, page_no, body) rows; a backend may batch them."""
        for row in rows:
            self._index(db, *row)

    def _unindex(self, db, key: str) -> None:
        old = db.execute("SELECT id, refcode FROM docs WHERE key=?", (key,)).fetchone()
        if old:
            db.execute("DELETE FROM docs WHERE id=?", (old["id"],))
            self._doc_changed(db, old["id"], old["refcode"], None)

    def search(self, query, statuses: list[str], filters, limit: int = 20, offset: int = 0) -> dict:
        """Docs (pages, recording segments) matching a parsed query among items whose open status is in
        ``statuses``: the total, one page of rows (best first) and facet counts over all matches."""
        if not statuses:  # default deny: a role that may see nothing sees nothing, not everything
            return {"total": 0, "rows": [], "facets": {f: {} for f in FACETS}}
        for _ in range(3):
            s, applied = self.index.searcher()  # before the store's snapshot: never newer than it
            self.db.execute("BEGIN")
            try:
                pending = self._pending(applied)
                if pending is not None:
                    return self._search_in(s, *pending, query, statuses, filters, limit, offset)
            finally:
                self.db.execute("COMMIT")
        raise IndexBusy("the search index keeps falling behind the store's journal; try again")

    def _pending(self, applied: int) -> tuple[journal.Pending, list] | None:
        """Journal rows the index (complete up to ``applied``) lacks and the store's docs they name, every
        status and no filter; None when the index snapshot is older than the journal's pruning.

        Kept while neither the index nor the journal moves on: every change to a doc or its item writes
        a journal row, so the same (applied, last journal row) pair means the same docs. While a flow's
        batch waits to be indexed, every search would otherwise read its docs again (~8 ms a search
        for 1,000 docs)."""
        key = (applied, self._journal_state())
        if self._fresh is None or self._fresh[0] != key:
            p = self._journal_pending(applied)
            if p is None:
                return None
            self._fresh = (key, (p, self._journal_docs(p) if p.ids or p.refcodes else []))
        return self._fresh[1]

    # The journal as this backend keeps it (PostgreSQL overrides these three).
    def _journal_state(self):
        """What changes whenever a journal row is written or pruned: here the last row's seq."""
        return journal.last_seq(self.db)

    def _journal_pending(self, applied: int) -> journal.Pending | None:
        return journal.pending(self.db, applied)

    def _journal_docs(self, p: journal.Pending) -> list:
        return journal.docs(self.db, p, with_body=False)

    def _search_in(self, s, p, pending, query, statuses, filters, limit, offset) -> dict:
        """The search inside one store snapshot: indexed docs from the index, docs with pending journal
        rows (``pending``, every status) from the store, brute force, merged."""
        refcodes = None
        if filters.batch:
            refcodes = [r[0] for r in self.db.execute("SELECT DISTINCT refcode FROM files WHERE batch=?",
                                                      (filters.batch,))]
        found = self.index.search(s, query, statuses, filters, refcodes, sorted(p.ids), sorted(p.refcodes),
                                  offset + limit)
        allowed, batch = set(statuses), None if refcodes is None else set(refcodes)
        fresh = journal.hits([d for d in pending if d.open_status in allowed and filters.admits(d)
                              and (batch is None or d.refcode in batch)], query)
        estimate = self.index.estimator(s, query) if fresh else None
        total, facets, ranked = journal.merge_fresh(found, fresh, estimate, offset, limit)
        return self._answer(ranked, self._hit_rows([i for _, i in ranked]), statuses, total, facets)

    _HIT_ROWS = """SELECT d.id, d.key, d.kind, d.refcode, d.page_no, d.body, i.title, i.fonds, i.year, i.retention,
                          i.open_status, p.image_path, s.file_path, s.file_start_ms, s.start_ms, s.end_ms, a.part
                   FROM docs d JOIN items i ON i.refcode = d.refcode
                   LEFT JOIN pages p ON p.refcode = d.refcode AND p.page_no = d.page_no
                   LEFT JOIN segments s ON s.key = d.key
                   LEFT JOIN av a ON a.file_path = s.file_path"""

    def _hit_rows(self, ids: list[int]) -> dict[int, dict]:
        """What a hit shows of each doc (its text, item, page image or recording), by id."""
        return {r["id"]: dict(r) for r in self.db.execute(
            f"{self._HIT_ROWS} WHERE d.id IN (SELECT value FROM json_each(?))", [json.dumps(ids)])}

    @staticmethod
    def _answer(ranked, rows: dict, statuses: list[str], total: int, facets: dict) -> dict:
        """The search's answer from the ranked ids and their store rows, checking each row's access
        once more: a row the role may not see means the index and the store disagree."""
        out = []
        for score, i in ranked:
            r = rows.get(i)
            if r is None:  # removed behind the journal's back: nothing of it to show
                log.error("search index holds doc #%s the store does not; run `dangan reindex`", i)
                continue
            if r["open_status"] not in statuses:
                raise IndexInconsistent(f"the search index disagrees with the store (doc #{i}); run `dangan reindex`")
            del r["id"]
            out.append({**r, "score": score})
        return {"total": total, "rows": out,
                "facets": {f: {str(v): n for v, n in sorted(facets[f].items(), key=lambda kv: (-kv[1], kv[0]))}
                           for f in FACETS}}

    # -- reindex and its check ----------------------------------------------------------------
    _STORED_TEXTS = """SELECT 'page:' || refcode || ':' || page_no AS key, 'page' AS kind, refcode, page_no, text AS body
                       FROM pages WHERE text IS NOT NULL
                       UNION ALL
                       SELECT key, 'segment', refcode, NULL, text FROM segments"""

    def _rebuild_index(self, db) -> None:
        """Inside reindex's transaction (nothing here: the index beside the store is rebuilt after it)."""

    def _after_reindex(self) -> None:
        journal.rebuild(self.db, self.index, wait_s=60)

    def reindex(self) -> dict[str, int]:
        """Rebuild the docs and their index entries from the stored texts (pages, segments): readers see
        the old index or the new, never a half-built one. Idempotent."""
        with self.tx() as db:
            want = {r["key"]: r for r in db.execute(self._STORED_TEXTS).fetchall()}
            have = {r["key"]: r for r in db.execute("SELECT id, key, refcode, body FROM docs").fetchall()}
            stale = sorted(set(have) - set(want))
            for key in stale:
                db.execute("DELETE FROM docs WHERE key=?", (key,))
                self._doc_changed(db, have[key]["id"], have[key]["refcode"], None)
            changed = added = 0
            for key, r in want.items():
                if key not in have:
                    added += 1
                elif have[key]["body"] != r["body"]:
                    changed += 1
                else:
                    continue
                doc_id = db.execute(
                    "INSERT INTO docs(key, kind, refcode, page_no, body) VALUES (?,?,?,?,?) "
                    "ON CONFLICT(key) DO UPDATE SET body=excluded.body RETURNING id",
                    (key, r["kind"], r["refcode"], r["page_no"], r["body"]),
                ).fetchone()[0]
                self._doc_changed(db, doc_id, r["refcode"], r["body"])
            self._rebuild_index(db)  # every doc's entries from its body, whatever they held before
            total = db.execute("SELECT count(*) FROM docs").fetchone()[0]
        self._after_reindex()
        return {"docs": total, "added": added, "changed": changed, "removed": len(stale)}

    def check_index(self) -> list[tuple[str, str]]:
        """(key, reason) for every doc whose text or index entries disagree with the stored texts."""
        problems: list[tuple[str, str]] = []
        want = {r["key"]: r["body"] for r in self.db.execute(self._STORED_TEXTS).fetchall()}
        docs = self.db.execute("SELECT id, key, body FROM docs").fetchall()
        have = {r["key"] for r in docs}
        problems += [(k, "not indexed") for k in sorted(set(want) - have)]
        problems += [(k, "indexed but no longer stored") for k in sorted(have - set(want))]
        problems += [(r["key"], "indexed text differs from the stored text")
                     for r in docs if r["key"] in want and want[r["key"]] != r["body"]]
        problems += self._check_entries(docs)
        return problems

    def _check_entries(self, docs: list) -> list[tuple[str, str]]:
        return journal.check(self.db, self.index)

    def log_query(self, role: str, query: str, hits: int) -> None:
        with self.log_db:
            self.log_db.execute("INSERT INTO query_log(at, role, query, hits) VALUES (?,?,?,?)",
                                (now(), role, query[:1000], hits))

    def logged_queries(self, limit: int = 100) -> list:
        """The latest searches, newest first: (at, role, query, hits)."""
        return self.log_db.execute("SELECT at, role, query, hits FROM query_log ORDER BY id DESC LIMIT ?",
                                   (limit,)).fetchall()

    def item(self, refcode: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM items WHERE refcode=?", (refcode,)).fetchone()

    def page(self, refcode: str, page_no: int) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM pages WHERE refcode=? AND page_no=?", (refcode, page_no)).fetchone()

    def page_lines(self, refcode: str, page_no: int) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM lines WHERE refcode=? AND page_no=? ORDER BY idx", (refcode, page_no)).fetchall()

    def lines_of_pages(self, pages: list[tuple[str, int]]) -> dict[tuple[str, int], list]:
        """The lines of each (档号, page), in reading order, in one query (a search boxes up to 20
        page hits: one query each was 20 round trips to PostgreSQL). Pages without lines: absent."""
        pages = list(dict.fromkeys(pages))
        out: dict[tuple[str, int], list] = {}
        if not pages:
            return out
        where = " OR ".join(["(refcode=? AND page_no=?)"] * len(pages))
        for r in self.db.execute(f"SELECT * FROM lines WHERE {where} ORDER BY refcode, page_no, idx",
                                 [v for page in pages for v in page]).fetchall():
            out.setdefault((r["refcode"], r["page_no"]), []).append(r)
        return out

    def recordings(self, refcode: str) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM av WHERE refcode=? ORDER BY part", (refcode,)).fetchall()

    def segments(self, refcode: str) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM segments WHERE refcode=? ORDER BY start_ms", (refcode,)).fetchall()

    # -- holdings and progress ---------------------------------------------------------------
    def import_holdings(self, rows: list, source: str) -> int:
        with self.tx() as db:
            db.executemany(
                """INSERT INTO holdings(institution, institution_class, fonds, items, pages, av_minutes, items_done,
                                        pages_done, as_of, imported_at, source) VALUES (?,?,?,?,?,?,?,?,?,?,?)
                   ON CONFLICT(institution, fonds, as_of) DO UPDATE SET institution_class=excluded.institution_class,
                     items=excluded.items, pages=excluded.pages, av_minutes=excluded.av_minutes,
                     items_done=excluded.items_done, pages_done=excluded.pages_done,
                     imported_at=excluded.imported_at, source=excluded.source""",
                [(h.institution, h.institution_class, h.fonds, h.items, h.pages, h.av_minutes, h.items_done,
                  h.pages_done, h.as_of.isoformat(), now(), source) for h in rows],
            )
        return len(rows)

    def holdings_as_of(self, day: str) -> list[sqlite3.Row]:
        """Each (institution, 全宗)'s latest holdings counted on or before ``day``."""
        return self.db.execute(
            """SELECT h.* FROM holdings h
               WHERE h.as_of = (SELECT max(as_of) FROM holdings x WHERE x.institution = h.institution
                                AND x.fonds = h.fonds AND x.as_of <= ?)
               ORDER BY h.institution, h.fonds""",
            (day,),
        ).fetchall()

    def item_progress(self, until: str) -> list[sqlite3.Row]:
        """Per item, what is done by ``until`` (an ISO timestamp): its first scan's date, pages
        digitised and pages whose text is recognised and indexed."""
        return self.db.execute(
            """SELECT i.refcode, i.fonds, i.year, i.open_status, i.catalogue_pages, i.catalogue_row,
                      (SELECT min(f.ingested_at) FROM files f WHERE f.refcode = i.refcode
                          AND f.ingested_at <= :until) AS first_scan,
                      (SELECT count(*) FROM pages p JOIN files f ON f.path = p.file_path
                          WHERE p.refcode = i.refcode AND f.ingested_at <= :until) AS pages,
                      (SELECT count(*) FROM pages p JOIN docs d ON d.key = 'page:' || p.refcode || ':' || p.page_no
                          WHERE p.refcode = i.refcode AND p.ocr_state = 'done' AND p.ocr_at <= :until) AS recognised,
                      coalesce(i.created_at, i.updated_at) AS catalogued_at
               FROM items i WHERE coalesce(i.created_at, i.updated_at) <= :until ORDER BY i.refcode""",
            {"until": until},
        ).fetchall()

    def daily_digitised(self, until: str) -> list[sqlite3.Row]:
        """Items and pages first digitised per day and 全宗, for charts and recent rates."""
        return self.db.execute(
            """SELECT substr(first_at, 1, 10) AS day, fonds, count(*) AS items, sum(pages) AS pages FROM (
                   SELECT f.refcode, i.fonds, min(f.ingested_at) AS first_at, sum(f.pages) AS pages
                   FROM files f JOIN items i ON i.refcode = f.refcode
                   WHERE f.ingested_at <= ? GROUP BY f.refcode, i.fonds) AS firsts
               GROUP BY substr(first_at, 1, 10), fonds ORDER BY day, fonds""",
            (until,),
        ).fetchall()

    # -- reporting -------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        tables = ("items", "files", "pages", "lines", "docs", "failures", "runs", "events", "qc_findings", "derivatives",
                  "av", "segments", "reviews")
        out = {t: self.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
        out["indexed"] = self._index_count()
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

    def _index_count(self) -> int:
        return self.index.count()

    def failures(self, batch: str | None = None) -> list[sqlite3.Row]:
        if batch is None:
            return self.db.execute("SELECT * FROM failures ORDER BY batch, path, page_no").fetchall()
        return self.db.execute("SELECT * FROM failures WHERE batch=? ORDER BY path, page_no", (batch,)).fetchall()

    def _event(self, db: sqlite3.Connection, run_id: str | None, type_: str, refcode: str | None, path: str | None,
               outcome: str, detail: dict) -> None:
        db.execute(
            "INSERT INTO events(at, run_id, type, refcode, path, outcome, detail) VALUES (?,?,?,?,?,?,?)",
            (now(), run_id, type_, refcode, path, outcome, json.dumps(detail, ensure_ascii=False)),
        )

"""Search as users see it: a role, a query, filters; hits with snippets that lead back to the page
image (with the matching line boxed) or to the second in the recording.

Access is decided here, once, for every interface (CLI, API, web page): a role sees only items
whose open status (开放状态) its profile lists — default deny — and everything derived from the
search (counts, facets, snippets) is computed inside that limit. Every query is logged.
"""

from __future__ import annotations

import html
import time
from dataclasses import asdict, dataclass, field

from pipeline.config import Settings
from pipeline.errors import DanganError
from pipeline.index.query import Filters, Query, QueryError, parse
from pipeline.index.text import compact, snippet
from pipeline.store import SQLiteStore


class UnknownRole(DanganError, ValueError):
    exit_code = 1


@dataclass(frozen=True)
class SearchRequest:
    q: str
    role: str
    filters: Filters = Filters()
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True)
class Hit:
    kind: str  # page | segment
    refcode: str
    title: str
    fonds: str
    year: int | None
    retention: str | None
    open_status: str
    snippet: str
    snippet_html: str  # escaped, the hit in <mark>
    score: float
    page: int | None = None
    image_path: str | None = None
    box: tuple[int, int, int, int] | None = None  # the first matching line, in page pixels
    recording: int | None = None  # the item's recording (part) a segment belongs to
    start: float | None = None  # seconds into that recording
    end: float | None = None


@dataclass
class SearchResponse:
    query: str
    role: str
    total: int
    hits: list[Hit]
    facets: dict[str, dict[str, int]]
    offset: int
    took_ms: float
    words: list[str] = field(default_factory=list)

    def as_dict(self, api: bool = False) -> dict:
        """``api``: links instead of file-system paths (the API never shows where files live)."""
        hits = []
        for h in self.hits:
            d = asdict(h)
            if api:
                d.pop("image_path")
            else:
                d.pop("snippet_html")
            if api:
                if h.kind == "page":
                    d["image_url"] = f"/api/items/{h.refcode}/pages/{h.page}/image"
                    d["page_url"] = f"/api/items/{h.refcode}/pages/{h.page}"
                elif h.recording is not None:
                    d["audio_url"] = f"/api/items/{h.refcode}/recordings/{h.recording}/audio"
            hits.append(d)
        return {"query": self.query, "role": self.role, "total": self.total, "offset": self.offset,
                "took_ms": round(self.took_ms, 1), "words": self.words, "facets": self.facets, "hits": hits}


def allowed_statuses(settings: Settings, role: str) -> list[str]:
    if role not in settings.search.roles:
        raise UnknownRole(f"unknown role {role!r}; roles: {', '.join(settings.search.roles)}")
    return list(settings.search.roles[role])


def _box(lines: list, words: list[str]) -> tuple[int, int, int, int] | None:
    """The box of the first of a page's ``lines`` that holds a hit."""
    for line in lines:
        c = compact(line["text"]).chars
        if any(w in c for w in words):
            return (line["x0"], line["y0"], line["x1"], line["y1"])
    # A hit across a line break: box the line where it starts.
    joined, starts = "", []
    for line in lines:
        starts.append(len(joined))
        joined += compact(line["text"]).chars
    for w in words:
        pos = joined.find(w)
        if pos >= 0:
            i = max(k for k, s in enumerate(starts) if s <= pos)
            return (lines[i]["x0"], lines[i]["y0"], lines[i]["x1"], lines[i]["y1"])
    return None


def _snippets(body: str, words: list[str], width: int) -> tuple[str, str]:
    """The snippet as text (the hit in 【】) and as HTML (escaped, the hit in <mark>), found once."""
    marked = snippet(body, words, width, mark=("\x00", "\x01"))  # control characters never occur in OCR text
    return (marked.replace("\x00", "【").replace("\x01", "】"),
            html.escape(marked).replace("\x00", "<mark>").replace("\x01", "</mark>"))


def search(store: SQLiteStore, settings: Settings, req: SearchRequest) -> SearchResponse:
    t0 = time.perf_counter()
    statuses = allowed_statuses(settings, req.role)
    if req.filters.open_status:
        statuses = [s for s in statuses if s in req.filters.open_status]
    query: Query = parse(req.q, settings.search.max_query_chars)
    kinds = set(req.filters.kind) - {"page", "segment"}
    if kinds:
        raise QueryError(f"kind must be page or segment, not {', '.join(sorted(kinds))}")
    found = store.search(query, statuses, req.filters, req.limit, req.offset)
    words = query.highlight_words
    lines = store.lines_of_pages([(r["refcode"], r["page_no"]) for r in found["rows"] if r["kind"] == "page"])
    hits = []
    for r in found["rows"]:
        text, marked = _snippets(r["body"], words, settings.search.snippet_chars)
        common = dict(kind=r["kind"], refcode=r["refcode"], title=r["title"] or "", fonds=r["fonds"], year=r["year"],
                      retention=r["retention"], open_status=r["open_status"], snippet=text, snippet_html=marked,
                      score=round(-r["score"], 4))
        if r["kind"] == "page":
            hits.append(Hit(**common, page=r["page_no"], image_path=r["image_path"],
                            box=_box(lines.get((r["refcode"], r["page_no"]), []), words)))
        else:
            at = r["file_start_ms"]  # milliseconds into the recording file
            hits.append(Hit(**common, recording=r["part"], start=None if at is None else at / 1000,
                            end=None if at is None else (at + r["end_ms"] - r["start_ms"]) / 1000))
    store.log_query(req.role, req.q, found["total"])
    return SearchResponse(req.q, req.role, found["total"], hits, found["facets"], req.offset,
                          (time.perf_counter() - t0) * 1000, words)


def page_detail(store: SQLiteStore, settings: Settings, role: str, refcode: str, page_no: int | None) -> dict | None:
    """An item (and one of its pages) as the role may see it, or None: unknown and not allowed look
    the same, so a refusal reveals nothing."""
    item = store.item(refcode)
    if item is None or item["open_status"] not in allowed_statuses(settings, role):
        return None
    out = {"refcode": refcode, "title": item["title"], "fonds": item["fonds"], "year": item["year"],
           "retention": item["retention"], "open_status": item["open_status"]}
    if page_no is not None:
        page = store.page(refcode, page_no)
        if page is None:
            return None
        out.update(page=page_no, width=page["width"], height=page["height"], image_path=page["image_path"],
                   text=page["text"], lines=[{"text": ln["text"], "confidence": ln["conf"],
                                             "box": [ln["x0"], ln["y0"], ln["x1"], ln["y1"]]}
                                            for ln in store.page_lines(refcode, page_no)])
    else:
        recordings = store.recordings(refcode)
        part_of = {r["file_path"]: r["part"] for r in recordings}
        out["recordings"] = [{"part": r["part"], "duration": r["duration"], "state": r["state"],
                              "audio_copy": r["audio_copy"]} for r in recordings]
        out["segments"] = [{"recording": part_of.get(s["file_path"]), "start": s["file_start_ms"] / 1000,
                            "end": (s["file_start_ms"] + s["end_ms"] - s["start_ms"]) / 1000, "text": s["text"]}
                           for s in store.segments(refcode)]
    return out

"""The search index beside the store: a tantivy index of each doc's bigrams and characters.

Terms are made here in Python (``index_terms``) and indexed with tantivy's built-in whitespace
tokenizer, so nothing has to be registered when the index is opened, and a phrase of consecutive
bigrams matches exactly where a word is a substring of the compact text. Ranking is tantivy's BM25
over top-k only (it never scores every hit); counts and facets are exact over every hit.

The index holds no state of its own: each doc is a copy of a store row (its text and its item's
全宗, 年度, 保管期限, open status) with a fingerprint of that copy, plus meta docs recording the
store's journal sequence number the copy is complete up to (the highest one counts). That number is
committed in the same tantivy commit as the docs, so after a crash the store knows exactly which journal entries to apply
again (``pipeline.store.journal``).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import tantivy

from pipeline.errors import DanganError
from pipeline.index.query import FACETS, Clause, Filters, Query
from pipeline.index.text import index_terms

log = logging.getLogger(__name__)

# The schema's version is part of the folder name: a new schema is a new, rebuilt index.
SCHEMA_VERSION = 2  # 2: the "facet" field (all five facet values of a doc in one term)
_SEP = "\x1f"  # between the values in a facet term; each present value is prefixed with "=", a missing one is ""
_COMBOS = 65_536  # distinct facet terms counted in one pass; past that, one pass per facet
# Counting the one facet term costs ~2 ms whatever the hits (turning ~1,000 distinct terms into Python);
# counting five columns costs per hit. Measured at 1M rows the two cross near 250,000 hits.
_ONE_TERM_FROM = 200_000
_META_KEPT = 10_000  # meta docs (one per commit) kept before they are pruned in one delete
_K1 = 1.2  # tantivy's BM25 constant, for the estimate of docs the index has not caught up with


class IndexBusy(DanganError):
    """Another writer holds the index for longer than we may wait."""


@dataclass(frozen=True)
class IndexDoc:
    """A doc as the index copies it from the store."""

    id: int
    key: str
    kind: str
    refcode: str
    fonds: str
    year: int | None
    retention: str | None
    open_status: str
    body: str
    chars: str  # the body's compact form

    def fingerprint(self) -> int:
        """64 bits over everything the index copies: a stale or foreign copy shows as a mismatch."""
        parts = (self.key, self.kind, self.refcode, self.fonds, str(self.year), str(self.retention), self.open_status,
                 self.body)
        return int.from_bytes(hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest(), "big")


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("id", indexed=True, fast=True)
    sb.add_unsigned_field("fp", fast=True)
    sb.add_text_field("refcode", tokenizer_name="raw")
    for name in ("fonds", "retention", "kind", "open_status"):
        sb.add_text_field(name, tokenizer_name="raw", fast=True)
    sb.add_integer_field("year", indexed=True, fast=True)
    sb.add_text_field("bigrams", tokenizer_name="whitespace", index_option="position")
    sb.add_text_field("chars", tokenizer_name="whitespace", index_option="freq")
    # All five facet values in one term: the facets and the total are one terms aggregation over one
    # column instead of five (measured at 1M rows: 1-char 7.8 -> ~3 ms).
    sb.add_text_field("facet", tokenizer_name="raw", fast=True)
    sb.add_text_field("meta", tokenizer_name="raw")
    sb.add_unsigned_field("seq", fast=True)
    return sb.build()


SCHEMA = _schema()
_PASSES: dict[int, ThreadPoolExecutor] = {}  # per process: a forked child must not inherit dead threads


def _passes() -> ThreadPoolExecutor:
    pid = os.getpid()
    if pid not in _PASSES:
        _PASSES[pid] = ThreadPoolExecutor(max_workers=2, thread_name_prefix="search-pass")
    return _PASSES[pid]


_OPEN: dict[Path, tantivy.Index] = {}  # one tantivy Index (and its reader) per folder and process


@dataclass
class Found:
    total: int
    top: list[tuple[int, float]]  # (doc id, BM25) best first
    facets: dict[str, dict[object, int]]


class SearchIndex:
    def __init__(self, path: Path):
        self.path = path / f"v{SCHEMA_VERSION}"
        self.created = not (self.path / "meta.json").exists()
        self.path.mkdir(parents=True, exist_ok=True)
        if self.created or self.path not in _OPEN:  # created: a cached one is of a folder since deleted
            _OPEN[self.path] = tantivy.Index(SCHEMA, path=str(self.path), reuse=True)
        self.index = _OPEN[self.path]

    # -- reading ----------------------------------------------------------------------------
    def searcher(self) -> tuple[tantivy.Searcher, int]:
        """The latest committed snapshot and the journal sequence number it is complete up to."""
        self.index.reload()
        s = self.index.searcher()
        hits = s.search(tantivy.Query.term_query(SCHEMA, "meta", "applied"), 1, count=False, order_by_field="seq").hits
        return s, (s.fast_field_values("seq", [hits[0][1]])[0] if hits else 0)

    def search(self, s: tantivy.Searcher, query: Query, statuses: list[str], filters: Filters,
               refcodes: list[str] | None, exclude_ids: list[int], exclude_refcodes: list[str], top: int) -> Found:
        """Hits of ``query`` among docs with those statuses and filters (``refcodes``: only these items),
        leaving out the excluded docs: their total, the best ``top`` and the facet counts."""
        df = _doc_freqs(s)
        q = self._query(s, query, statuses, filters, refcodes, exclude_ids, exclude_refcodes, df)
        # The ranked top-N and the facet counts (which give the total too) are two passes over the
        # hits; tantivy releases the GIL, so they run side by side.
        ranked = _passes().submit(s.search, q, max(top, 1), count=False)
        total, facets = self._facets(s, q, one_term=self._most_hits(df, query) >= _ONE_TERM_FROM)
        pairs = ranked.result().hits if top else []
        ids = s.fast_field_values("id", [a for _, a in pairs]) if pairs else []
        return Found(total, [(i, score) for i, (score, _) in zip(ids, pairs, strict=True)], facets)

    @staticmethod
    def _most_hits(df, query: Query) -> int:
        """An upper bound of the hits (doc frequencies count deleted docs too: never fewer)."""
        def word(w: str) -> int:
            if len(w) == 1:
                return df("chars", w)
            return min(df("bigrams", w[i : i + 2]) for i in range(len(w) - 1))

        return min(sum(word(w) for w in c.words) for c in query.positive)

    @staticmethod
    def _facets(s: tantivy.Searcher, q: tantivy.Query, one_term: bool = True,
                combos: int = _COMBOS) -> tuple[int, dict[str, dict]]:
        """The number of hits and their counts per facet value. Every doc holds one open status and
        one facet term, so counting either gives the total too. ``one_term``: count the facet terms
        (for many hits), unless there are more distinct ones than ``combos`` or a value holds the
        separator; otherwise each facet is counted in a column of its own."""
        facets: dict[str, dict[object, int]] = {f: {} for f in FACETS}
        agg = s.aggregate(q, {"f": {"terms": {"field": "facet", "size": combos, "segment_size": combos}}})["f"] \
            if one_term else {"sum_other_doc_count": 1}
        if not agg.get("sum_other_doc_count") and not agg.get("doc_count_error_upper_bound"):
            # Summed per raw value first (a bench query has ~1,000 facet terms), converted once each.
            raw: list[dict[str, int]] = [defaultdict(int) for _ in FACETS]
            total = 0
            for b in agg["buckets"]:
                parts, n = b["key"].split(_SEP), b["doc_count"]
                if len(parts) != len(FACETS):
                    break
                total += n
                for counts, v in zip(raw, parts):
                    counts[v] += n
            else:
                for f, counts in zip(FACETS, raw, strict=True):
                    facets[f] = {int(v[1:]) if f == "year" else v[1:]: int(n) for v, n in counts.items() if v}
                return int(total), facets
        aggs = s.aggregate(q, {f: {"terms": {"field": f, "size": 1_000_000, "segment_size": 1_000_000}}
                               for f in FACETS})
        for f in FACETS:  # a million buckets each: every value there is (a million 全宗 there is not)
            for b in aggs[f]["buckets"]:
                facets[f][int(b["key"]) if f == "year" else b["key"]] = int(b["doc_count"])
        return sum(facets["open_status"].values()), facets

    def estimator(self, s: tantivy.Searcher, query: Query):
        """A BM25-like score for docs the index has not caught up with (they rank among indexed hits
        only for the moments until the indexer catches up); a document's length is taken as average."""
        n = max(1, s.num_docs)
        idf: dict[str, float] = {}
        for c in query.positive:
            for w in c.words:
                field, terms = ("chars", [w]) if len(w) == 1 else ("bigrams", [w[i : i + 2] for i in range(len(w) - 1)])
                df = min(s.doc_freq(field, t) for t in terms)
                idf[w] = math.log(1 + (n - df + 0.5) / (df + 0.5))

        def score(chars: str) -> float:
            total = 0.0
            for c in query.positive:
                tfs = [(chars.count(w), idf[w]) for w in c.words]
                total += max((i * tf * (_K1 + 1) / (tf + _K1) for tf, i in tfs if tf), default=0.0)
            return total

        return score

    def count(self) -> int:
        """Docs in the index (the meta docs not counted)."""
        s, _ = self.searcher()
        return s.num_docs - s.search(tantivy.Query.term_query(SCHEMA, "meta", "applied"), 1, count=True).count

    def entries(self) -> list[tuple[int, int]]:
        """(doc id, fingerprint) of every doc in the index (for the consistency check)."""
        s, _ = self.searcher()
        q = tantivy.Query.boolean_query([(tantivy.Occur.Must, tantivy.Query.all_query()),
                                         (tantivy.Occur.MustNot, tantivy.Query.term_query(SCHEMA, "meta", "applied"))])
        addrs = [a for _, a in s.search(q, max(1, s.num_docs), count=False).hits]
        return list(zip(s.fast_field_values("id", addrs), s.fast_field_values("fp", addrs), strict=True))

    @staticmethod
    def _access(s: tantivy.Searcher, statuses: list[str]) -> list[tuple[tantivy.Occur, tantivy.Query]]:
        """The role's limit as clauses. Every doc holds exactly one open_status term (an empty status is
        a term too), so "none of the statuses in this snapshot the role may not see" is the same set
        as "one of the statuses it may see", and much cheaper: a set of allowed statuses is a bitset
        built over most of the index on every query (measured at 1M rows: a 1-char top-20 9 -> 3 ms);
        a barred status is a term skipped over. When nothing in the snapshot is barred there is no
        clause at all (the meta doc never matches a word)."""
        allowed = set(statuses)
        barred = [t for t, _ in s.terms_with_prefix("open_status", "") if t not in allowed]
        if not barred:
            return []
        if len(barred) <= max(2, len(allowed)):
            return [(tantivy.Occur.MustNot, tantivy.Query.term_query(SCHEMA, "open_status", t)) for t in barred]
        return [(tantivy.Occur.Must, tantivy.Query.const_score_query(_one_of("open_status", statuses), 0.0))]

    def _query(self, s: tantivy.Searcher, query: Query, statuses: list[str], filters: Filters,
               refcodes: list[str] | None, exclude_ids: list[int], exclude_refcodes: list[str],
               df=None) -> tantivy.Query:
        Q, Occur = tantivy.Query, tantivy.Occur
        df = df or _doc_freqs(s)
        parts = [(Occur.Must, self._clause(df, c)) for c in query.positive]
        parts += [(Occur.MustNot, self._clause(df, c)) for c in query.negative]
        parts += self._access(s, statuses)
        # Filters narrow without scoring: they are wrapped to score 0.
        narrow = []
        for field, values in (("fonds", filters.fonds), ("retention", filters.retention), ("kind", filters.kind)):
            if values:
                narrow.append(_one_of(field, values))
        if filters.year_from is not None or filters.year_to is not None:
            narrow.append(Q.range_query(SCHEMA, "year", tantivy.FieldType.Integer, filters.year_from, filters.year_to))
        if refcodes is not None:
            narrow.append(_one_of("refcode", refcodes))
        parts += [(Occur.Must, Q.const_score_query(n, 0.0)) for n in narrow]
        if exclude_ids:
            parts.append((Occur.MustNot, Q.term_set_query(SCHEMA, "id", exclude_ids)))
        if exclude_refcodes:
            parts.append((Occur.MustNot, Q.term_set_query(SCHEMA, "refcode", exclude_refcodes)))
        return Q.boolean_query(parts)

    @staticmethod
    def _word(df, w: str) -> tantivy.Query:
        if len(w) == 1:
            return tantivy.Query.term_query(SCHEMA, "chars", w, index_option="freq")
        if len(w) == 2:
            return tantivy.Query.term_query(SCHEMA, "bigrams", w, index_option="freq")
        return tantivy.Query.phrase_query(SCHEMA, "bigrams",
                                          _cover(w, [df("bigrams", w[i : i + 2]) for i in range(len(w) - 1)]))

    def _clause(self, df, c: Clause) -> tantivy.Query:
        if len(c.words) == 1:
            return self._word(df, c.words[0])
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, self._word(df, w)) for w in c.words])

    # -- writing ----------------------------------------------------------------------------
    @contextmanager
    def writer(self, wait_s: float) -> Iterator[tantivy.IndexWriter]:
        """The index's one writer (across processes), waited for up to ``wait_s``; committed by the
        caller, released here after its merges so the next process can take it."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                w = self.index.writer(heap_size=64_000_000, num_threads=1)
                break
            except ValueError as e:  # tantivy reports a held lock as ValueError(LockBusy)
                if "LockBusy" not in str(e) or time.monotonic() >= deadline:
                    raise IndexBusy(f"the search index {self.path} is being written by another process") from e
                time.sleep(0.01)
        try:
            yield w
        except BaseException:
            w.rollback()
            raise
        finally:
            w.wait_merging_threads()

    def apply(self, w: tantivy.IndexWriter, docs: Iterable[IndexDoc], delete_ids: Iterable[int],
              delete_refcodes: Iterable[str], applied: int) -> None:
        """Replace docs and commit them with the journal sequence number they are complete up to."""
        # By query: tantivy-py turns a Python int into an i64 term, which never matches the u64 ids.
        if ids := list(delete_ids):
            w.delete_documents_by_query(tantivy.Query.term_set_query(SCHEMA, "id", ids))
        if refcodes := list(delete_refcodes):
            w.delete_documents_by_query(tantivy.Query.term_set_query(SCHEMA, "refcode", refcodes))
        for d in docs:
            w.add_document(_document(d))
        self._commit(w, applied)

    def rebuild(self, w: tantivy.IndexWriter, docs: Iterable[IndexDoc], applied: int) -> int:
        """Every doc anew, in one commit: readers see the old index or the new one."""
        w.delete_all_documents()
        n = 0
        for d in docs:
            w.add_document(_document(d))
            n += 1
        self._commit(w, applied)
        return n

    def _commit(self, w: tantivy.IndexWriter, applied: int) -> None:
        # A new meta doc per commit, the old ones left: a segment with a deleted doc is counted doc
        # by doc instead of in blocks (facet counts at 1M rows, 20 segments: ~2.5x slower), and
        # deleting the last meta doc put one in every segment. Pruned now and then.
        s = self.index.searcher()
        if s.search(tantivy.Query.term_query(SCHEMA, "meta", "applied"), 1, count=True).count >= _META_KEPT:
            w.delete_documents_by_term("meta", "applied")
        meta = tantivy.Document()
        meta.add_text("meta", "applied")
        meta.add_unsigned("seq", applied)
        # Values in the columns facets are counted from, though it never matches a word: a segment
        # where one doc lacks a column's value reads it through an index of who has one (a facet
        # count over a 500k-doc segment 1.4 -> 3.4 ms). No open status: that would be a status
        # term the role's limit has to reckon with.
        meta.add_unsigned("id", 0)  # store ids start at 1
        meta.add_unsigned("fp", 0)
        for field in ("fonds", "retention", "kind"):
            meta.add_text(field, "")
        meta.add_integer("year", 0)
        meta.add_text("facet", _SEP * (len(FACETS) - 1))  # no value in any facet
        w.add_document(meta)
        w.commit()


def _doc_freqs(s: tantivy.Searcher):
    """``s.doc_freq`` remembered for one search (~0.1 ms a call at 1M rows; a phrase asks twice per
    bigram). Only plans depend on it (which bigrams, how to count facets), never what matches."""
    memo: dict[tuple[str, str], int] = {}

    def df(field: str, term: str) -> int:
        if (field, term) not in memo:
            memo[field, term] = s.doc_freq(field, term)
        return memo[field, term]

    return df


def _cover(w: str, dfs: list[int]) -> list[tuple[int, str]]:
    """Bigrams of ``w`` at their offsets that cover every character, chosen to be the rarest (least
    total doc frequency, ``dfs[i]`` for the bigram at i): a phrase of them matches exactly where all
    n-1 overlapping bigrams would, but need not read the long position lists of a bigram such as
    档案 found in nearly every doc (measured at 1M rows: "制定档案信息", both passes 19 -> 7 ms). Characters are
    covered when the first and last bigrams are taken and no two taken ones are more than 2 apart."""
    best: list[tuple[int, int]] = [(dfs[0], -1)]  # (least cost of a cover of w[: i + 2] taking i, the one before)
    for i in range(1, len(dfs)):
        best.append(min((best[j][0] + dfs[i], j) for j in (i - 1, i - 2) if j >= 0))
    out, i = [], len(dfs) - 1
    while i >= 0:
        out.append((i, w[i : i + 2]))
        i = best[i][1]
    return out[::-1]


def facet_term(d: IndexDoc) -> str:
    """The doc's facet values (in ``FACETS`` order) as one term."""
    return _SEP.join("" if (v := getattr(d, f)) is None else f"={v}" for f in FACETS)


def _one_of(field: str, values) -> tantivy.Query:
    """A term set; one value as a plain term query, which skips along its postings instead of
    building a bitset."""
    values = list(values)
    if len(values) == 1:
        return tantivy.Query.term_query(SCHEMA, field, values[0])
    return tantivy.Query.term_set_query(SCHEMA, field, values)


def _document(d: IndexDoc) -> tantivy.Document:
    doc = tantivy.Document()
    doc.add_unsigned("id", d.id)
    doc.add_unsigned("fp", d.fingerprint())
    doc.add_text("refcode", d.refcode)
    doc.add_text("fonds", d.fonds)
    doc.add_text("kind", d.kind)
    doc.add_text("open_status", d.open_status)
    if d.retention is not None:
        doc.add_text("retention", d.retention)
    if d.year is not None:
        doc.add_integer("year", d.year)
    doc.add_text("facet", facet_term(d))
    bigrams, chars = index_terms(d.chars)
    doc.add_text("bigrams", bigrams)
    doc.add_text("chars", chars)
    return doc

"""The search language, parsed once and turned into each backend's form.

    档案 数字化          both words (AND)
    档案 OR 文件         either word; OR binds tighter than the spaces between words
    档案 -开放  / NOT 开放 the first without the second
    "开放 审核"          a phrase: its words run together (spaces, punctuation and line breaks
                        are ignored in Chinese text, so this is the same as 开放审核)

Every word is matched as a substring of the normalised text (see ``pipeline.index.text``); FTS
syntax characters in a query are only ever literal text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.errors import DanganError
from pipeline.index.text import compact


class QueryError(DanganError, ValueError):
    """A query that cannot be searched; the message says why, in terms a user can act on."""


@dataclass(frozen=True)
class Clause:
    words: tuple[str, ...]  # alternatives (OR), each in compact form
    negated: bool = False


@dataclass(frozen=True)
class Query:
    clauses: tuple[Clause, ...]

    @property
    def positive(self) -> list[Clause]:
        return [c for c in self.clauses if not c.negated]

    @property
    def negative(self) -> list[Clause]:
        return [c for c in self.clauses if c.negated]

    @property
    def highlight_words(self) -> list[str]:
        return [w for c in self.positive for w in c.words]

    def matches(self, compact_text: str) -> bool:
        """The reference semantics: what every backend must return (used by tests as brute force)."""
        return all(any(w in compact_text for w in c.words) for c in self.positive) and not any(
            any(w in compact_text for w in c.words) for c in self.negative)


@dataclass(frozen=True)
class Filters:
    """Narrowing a search; every field empty means no narrowing."""

    fonds: tuple[str, ...] = ()
    year_from: int | None = None
    year_to: int | None = None
    retention: tuple[str, ...] = ()
    kind: tuple[str, ...] = ()  # page | segment
    open_status: tuple[str, ...] = ()  # intersected with what the role may see
    batch: str | None = None

    def admits(self, doc) -> bool:
        """Whether a doc (anything with fonds, year, retention and kind) passes the filters, as the
        index and SQL see them: a missing value passes no filter on it. The batch and the open
        status are the caller's (they need the store and the role)."""
        return ((not self.fonds or doc.fonds in self.fonds)
                and (not self.retention or doc.retention in self.retention)
                and (not self.kind or doc.kind in self.kind)
                and (self.year_from is None or (doc.year is not None and doc.year >= self.year_from))
                and (self.year_to is None or (doc.year is not None and doc.year <= self.year_to)))


FACETS = ("fonds", "year", "retention", "kind", "open_status")

_TOKEN = re.compile(r'"([^"]*)"|(\S+)')


def parse(text: str, max_chars: int = 256) -> Query:
    if not text or not text.strip():
        raise QueryError("the query is empty")
    if len(text) > max_chars:
        raise QueryError(f"the query is longer than {max_chars} characters")
    tokens: list[tuple[str, bool]] = []  # (text, quoted)
    for m in _TOKEN.finditer(text):
        tokens.append((m.group(1), True) if m.group(1) is not None else (m.group(2), False))
    clauses: list[Clause] = []
    negate_next = join_next = False
    for raw, quoted in tokens:
        if not quoted and raw == "OR":
            join_next = bool(clauses)
            continue
        if not quoted and raw == "NOT":
            negate_next = True
            continue
        negated = negate_next
        if not quoted and raw.startswith("-") and len(raw) > 1:
            negated, raw = True, raw[1:]
        word = compact(raw).chars
        negate_next = False
        if not word:
            join_next = False
            continue
        if join_next and clauses and not negated and not clauses[-1].negated:
            clauses[-1] = Clause(clauses[-1].words + (word,))
        else:
            clauses.append(Clause((word,), negated))
        join_next = False
    if not clauses:
        raise QueryError("the query has no letters or digits to search for")
    if not any(not c.negated for c in clauses):
        raise QueryError("the query only excludes words; add a word to find")
    return Query(tuple(clauses))


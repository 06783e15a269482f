"""Search suggestions: how the text a role may see goes on after what the user has typed.

Suggestions come from the role's own search for the typed text (``pipeline.search``'s access
limit, so nothing from an item the role may not see can be suggested), never from other people's
queries: the query log would leak what staff searched for restricted material. Each suggestion is
the typed text continued to the end of a phrase (up to punctuation or a line end), cut at
``MAX_EXTRA`` characters, ranked by how many of the matching texts hold it.
"""

from __future__ import annotations

import re
from collections import Counter

from pipeline.config import Settings
from pipeline.index.query import Filters, parse
from pipeline.index.text import compact_chars, simplified
from pipeline.search import allowed_statuses
from pipeline.store import SQLiteStore

# Characters a suggestion adds to what was typed, at most and at least.
MAX_EXTRA = 6
MIN_EXTRA = 2
# Texts read per suggestion request: the best-ranked matches for the typed text.
SAMPLE = 60
MAX_PREFIX = 20
# A phrase ends at punctuation or whitespace (ASCII or CJK), before folding removes them.
_BREAK = re.compile(r"[\s\u3000-\u303f\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65!-/:-@\[-`{-~]+")


def suggest(store: SQLiteStore, settings: Settings, role: str, typed: str, limit: int = 8) -> list[str]:
    """Up to ``limit`` continuations of ``typed`` found in texts ``role`` may see (compact form)."""
    prefix = compact_chars(typed)[:MAX_PREFIX]
    if not prefix:
        return []
    statuses = allowed_statuses(settings, role)
    found = store.search(parse(f'"{prefix}"', settings.search.max_query_chars), statuses, Filters(), SAMPLE, 0)
    docs: Counter[str] = Counter()
    for row in found["rows"]:
        seen = set()
        for run in _BREAK.split(simplified(row["body"] or "")):
            chars = compact_chars(run)
            start = chars.find(prefix)
            while start >= 0:
                rest = chars[start + len(prefix): start + len(prefix) + MAX_EXTRA]
                seen.update(prefix + rest[:k] for k in range(MIN_EXTRA, len(rest) + 1, 2))
                if len(rest) >= MIN_EXTRA and len(rest) % 2:  # the phrase's own end
                    seen.add(prefix + rest)
                start = chars.find(prefix, start + 1)
        docs.update(seen)
    # A continuation found exactly as often as a longer one that extends it adds nothing.
    kept = {s: n for s, n in docs.items()
            if not any(len(o) > len(s) and o.startswith(s) and m == n for o, m in docs.items())}
    return [s for s, _ in sorted(kept.items(), key=lambda kv: (-kv[1], -len(kv[0]), kv[0]))[:limit]]

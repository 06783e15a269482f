"""The search index's own shortcuts give what the long way gives: facet counts from one combined
term equal a count per facet and brute force; phrases of covering bigrams equal substring search."""

import random
from collections import Counter
from itertools import combinations

import pytest

from pipeline.index.query import FACETS, Filters, parse
from pipeline.index.tantivy_index import IndexDoc, SearchIndex, _cover, _doc_freqs


def _docs(n: int, rng: random.Random) -> list[IndexDoc]:
    out = []
    for i in range(n):
        chars = "".join(rng.choice("档案馆数字化开放") for _ in range(rng.randint(1, 30)))
        out.append(IndexDoc(i + 1, f"k{i}", rng.choice(["page", "segment"]), f"R{i % 7}", rng.choice(["J1", "J2", "J\x1f3"]),
                            rng.choice([None, 1990, 2021]), rng.choice([None, "永久", "10年"]),
                            rng.choice(["开放", "控制", "未审核"]), chars, chars))
    return out


@pytest.fixture
def index(tmp_path):
    rng = random.Random(5)
    idx = SearchIndex(tmp_path / "ix")
    docs = _docs(400, rng)
    with idx.writer(wait_s=5) as w:
        idx.apply(w, docs[:200], [], [], applied=1)  # two commits: two segments
    with idx.writer(wait_s=5) as w:
        idx.apply(w, docs[200:], [], [], applied=2)
    return idx, docs


@pytest.mark.parametrize("text", ["档", "档案", "馆数字", "开放 档", "档案 -数字", "档 OR 化"])
@pytest.mark.parametrize("statuses", [["开放"], ["开放", "控制"], ["开放", "控制", "未审核"]])
def test_facets_in_one_pass_equal_one_pass_per_facet_and_brute_force(index, text, statuses):
    idx, docs = index
    s, _ = idx.searcher()
    query = parse(text)
    # No doc holds the separator in a value here: the combined term is used.
    clean = [d for d in docs if "\x1f" not in d.fonds]
    q = idx._query(s, query, statuses, Filters(fonds=("J1", "J2")), None, [], [])
    hits = [d for d in clean if d.open_status in statuses and query.matches(d.chars)]
    want = {f: Counter(getattr(d, f) for d in hits if getattr(d, f) is not None) for f in FACETS}
    one = idx._facets(s, q)
    assert one == (len(hits), {f: dict(c) for f, c in want.items()})
    assert idx._facets(s, q, combos=1) == one  # too many combinations: a column per facet
    assert idx._facets(s, q, one_term=False) == one
    assert idx._most_hits(_doc_freqs(s), query) >= len(hits)
    # A value holding the separator cannot be told apart in the combined term: a pass per facet.
    q_all = idx._query(s, query, statuses, Filters(), None, [], [])
    hits = [d for d in docs if d.open_status in statuses and query.matches(d.chars)]
    want = {f: dict(Counter(getattr(d, f) for d in hits if getattr(d, f) is not None)) for f in FACETS}
    assert idx._facets(s, q_all) == idx._facets(s, q_all, one_term=False) == (len(hits), want)
    assert idx.search(s, query, statuses, Filters(), None, [], [], 5).total == len(hits)


def test_covering_bigrams_are_the_rarest_that_cover_every_character():
    assert _cover("abc", [5, 5]) == [(0, "ab"), (1, "bc")]
    assert _cover("abcd", [1, 1, 1]) == [(0, "ab"), (2, "cd")]
    assert _cover("abcd", [1, 9, 1]) == [(0, "ab"), (2, "cd")]
    assert _cover("制定档案信息", [87912, 12989, 957061, 302478, 356561]) == [(0, "制定"), (1, "定档"), (3, "案信"),
                                                                        (4, "信息")]  # not 档案
    rng = random.Random(2)
    for n in range(3, 12):
        w = "".join(chr(0x4E00 + i) for i in range(n))
        for _ in range(50):
            dfs = [rng.choice([0, 1, 10, 1000]) for _ in range(n - 1)]
            got = _cover(w, dfs)
            covered = {i + k for i, b in got for k in (0, 1)}
            assert covered == set(range(n)) and all(w[i : i + 2] == b for i, b in got)
            # Least total doc frequency among all covers (brute force over every subset).
            best = min(sum(dfs[i] for i in starts) for m in range(1, n) for starts in combinations(range(n - 1), m)
                       if {i + k for i in starts for k in (0, 1)} == set(range(n)))
            assert sum(dfs[i] for i, _ in got) == best


def test_phrases_of_covering_bigrams_equal_substring_search(index):
    idx, docs = index
    s, _ = idx.searcher()
    rng = random.Random(4)
    for _ in range(60):
        d = rng.choice(docs)
        if len(d.chars) < 3:
            continue
        i = rng.randrange(len(d.chars) - 2)
        w = d.chars[i : i + rng.randint(3, 8)]
        want = {x.id for x in docs if w in x.chars}
        found = idx.search(s, parse(w), ["开放", "控制", "未审核"], Filters(), None, [], [], 1000)
        assert found.total == len(want) and {i for i, _ in found.top} == want, w


def test_commits_add_meta_docs_without_deleting_and_the_highest_number_counts(tmp_path, monkeypatch):
    import pipeline.index.tantivy_index as ti

    monkeypatch.setattr(ti, "_META_KEPT", 4)
    rng = random.Random(9)
    idx = SearchIndex(tmp_path / "ix")
    docs = _docs(30, rng)
    metas = []
    for n in range(6):
        with idx.writer(wait_s=5) as w:
            idx.apply(w, docs[5 * n : 5 * n + 5], [], [], applied=10 + n)
        s, applied = idx.searcher()
        metas.append(s.search(ti.tantivy.Query.term_query(ti.SCHEMA, "meta", "applied"), 1).count)
        assert applied == 10 + n and idx.count() == 5 * n + 5
    assert metas == [1, 2, 3, 4, 1, 2]  # pruned once 4 were kept
    # Inserting only, no segment carries a deleted doc until the prune (aggregations stay blockwise).
    idx2 = SearchIndex(tmp_path / "ix2")
    for n in range(3):
        with idx2.writer(wait_s=5) as w:
            idx2.apply(w, docs[5 * n : 5 * n + 5], [d.id for d in docs[5 * n : 5 * n + 5]], [], applied=n + 1)
    assert not list(idx2.path.glob("*.del")) and idx2.count() == 15

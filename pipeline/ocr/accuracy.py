"""Character error rate: the sampled accuracy check DA/T 77 expects, used by tests and benchmarks."""

from __future__ import annotations


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions), one row at a time."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def cer(hyp: str, ref: str) -> tuple[int, int]:
    """Edit distance and reference length, whitespace removed from both."""
    a, b = "".join(hyp.split()), "".join(ref.split())
    return edit_distance(a, b), len(b)

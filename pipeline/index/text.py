"""Text normalisation and the terms the full-text index stores.

Chinese has no spaces between words, so the index stores overlapping character bigrams of each
text's *compact form* (normalised: NFKC, traditional to simplified with OpenCC t2s, lower case;
punctuation and whitespace dropped, OCR line breaks re-joined) with their positions, and its
characters without positions. Indexed text and queries are normalised alike, so 檔案 and 档案 find
each other. Then:

* a 1-character word is a term of the characters,
* a word of n >= 2 characters is the phrase of its n-1 bigrams, which matches exactly where the
  word is a substring of the compact text.

So results equal a brute-force substring search on the compact form, for words of any length
(``pipeline.index.query`` builds the expressions).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# A line break beside a CJK character is layout, not a word boundary: re-join without a space.
_CJK_BREAK = re.compile(r"\s*\n\s*(?=[^\x00-\x7f])|(?<=[^\x00-\x7f])\s*\n\s*")


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def simplified(text: str) -> str:
    """Traditional characters to simplified (OpenCC t2s, character by character so every
    character keeps its position): the index and queries both go through it, so 檔案 and 档案
    find each other. Text stored for display stays as printed."""
    if text.isascii():
        return text
    conv = _t2s().convert
    out = conv(text)
    if len(out) == len(text):
        return out
    return "".join(c2 if len(c2 := conv(c)) == 1 else c for c in text)


def normalise_char(c: str) -> str:
    """NFKC (full-width to half-width, compatibility forms), traditional to simplified, lower case."""
    return simplified(unicodedata.normalize("NFKC", c)).lower()


@dataclass(frozen=True)
class Compact:
    """The searchable characters of a text and, for each, its index in the original text."""

    chars: str
    origin: tuple[int, ...]


class _Folding(dict):
    """Each character's searchable form (NFKC, lower case, letters and digits only; often empty),
    computed once per distinct character: ``str.translate`` then folds a text at C speed."""

    def __missing__(self, code: int) -> str:
        out = "".join(n for n in unicodedata.normalize("NFKC", chr(code)).lower() if n.isalnum())
        self[code] = out
        return out


_FOLD = _Folding()


def compact_chars(text: str) -> str:
    """``compact(text).chars`` without the origins: what the index and brute force need."""
    return simplified(text).translate(_FOLD)


def compact(text: str) -> Compact:
    chars: list[str] = []
    origin: list[int] = []
    for i, c in enumerate(simplified(text)):  # same length as text: origins stay right
        folded = _FOLD[ord(c)]
        chars.append(folded)
        origin.extend([i] * len(folded))
    return Compact("".join(chars), tuple(origin))


def index_terms(chars: str) -> tuple[str, str]:
    """Space-separated (bigrams, characters) of a compact text, for a whitespace tokenizer: a
    phrase of consecutive bigrams is a substring of 2+ characters; a character term, one of 1."""
    return " ".join([chars[i : i + 2] for i in range(len(chars) - 1)]), " ".join(chars)


def _origin(simple: str, k: int, step: int = 64) -> int:
    """The index in ``simple`` (a simplified text) of the character that compact character ``k``
    comes from: whole chunks are folded at C speed, only the last one character by character
    (``compact`` folds every character in Python: 20 snippets of long pages took milliseconds)."""
    seen = i = 0
    while i < len(simple) and seen + (n := len(simple[i : i + step].translate(_FOLD))) <= k:
        seen += n
        i += step
    for j in range(i, len(simple)):
        seen += len(_FOLD[ord(simple[j])])
        if seen > k:
            return j
    raise IndexError(k)


def snippet(text: str, words: list[str], width: int = 24, mark: tuple[str, str] = ("【", "】")) -> str:
    """A piece of ``text`` around the first hit of any of ``words`` (compact forms), the hit marked."""
    flat = " ".join(_CJK_BREAK.sub("", text).split())
    if not words:
        return flat[: 2 * width]
    simple = simplified(flat)  # same length as flat: an index in it is an index in flat
    chars = simple.translate(_FOLD)
    found = [(p, w) for w in words if (p := chars.find(w)) >= 0]
    if not found:
        return flat[: 2 * width]
    pos, word = min(found)
    start, end = _origin(simple, pos), _origin(simple, pos + len(word) - 1) + 1
    lo, hi = max(0, start - width), min(len(flat), end + width)
    return (
        ("…" if lo > 0 else "")
        + flat[lo:start] + mark[0] + flat[start:end] + mark[1] + flat[end:hi]
        + ("…" if hi < len(flat) else "")
    )

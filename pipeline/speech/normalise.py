"""Chinese text from the decoder: traditional → simplified (OpenCC ``t2s``), the original kept.

Whisper often writes Mandarin in traditional characters (its training text mixes both); archives
index and search in simplified. OpenCC converts by phrase tables, not character by character, so
words like 乾隆 stay as they are.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    return _t2s().convert(text) if text else text


def opencc_version() -> str:
    import opencc

    return opencc.__version__

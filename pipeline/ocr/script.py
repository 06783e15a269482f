"""One script per page: traditional variants the recogniser slips into a simplified page.

PP-OCRv5's dictionary holds simplified and traditional forms, and on a simplified page it now and
then reads 内 as 內 or 况 as 況. A page whose simplified-only characters (档, 馆) far outnumber
its traditional-only ones (檔, 館) is a simplified page; its few traditional-only characters are
then recognition slips and are mapped back with OpenCC t2s, character by character. Traditional
pages are left as read: s2t is one-to-many (发 → 發/髮), so the reverse is not safe.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache


@lru_cache(maxsize=1)
def _cc():
    import opencc

    return opencc.OpenCC("t2s"), opencc.OpenCC("s2t")


@lru_cache(maxsize=8192)
def _kind(c: str) -> int:
    """+1 simplified-only, -1 traditional-only, 0 shared by both scripts."""
    t2s, s2t = _cc()
    if s2t.convert(c) != c:
        return 1
    if t2s.convert(c) != c:
        return -1
    return 0


def page_script(text: str) -> str:
    simp = sum(_kind(c) == 1 for c in text if "\u4e00" <= c <= "\u9fff")
    trad = sum(_kind(c) == -1 for c in text if "\u4e00" <= c <= "\u9fff")
    if simp >= 5 and simp >= 4 * trad:
        return "simplified"
    if trad >= 5 and trad >= 4 * simp:
        return "traditional"
    return "mixed"


def unify(lines: list) -> tuple[list, str]:
    """The lines with traditional slips mapped to simplified on a simplified page, and the script."""
    script = page_script("".join(ln.text for ln in lines))
    if script != "simplified":
        return lines, script
    t2s, _ = _cc()
    out = []
    for ln in lines:
        fixed = "".join(t2s.convert(c) if _kind(c) == -1 and len(t2s.convert(c)) == 1 else c for c in ln.text)
        out.append(replace(ln, text=fixed) if fixed != ln.text else ln)
    return out, script

"""Chinese punctuation the recogniser returns in Latin form, put back in context.

PP-OCR reads a lone 。 as the letter O and often gives ASCII , : ; ? ! for their full-width forms.
Between two Chinese characters (or after one at the end of a line) a Latin O or an ASCII mark
cannot be what was printed, so it becomes the full-width mark; anything beside a letter or digit
(1,000 · PDF:A · No.) is left as read.
"""

from __future__ import annotations

import re

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_FULL = {",": "，", ":": "：", ";": "；", "?": "？", "!": "！", "O": "。", "o": "。"}
_PATTERN = re.compile(rf"(?<=[{_CJK}])([,:;?!Oo])(?=[{_CJK}]|$)")


def restore(text: str) -> str:
    return _PATTERN.sub(lambda m: _FULL[m.group(1)], text)


def restore_lines(lines: list) -> list:
    """A line that is only an O right after a line ending in a Chinese character is a 。 the
    detector boxed on its own (it often sits apart, at the end of a column)."""
    from dataclasses import replace

    out = []
    for ln in lines:
        if ln.text.strip() in ("O", "o") and out and re.match(rf"[{_CJK}]", out[-1].text[-1:] or " "):
            ln = replace(ln, text="。")
        out.append(ln)
    return out

"""档号 (reference codes) after DA/T 22-2015 (件) and DA/T 13-2022 (卷).

件 form:  全宗号-门类代码·年度-保管期限代码-机构(问题)代码-件号   e.g. ``J001-WS·2021-Y-BGS-0001``
卷 form:  全宗号-目录号-案卷号[-件号]                              e.g. ``J001-003-0045``

Operators type ASCII variants of the middle dot (``.`` or ``-``); all parse to the same value and
format back in the canonical form with ``·``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.errors import RefCodeError

# 保管期限代码: Y 永久, C 长期 (before 2006), D10/D30 定期 10/30 年.
_ITEM = re.compile(
    r"^(?P<fonds>[A-Z0-9]{1,8})-(?P<category>[A-Z]{1,4}(?:\d{1,2})?)[·.\-](?P<year>\d{4})"
    r"-(?P<retention>Y|C|D\d{1,3})-(?P<org>[A-Z0-9]{1,10})-(?P<number>\d{1,6})$"
)
_FILE_UNIT = re.compile(
    r"^(?P<fonds>[A-Z0-9]{1,8})-(?P<catalogue>[0-9A-Z]{1,6})-(?P<unit>\d{1,6})(?:-(?P<number>\d{1,6}))?$"
)
_DOTS = str.maketrans({"．": ".", "・": "·", "•": "·", "‧": "·", "－": "-", "—": "-"})


@dataclass(frozen=True, order=True)
class RefCode:
    """A parsed 档号. ``str()`` gives the canonical form used as the key everywhere."""

    fonds: str
    number: str
    category: str = ""
    year: int | None = None
    retention: str = ""
    org: str = ""
    catalogue: str = ""
    unit: str = ""

    @property
    def level(self) -> str:
        return "item" if self.category else "file_unit"

    def __str__(self) -> str:
        if self.level == "item":
            return f"{self.fonds}-{self.category}·{self.year}-{self.retention}-{self.org}-{self.number}"
        tail = f"-{self.number}" if self.number else ""
        return f"{self.fonds}-{self.catalogue}-{self.unit}{tail}"

    @classmethod
    def parse(cls, text: str) -> RefCode:
        raw = (text or "").strip().translate(_DOTS).upper()
        if m := _ITEM.match(raw):
            return cls(
                fonds=m["fonds"], category=m["category"], year=int(m["year"]),
                retention=m["retention"], org=m["org"], number=m["number"],
            )
        if m := _FILE_UNIT.match(raw):
            return cls(fonds=m["fonds"], catalogue=m["catalogue"], unit=m["unit"], number=m["number"] or "")
        raise RefCodeError(f"not a 档号 (DA/T 22 件 or DA/T 13 卷 form): {text!r}")


def parse(text: str) -> RefCode:
    return RefCode.parse(text)


def is_refcode(text: str) -> bool:
    try:
        RefCode.parse(text)
    except RefCodeError:
        return False
    return True

"""Small values the OCR stage passes around."""

from __future__ import annotations

from dataclasses import dataclass, field

Point = tuple[int, int]


@dataclass(frozen=True)
class OcrLine:
    text: str
    confidence: float  # 0..1
    box: tuple[Point, ...]  # polygon, clockwise from top-left, page pixels

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        xs, ys = [p[0] for p in self.box], [p[1] for p in self.box]
        return min(xs), min(ys), max(xs), max(ys)


@dataclass(frozen=True)
class PageText:
    lines: tuple[OcrLine, ...]  # in reading order
    width: int
    height: int
    engine: str  # engine signature: name, version, models, parameters
    seconds: float = 0.0
    meta: dict = field(default_factory=dict)  # preprocessing steps, orientation, layout, timings

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def vertical(self) -> bool:
        return bool(self.meta.get("vertical"))

    @property
    def mean_confidence(self) -> float | None:
        if not self.lines:
            return None
        total = sum(len(line.text) for line in self.lines) or 1
        return sum(line.confidence * len(line.text) for line in self.lines) / total


@dataclass(frozen=True)
class Orientation:
    """How a page lies: ``angle`` turns it upright (degrees counter-clockwise, 0/90/180/270) and
    ``vertical`` says its text is set in columns (竖排). ``scores`` are the evidence per candidate."""

    angle: int = 0
    vertical: bool = False
    confidence: float = 0.0
    scores: dict = field(default_factory=dict)
    # Text boxes the engine found on the page as given, when it needs no turn: the engine may
    # reuse them instead of detecting again (same geometry after photometric cleaning).
    boxes: list | None = field(default=None, compare=False, repr=False)
    # The page's lines as the engine read them while deciding, when the page needs no turn and is
    # horizontal: on such a page (most of them) the orientation probe is the recognition itself.
    lines: list[OcrLine] | None = field(default=None, compare=False, repr=False)

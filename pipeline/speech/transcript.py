"""What speech recognition produces for one recording: timed segments of simplified text."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Segment:
    start: float  # seconds in the recording
    end: float
    text: str  # simplified (OpenCC t2s) when speech.simplify is on
    text_original: str  # as the decoder wrote it
    confidence: float  # exp(mean token log-probability), 0–1
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float

    @property
    def start_ms(self) -> int:
        return round(self.start * 1000)

    @property
    def end_ms(self) -> int:
        return round(self.end * 1000)


@dataclass
class Transcript:
    source: str
    language: str
    duration: float  # seconds of audio decoded
    speech_seconds: float  # detected speech
    engine: str  # engine signature
    segments: list[Segment] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)  # guard → segments it removed
    chunks: int = 0
    engine_seconds: float = 0.0
    meta: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(s.text for s in self.segments)

    def as_dict(self) -> dict:
        return {
            **self.meta,
            "source": self.source,
            "language": self.language,
            "duration": round(self.duration, 3),
            "speech_seconds": round(self.speech_seconds, 3),
            "engine": self.engine,
            "dropped": self.dropped,
            "text": self.text,
            "segments": [{"id": i, **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(s).items()},
                          "start_ms": s.start_ms, "end_ms": s.end_ms}
                         for i, s in enumerate(self.segments)],
        }

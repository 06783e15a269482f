"""Speech detection without an ASR model: which spans of a recording hold speech.

Two cues per 10 ms frame, both from the 300–3400 Hz telephone band where speech energy lives:

* level: the band level is well above the recording's own noise floor (its 10th percentile), so
  tape hiss and room tone count as silence whatever their absolute level;
* modulation: speech rises and falls with its syllables, about four times a second, so the level
  changes quickly from frame to frame; a steady tone, hum or held note does not.

Frames with both are speech; short gaps are bridged, short blips dropped, spans padded. Features
are computed block by block as audio streams in and kept as one float per frame (2.9 MB for two
hours), so memory stays bounded. Limits, honestly: rhythmic music with sung or percussive attacks
can pass as speech; it then reaches the decoder, where Whisper's no-speech check is the next guard.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.config import VadSettings
from pipeline.speech.audio import SAMPLE_RATE

HOP = SAMPLE_RATE // 100  # 10 ms
WIN = 400  # 25 ms
NFFT = 512
_BAND = slice(int(300 * NFFT / SAMPLE_RATE), int(3400 * NFFT / SAMPLE_RATE) + 1)
_WINDOW = np.hanning(WIN).astype(np.float32)
_SCALE = 2.0 / (NFFT * float(np.sum(_WINDOW**2)))  # band power as mean square; full-scale sine ≈ -3 dB
FLOOR_DB = -120.0


@dataclass(frozen=True)
class Span:
    start: float  # seconds
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


class SpeechDetector:
    """Feed 16 kHz mono blocks in order with ``feed``; ``spans()`` gives the speech spans."""

    def __init__(self, settings: VadSettings):
        self.settings = settings
        self._carry = np.zeros(0, dtype=np.float32)
        self._levels: list[np.ndarray] = []
        self.samples = 0

    def feed(self, block: np.ndarray) -> None:
        self.samples += block.size
        x = np.concatenate([self._carry, block.astype(np.float32, copy=False)])
        n = 0 if x.size < WIN else 1 + (x.size - WIN) // HOP
        if n:
            frames = np.lib.stride_tricks.sliding_window_view(x, WIN)[::HOP][:n]
            # Bounded work per call: at most ~4 MB of spectra at a time.
            for i in range(0, n, 2048):
                spec = np.fft.rfft(frames[i : i + 2048] * _WINDOW, NFFT)
                power = (spec.real[:, _BAND] ** 2 + spec.imag[:, _BAND] ** 2).sum(axis=1) * _SCALE
                self._levels.append((10 * np.log10(power + 1e-12)).astype(np.float32))
        self._carry = x[n * HOP :].copy()

    @property
    def levels(self) -> np.ndarray:
        """Speech-band level per 10 ms frame, dBFS."""
        if len(self._levels) > 1:
            self._levels = [np.concatenate(self._levels)]
        return self._levels[0] if self._levels else np.zeros(0, dtype=np.float32)

    def speech_frames(self) -> np.ndarray:
        s = self.settings
        lv = np.maximum(self.levels, FLOOR_DB)
        if lv.size == 0:
            return np.zeros(0, dtype=bool)
        floor = float(np.percentile(lv, 10))
        loud = lv > max(floor + s.threshold_db, s.min_level_db)
        # Mean absolute frame-to-frame change over half a second; one onset step counts at most 6 dB.
        delta = np.minimum(np.abs(np.diff(lv, prepend=lv[0])), 6.0)
        modulation = _moving_mean(delta, 50)
        return loud & (modulation >= s.min_modulation_db)

    def spans(self) -> list[Span]:
        s = self.settings
        speech = self.speech_frames()
        runs = _runs(speech)
        # Bridge short pauses, then drop blips, then pad, in frames.
        merged: list[list[int]] = []
        for a, b in runs:
            if merged and a - merged[-1][1] < s.min_silence_ms // 10:
                merged[-1][1] = b
            else:
                merged.append([a, b])
        total = self.samples / SAMPLE_RATE
        pad = s.pad_ms / 1000
        out: list[Span] = []
        for a, b in merged:
            if (b - a) * 10 < s.min_speech_ms:
                continue
            start, end = max(0.0, a / 100 - pad), min(total, (b * HOP + WIN) / SAMPLE_RATE + pad)
            if out and start <= out[-1].end:
                out[-1] = Span(out[-1].start, end)
            else:
                out.append(Span(round(start, 3), round(end, 3)))
        return out


def _moving_mean(x: np.ndarray, width: int) -> np.ndarray:
    c = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])
    half = width // 2
    idx = np.arange(x.size)
    lo, hi = np.maximum(idx - half, 0), np.minimum(idx + half + 1, x.size)
    return (c[hi] - c[lo]) / (hi - lo)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of the True runs of a boolean array."""
    if mask.size == 0:
        return []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


@dataclass(frozen=True)
class Piece:
    """A stretch of the source placed at ``offset`` seconds inside a decoder chunk."""

    offset: float
    start: float
    end: float


@dataclass(frozen=True)
class Chunk:
    """Speech spans packed, silence left out, into one decoder window (≤ 30 s)."""

    pieces: tuple[Piece, ...]

    @property
    def seconds(self) -> float:
        last = self.pieces[-1]
        return last.offset + last.end - last.start

    @property
    def start(self) -> float:
        return self.pieces[0].start

    def to_source(self, t: float) -> float:
        """Map a time inside the chunk to the time in the recording."""
        t = min(max(t, 0.0), self.seconds)
        for p in reversed(self.pieces):
            if t >= p.offset:
                return min(p.start + (t - p.offset), p.end)
        return self.pieces[0].start


def pack_chunks(spans: list[Span], levels: np.ndarray, chunk_seconds: float) -> list[Chunk]:
    """Pack speech spans into chunks of at most ``chunk_seconds``, in order, silence removed.

    Whisper encodes a full 30 s window whatever the input length, so packing short utterances
    together saves whole encoder passes; a span longer than a window is cut at its quietest frame
    in the window's last third, not mid-word.
    """
    pieces: list[Span] = []
    for sp in spans:
        a = sp.start
        while sp.end - a > chunk_seconds:
            lo, hi = int((a + chunk_seconds * 2 / 3) * 100), int((a + chunk_seconds) * 100)
            window = levels[lo:hi]
            cut = (lo + int(np.argmin(window))) / 100 if window.size else a + chunk_seconds
            cut = min(max(cut, a + 1.0), a + chunk_seconds)
            pieces.append(Span(a, cut))
            a = cut
        pieces.append(Span(a, sp.end))
    chunks: list[Chunk] = []
    current: list[Piece] = []
    used = 0.0
    for sp in pieces:
        if current and used + sp.seconds > chunk_seconds:
            chunks.append(Chunk(tuple(current)))
            current, used = [], 0.0
        current.append(Piece(round(used, 3), sp.start, sp.end))
        used += sp.seconds
    if current:
        chunks.append(Chunk(tuple(current)))
    return chunks

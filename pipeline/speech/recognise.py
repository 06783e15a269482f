"""The speech stage on one recording, as plain functions.

``prepare``: probe, decode once (streamed) into the 16 kHz WAV copy while detecting speech.
``transcribe_prepared``: pack the speech spans into decoder chunks, read each from the copy, run
the engine, map times back to the recording, apply the guards, convert to simplified Chinese.
Memory is bounded by one chunk of audio plus one float per 10 ms frame.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.config import SpeechSettings
from pipeline.errors import InputFileError
from pipeline.speech.audio import AudioCopy, MediaInfo, WavWriter, check_complete, decode, probe, read_span
from pipeline.speech.detect import Span, SpeechDetector, pack_chunks
from pipeline.speech.engines.base import RawSegment, SpeechEngine
from pipeline.speech.normalise import to_simplified
from pipeline.speech.transcript import Segment, Transcript

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """A recording ready for the decoder: its facts, its 16 kHz copy and where the speech is."""

    source: Path
    info: MediaInfo
    copy: AudioCopy
    spans: list[Span]
    levels: np.ndarray = field(repr=False)

    @property
    def duration(self) -> float:
        return self.copy.seconds

    @property
    def speech_seconds(self) -> float:
        return sum(s.seconds for s in self.spans)


def _checked_probe(path: Path, settings: SpeechSettings) -> MediaInfo:
    info = probe(path)
    if info.duration and info.duration > settings.max_seconds:
        raise InputFileError(path, f"declares {info.duration / 3600:.1f} h, above the limit of "
                                   f"{settings.max_seconds / 3600:.1f} h (speech.max_seconds)")
    return info


def prepare(path: Path, copy_path: Path, settings: SpeechSettings) -> Prepared:
    """Probe ``path`` and decode it once into ``copy_path`` while detecting speech.

    Raises the InputFileError family (NoAudioTrack, EmptyMedia, TruncatedMedia, CorruptFile); the
    copy is then not left behind.
    """
    info = _checked_probe(path, settings)
    detector = SpeechDetector(settings.vad)
    writer = WavWriter(copy_path)
    try:
        for block in decode(path, settings.max_seconds):
            writer.write(block)
            detector.feed(block)
        check_complete(path, info, detector.samples)
    except BaseException:
        writer.abort()
        raise
    copy = writer.close()
    return Prepared(path, info, copy, detector.spans(), detector.levels)


def detect_speech(path: Path, settings: SpeechSettings) -> tuple[MediaInfo, float, list[Span]]:
    """Speech spans of a recording without keeping any audio: (facts, decoded seconds, spans)."""
    info = _checked_probe(path, settings)
    detector = SpeechDetector(settings.vad)
    for block in decode(path, settings.max_seconds):
        detector.feed(block)
    check_complete(path, info, detector.samples)
    return info, detector.samples / 16_000, detector.spans()


def redetect(source: Path, info: MediaInfo, copy: AudioCopy, settings: SpeechSettings) -> Prepared:
    """Speech spans again from an existing 16 kHz copy (no decoding of the master)."""
    import wave

    detector = SpeechDetector(settings.vad)
    with wave.open(str(copy.path), "rb") as wav:
        while raw := wav.readframes(16_000 * 60):
            detector.feed(np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0)
    return Prepared(source, info, copy, detector.spans(), detector.levels)


def guard(seg: RawSegment, settings: SpeechSettings) -> str | None:
    """Why a decoded segment is not kept (Whisper's own checks, applied to every engine alike)."""
    if not seg.text.strip():
        return "empty"
    if settings.compression_ratio_threshold is not None and seg.compression_ratio > settings.compression_ratio_threshold:
        return "repetition"
    if (settings.no_speech_threshold is not None and seg.no_speech_prob > settings.no_speech_threshold
            and (settings.logprob_threshold is None or seg.avg_logprob < settings.logprob_threshold)):
        return "no-speech"
    return None


def transcribe_prepared(prep: Prepared, engine: SpeechEngine, settings: SpeechSettings) -> Transcript:
    t = Transcript(str(prep.source), settings.language, prep.duration, prep.speech_seconds, engine.signature())
    last_ms = -1
    for chunk in pack_chunks(prep.spans, prep.levels, settings.chunk_seconds):
        audio = np.concatenate([read_span(prep.copy.path, p.start, p.end) for p in chunk.pieces])
        t0 = time.perf_counter()
        raw = engine.transcribe(audio)
        t.engine_seconds += time.perf_counter() - t0
        t.chunks += 1
        for r in raw:
            why = guard(r, settings)
            if why is None and r.start >= chunk.seconds:
                why = "outside-audio"  # a decoder timestamp past the end of what it was given
            if why:
                t.dropped[why] = t.dropped.get(why, 0) + 1
                continue
            start, end = chunk.to_source(r.start), chunk.to_source(min(r.end, chunk.seconds))
            start_ms = max(round(start * 1000), last_ms + 1)  # (档号, start) stays a key
            end = max(end, start_ms / 1000)
            last_ms = start_ms
            text = r.text.strip()
            t.segments.append(Segment(
                start_ms / 1000, round(end, 3), to_simplified(text) if settings.simplify else text, text,
                round(min(1.0, math.exp(r.avg_logprob)), 4), r.avg_logprob, r.no_speech_prob, r.compression_ratio))
    if t.dropped:
        log.info("%s: guards dropped %s", prep.source.name, t.dropped)
    return t

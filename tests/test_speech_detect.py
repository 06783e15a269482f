import json
import subprocess
import sys
import wave

import numpy as np
import pytest

from pipeline.config import VadSettings
from pipeline.speech.detect import Span, SpeechDetector, pack_chunks

from .conftest import ROOT
from .speech_fixtures import SR, clip_audio, hiss, tone


def _spans(audio: np.ndarray) -> list[Span]:
    d = SpeechDetector(VadSettings())
    for i in range(0, audio.size, 7_777):  # odd block sizes: frames straddle block edges
        d.feed(audio[i : i + 7_777])
    return d.spans()


def test_silence_hiss_tone_and_held_notes_are_not_speech():
    assert _spans(np.zeros(5 * SR, np.float32)) == []
    assert _spans(hiss(5)) == []
    assert _spans(np.concatenate([hiss(1), tone(4), hiss(1)])) == []
    notes = np.concatenate([tone(0.5, f) for f in (262, 330, 392, 523, 392, 330, 262, 330)])
    assert _spans(np.concatenate([notes, hiss(2)])) == []


def test_speech_between_hiss_and_a_tone_is_found_where_it_is():
    clip = 0.6 * clip_audio()
    n = clip.size / SR
    audio = np.concatenate([hiss(3), clip, hiss(2), tone(5), hiss(2), clip, hiss(1)])
    spans = _spans(audio)
    first = (3.0, 3.0 + n)
    second = (3.0 + n + 9.0, 3.0 + 2 * n + 9.0)
    assert spans
    for s in spans:  # every span lies on one of the two utterances (± padding), never on the tone
        assert any(a - 0.5 <= s.start and s.end <= b + 0.5 for a, b in (first, second)), s
    covered = sum(s.seconds for s in spans)
    assert covered > 1.4 * n


def test_chunks_leave_silence_out_and_map_times_back():
    spans = [Span(1.0, 11.0), Span(20.0, 35.0), Span(60.0, 130.0)]
    levels = np.zeros(14_000, np.float32)
    levels[8500] = -90  # the quietest frame in the last third of the first window: cut there
    chunks = pack_chunks(spans, levels, 30.0)
    assert all(c.seconds <= 30.0 + 1e-9 for c in chunks)
    pieces = [p for c in chunks for p in c.pieces]
    assert sum(p.end - p.start for p in pieces) == pytest.approx(10 + 15 + 70)
    assert any(p.end == 85.0 for p in pieces)  # cut at the quiet frame, not at 30 s sharp
    first = chunks[0]
    assert [(p.offset, p.start, p.end) for p in first.pieces] == [(0.0, 1.0, 11.0), (10.0, 20.0, 35.0)]
    assert first.to_source(5.0) == 6.0 and first.to_source(12.0) == 22.0
    assert first.to_source(99.0) == 35.0  # a decoder time past the chunk clamps to its end


def test_two_hours_stream_in_bounded_memory(tmp_path):
    """A two-hour tape (8 kHz, tone, hiss and a few utterances) is detected in bounded memory."""
    rate, hours = 8_000, 2
    path = tmp_path / "tape.wav"
    clip = clip_audio()[::2]  # 8 kHz
    minute = np.concatenate([tone(20, 300, 0.1, rate), hiss(40, 0.003, rate)]).astype(np.float32)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        for m in range(60 * hours):
            block = minute.copy()
            if m % 30 == 0:  # one utterance every half hour
                block[25 * rate : 25 * rate + clip.size] += 0.6 * clip
            w.writeframes(np.clip(np.round(block * 32767), -32768, 32767).astype("<i2").tobytes())
    # The child's own peak (VmHWM): ru_maxrss would start at pytest's peak, carried over fork and
    # exec, and hide any growth below it.
    code = f"""
import json, time
from pathlib import Path
from bench.memory import peak_rss_mb
from pipeline.config import SpeechSettings
from pipeline.speech.recognise import detect_speech
before = peak_rss_mb()
t = time.perf_counter()
info, seconds, spans = detect_speech(Path({str(path)!r}), SpeechSettings())
print(json.dumps({{"before_mb": before, "after_mb": peak_rss_mb(),
                  "seconds": seconds, "spans": [[s.start, s.end] for s in spans], "wall": time.perf_counter() - t}}))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert out["seconds"] == pytest.approx(hours * 3600, abs=0.1)
    file_mb = path.stat().st_size / 2**20
    growth_mb = out["after_mb"] - out["before_mb"]
    # The 16 kHz float audio would be 460 MB; the detector keeps one float per 10 ms frame (3 MB).
    assert growth_mb < 120, f"peak RSS grew {growth_mb:.0f} MB on a {file_mb:.0f} MB file"
    starts = [a for a, _ in out["spans"]]
    assert len(starts) >= 4 and all(any(abs(s - (m * 60 + 25)) < 3 for m in range(0, 120, 30)) for s in starts)

import json

import numpy as np
import pytest

from pipeline.config import SpeechSettings
from pipeline.speech.audio import AudioCopy, MediaInfo
from pipeline.speech.detect import Span
from pipeline.speech.engines.base import RawSegment
from pipeline.speech.normalise import to_simplified
from pipeline.speech.recognise import Prepared, transcribe_prepared
from pipeline.speech.transcript import Segment, Transcript
from pipeline.speech.writers import get_writer, timestamp

from .speech_fixtures import hiss, write_wav


def _transcript() -> Transcript:
    segs = [Segment(1.0, 2.5, "档案馆", "檔案館", 0.9, -0.1, 0.01, 1.2),
            Segment(62.345, 3725.5, "语音识别 --> 完成", "語音識別 --> 完成", 0.8, -0.2, 0.02, 1.1)]
    return Transcript("x.wav", "zh", 3730.0, 3700.0, "eng:1", segs)


def test_t2s_keeps_phrases_and_leaves_simplified_alone():
    assert to_simplified("檔案館") == "档案馆"
    assert to_simplified("有條件的進行語音識別") == "有条件的进行语音识别"
    assert to_simplified("乾隆年間") == "乾隆年间"  # phrase-aware: not 干隆
    assert to_simplified("档案数字化") == "档案数字化"


def test_formats_like_whispers_writers(tmp_path):
    paths = get_writer("all")(_transcript(), tmp_path / "item")
    assert [p.name for p in paths] == ["item.txt", "item.srt", "item.vtt", "item.tsv", "item.json"]
    txt, srt, vtt, tsv, js = (p.read_text(encoding="utf-8") for p in paths)
    assert txt == "档案馆\n语音识别 --> 完成\n"
    assert srt.startswith("1\n00:00:01,000 --> 00:00:02,500\n档案馆\n\n2\n00:01:02,345 --> 01:02:05,500\n")
    assert "语音识别 -> 完成" in srt  # a cue's text never contains the timing arrow
    assert vtt.startswith("WEBVTT\n\n00:01.000 --> 00:02.500\n档案馆\n\n01:02.345 --> 01:02:05.500\n")
    assert tsv.splitlines() == ["start\tend\ttext", "1000\t2500\t档案馆", "62345\t3725500\t语音识别 --> 完成"]
    doc = json.loads(js)
    assert doc["segments"][0]["text"] == "档案馆" and doc["segments"][0]["text_original"] == "檔案館"
    assert doc["segments"][1]["start_ms"] == 62345
    assert timestamp(3600.0) == "01:00:00.000" and timestamp(0.002, False) == "00:00.002"
    with pytest.raises(ValueError, match="unknown transcript format"):
        get_writer("docx")


class TraditionalEngine:
    """Plumbing double: answers every chunk with the same traditional-character segments."""

    def signature(self):
        return "double:1"

    def transcribe(self, audio):
        n = audio.size / 16_000
        return [RawSegment(0.0, 1.0, " 檔案館 ", -0.2, 0.01, 1.1), RawSegment(1.0, n + 5, "語音識別", -0.3, 0.02, 1.0),
                RawSegment(n + 1, n + 2, "幻覺", -0.3, 0.02, 1.0)]


def test_transcripts_are_simplified_with_the_original_kept_and_clamped(tmp_path):
    copy = write_wav(tmp_path / "c.wav", np.concatenate([hiss(4), hiss(3, amp=0.2)]))
    prep = Prepared(copy, MediaInfo("wav", "pcm_s16le", 16000, 1, "mono", 7.0, 0), AudioCopy(copy, 7 * 16000),
                    [Span(4.0, 7.0)], np.zeros(700, np.float32))
    t = transcribe_prepared(prep, TraditionalEngine(), SpeechSettings())
    assert [(s.text, s.text_original) for s in t.segments] == [("档案馆", "檔案館"), ("语音识别", "語音識別")]
    assert [(s.start, s.end) for s in t.segments] == [(4.0, 5.0), (5.0, 7.0)]  # mapped to the recording, clamped
    assert t.dropped == {"outside-audio": 1}
    raw = transcribe_prepared(prep, TraditionalEngine(), SpeechSettings(simplify=False))
    assert raw.segments[0].text == "檔案館"

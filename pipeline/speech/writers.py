"""Transcript files in openai-whisper's formats: txt, srt, vtt, tsv (integer ms), json.

As whisper's ``get_writer``: one small class per format, ``get_writer("all")`` writes them all.
Files are written under a temporary name and renamed, so a crash never leaves half a file.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from pipeline.export.writers import atomic_write
from pipeline.speech.transcript import Transcript


def timestamp(seconds: float, hours: bool = True, marker: str = ".") -> str:
    ms = max(0, round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    head = f"{h:02d}:" if hours or h else ""
    return f"{head}{m:02d}:{s:02d}{marker}{ms:03d}"


def _cue_text(text: str) -> str:
    return text.replace("-->", "->").replace("\n", " ")


class TranscriptWriter(ABC):
    extension: str

    @abstractmethod
    def render(self, t: Transcript) -> str: ...

    def write(self, t: Transcript, stem: Path) -> Path:
        path = stem.with_name(f"{stem.name}.{self.extension}")
        atomic_write(path, self.render(t).encode("utf-8"))
        return path


class WriteTXT(TranscriptWriter):
    extension = "txt"

    def render(self, t: Transcript) -> str:
        return "".join(f"{s.text}\n" for s in t.segments)


class WriteSRT(TranscriptWriter):
    extension = "srt"

    def render(self, t: Transcript) -> str:
        return "".join(
            f"{i}\n{timestamp(s.start, True, ',')} --> {timestamp(s.end, True, ',')}\n{_cue_text(s.text)}\n\n"
            for i, s in enumerate(t.segments, 1))


class WriteVTT(TranscriptWriter):
    extension = "vtt"

    def render(self, t: Transcript) -> str:
        return "WEBVTT\n\n" + "".join(
            f"{timestamp(s.start, False)} --> {timestamp(s.end, False)}\n{_cue_text(s.text)}\n\n" for s in t.segments)


class WriteTSV(TranscriptWriter):
    """Start and end in integer milliseconds, as whisper writes them, so no float parsing is needed."""

    extension = "tsv"

    def render(self, t: Transcript) -> str:
        rows = [f"{s.start_ms}\t{s.end_ms}\t{s.text.replace(chr(9), ' ').replace(chr(10), ' ')}\n" for s in t.segments]
        return "start\tend\ttext\n" + "".join(rows)


class WriteJSON(TranscriptWriter):
    extension = "json"

    def render(self, t: Transcript) -> str:
        return json.dumps(t.as_dict(), ensure_ascii=False, indent=1) + "\n"


WRITERS: dict[str, type[TranscriptWriter]] = {"txt": WriteTXT, "srt": WriteSRT, "vtt": WriteVTT, "tsv": WriteTSV,
                                              "json": WriteJSON}


def get_writer(fmt: str) -> Callable[[Transcript, Path], list[Path]]:
    names = list(WRITERS) if fmt == "all" else [fmt]
    unknown = [n for n in names if n not in WRITERS]
    if unknown:
        raise ValueError(f"unknown transcript format {unknown[0]!r}; choose from {', '.join(WRITERS)} or all")
    writers = [WRITERS[n]() for n in names]

    def write_all(t: Transcript, stem: Path) -> list[Path]:
        return [w.write(t, stem) for w in writers]

    return write_all

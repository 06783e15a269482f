"""The speech stage over a batch's recordings, against the store ("有条件的进行语音识别").

With a model configured, each recording is decoded once to its 16 kHz copy, speech-detected,
transcribed, written in whisper's formats and stored as segments indexed for search. Without one,
the same runs up to detection and the recording waits as ``awaiting-transcription``: the flow
does not fail, and progress counts the minutes waiting. Re-runs skip recordings already done from
the same bytes (SHA-256) by the same engine configuration, or (with no model) already detected.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import Settings
from pipeline.errors import InputFileError
from pipeline.ingest import Failure
from pipeline.ingest.fixity import digest_file
from pipeline.speech.audio import AudioCopy, MediaInfo, ffmpeg_versions, probe
from pipeline.speech.engines.base import SpeechEngine
from pipeline.speech.recognise import Prepared, prepare, redetect, transcribe_prepared
from pipeline.speech.writers import get_writer
from pipeline.store import SQLiteStore

log = logging.getLogger(__name__)

AWAITING = "awaiting-transcription"
TRANSCRIBED = "transcribed"


@dataclass(frozen=True)
class AvRef:
    """One recording to process: where it comes from and where it sits on its item's timeline."""

    refcode: str
    part: int  # 1-based among the item's recordings, in file-name order
    offset_ms: int  # the item's earlier recordings, end to end (declared durations)
    path: Path
    relpath: str
    file_sha256: str
    batch: str


@dataclass
class SpeechResult:
    transcribed: int = 0
    awaiting: int = 0
    skipped: int = 0
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0  # audio decoded
    speech_seconds: float = 0.0
    engine_seconds: float = 0.0
    total_seconds: float = 0.0


def av_refs(files, batch: str) -> list[AvRef]:
    """The recordings among ingested files, numbered per item; offsets from the containers' headers."""
    out: list[AvRef] = []
    by_item: dict[str, list] = {}
    for f in sorted((f for f in files if f.format.media == "av"), key=lambda f: (f.refcode, f.relpath)):
        by_item.setdefault(f.refcode, []).append(f)
    for refcode, group in by_item.items():
        offset = 0.0
        for part, f in enumerate(group, 1):
            out.append(AvRef(refcode, part, round(offset * 1000), f.path, f.relpath, f.sha256, batch))
            if len(group) > 1:
                try:
                    offset += probe(f.path).duration or 0.0
                except InputFileError:
                    pass  # it fails on its own in the speech stage
    return out


def pending_av(refs: list[AvRef], store: SQLiteStore, engine_signature: str | None) -> list[AvRef]:
    """Recordings still to do: not transcribed by this engine, or (no model) not yet detected."""
    return [r for r in refs if not _finished(r, store, engine_signature)]


def _finished(ref: AvRef, store: SQLiteStore, signature: str | None) -> bool:
    if signature is not None:
        return store.av_done(str(ref.path), ref.file_sha256, signature)
    row = store.av_row(str(ref.path))
    return bool(row and row["file_sha256"] == ref.file_sha256 and row["state"] in (AWAITING, TRANSCRIBED))


def item_dir(settings: Settings, ref: AvRef) -> Path:
    return settings.out_dir / ref.refcode


def _stem(settings: Settings, ref: AvRef) -> Path:
    return item_dir(settings, ref) / f"audio-{ref.part:02d}"


def _facts(prep: Prepared, keep_copy: bool) -> dict:
    facts = {"media": prep.info.as_dict(), "duration": round(prep.duration, 3),
             "speech_seconds": round(prep.speech_seconds, 3),
             "spans": [[s.start, s.end] for s in prep.spans], "tool": ffmpeg_versions()}
    if keep_copy:
        d = digest_file(prep.copy.path)
        facts |= {"audio_copy": str(prep.copy.path), "audio_copy_sha256": d.sha256, "audio_copy_sm3": d.sm3}
    return facts


def _reuse(ref: AvRef, store: SQLiteStore, settings: Settings) -> Prepared | None:
    """A copy made by an earlier run (e.g. before a model was configured), if still intact."""
    row = store.av_row(str(ref.path))
    if not (row and row["file_sha256"] == ref.file_sha256 and row["audio_copy"] and row["audio_copy_sha256"]):
        return None
    path = Path(row["audio_copy"])
    if not path.is_file() or digest_file(path).sha256 != row["audio_copy_sha256"]:
        return None
    info = MediaInfo(**json.loads(row["media"]))
    samples = round(row["duration"] * 16_000)
    prep = redetect(ref.path, info, AudioCopy(path, samples), settings.speech)
    if [[s.start, s.end] for s in prep.spans] != json.loads(row["spans"]):
        log.info("%s: speech detection settings changed since the copy was made", ref.relpath)
    return prep


def process_recordings(refs: list[AvRef], settings: Settings, store: SQLiteStore, engine: SpeechEngine | None,
                       run_id: str | None = None) -> SpeechResult:
    """Detect (and, with an engine, transcribe) each recording; every failure stays with its file."""
    sp = settings.speech
    result = SpeechResult()
    t_start = time.perf_counter()
    signature = engine.signature() if engine else None
    write = get_writer("all")
    for ref in refs:
        if _finished(ref, store, signature):
            result.skipped += 1
            continue
        try:
            stem = _stem(settings, ref)
            prep = _reuse(ref, store, settings) if engine else None
            fresh = prep is None
            if fresh:
                prep = prepare(ref.path, stem.with_name(stem.name + ".16k.wav"), sp)
            result.seconds += prep.duration
            result.speech_seconds += prep.speech_seconds
            if fresh:
                store.save_av_detection(ref, _facts(prep, sp.keep_audio_copy), AWAITING, run_id)
            if engine is None:
                result.awaiting += 1
            else:
                transcript = transcribe_prepared(prep, engine, sp)
                transcript.meta = {"refcode": ref.refcode, "part": ref.part, "source_sha256": ref.file_sha256,
                                   "audio_copy": str(prep.copy.path) if sp.keep_audio_copy else None}
                write(transcript, stem)
                store.save_transcript(ref, transcript, run_id)
                result.transcribed += 1
                result.engine_seconds += transcript.engine_seconds
            if not sp.keep_audio_copy:
                prep.copy.path.unlink(missing_ok=True)
        except InputFileError as exc:
            failure = Failure(ref.relpath, exc.kind, exc.reason, "speech", ref.refcode)
        except Exception as exc:  # an engine crash fails this recording, not the batch
            log.exception("speech recognition failed on %s", ref.relpath)
            failure = Failure(ref.relpath, "speech-failed", f"{type(exc).__name__}: {exc}", "speech", ref.refcode)
        else:
            continue
        store.mark_av_failed(ref, failure.reason)
        store.record_failure(ref.batch, failure, run_id)
        result.failures.append(failure)
    result.total_seconds = time.perf_counter() - t_start
    return result


def speech_signature(settings: Settings) -> str | None:
    """The configured engine's signature without loading it; None when no model is configured."""
    from pipeline.speech.engines import engine_class
    from pipeline.speech.models import resolve_model

    model = resolve_model(settings.speech)
    return None if model is None else engine_class(settings.speech).signature_for(settings.speech, model)


def configured_engine(settings: Settings) -> SpeechEngine | None:
    """The process's shared engine for the configured model, or None ("有条件": no model, no ASR)."""
    from pipeline.speech.engines import shared_engine
    from pipeline.speech.models import resolve_model

    model = resolve_model(settings.speech)
    return None if model is None else shared_engine(settings.speech, model)

import shutil
import subprocess
import sys
import os

import numpy as np
import pytest

from pipeline.config import load_settings
from pipeline.digitise import ingest_batch
from pipeline.plans import find_plan
from pipeline.progress import progress_report, render_text
from pipeline.search import SearchRequest, search
from pipeline.speech.engines import create_engine
from pipeline.speech.models import resolve_model
from pipeline.speech.stage import AWAITING, TRANSCRIBED, pending_av, process_recordings
from pipeline.store import open_store

from .conftest import SAMPLES
from .speech_fixtures import CLIP, VIDEO, clip_audio, encode, random_checkpoint, write_wav


@pytest.fixture
def av_batch(tmp_path):
    batch = tmp_path / "batch"
    batch.mkdir()
    for f in (CLIP, VIDEO):
        shutil.copy(f, batch / f.name)
    rows = [r for r in (SAMPLES / "catalogue.csv").read_text(encoding="utf-8").splitlines() if "-L" in r or r.startswith("档号")]
    (batch / "catalogue.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return batch


def _settings(tmp_path, **speech):
    base = {"temperature": [0.0], "beam_size": 1, "max_new_tokens": 24, "compression_ratio_threshold": None,
            "no_speech_threshold": None, "ct2_cache": str(tmp_path / "ct2")}
    return load_settings(data_dir=tmp_path / "data", speech=base | speech)


def test_without_a_model_recordings_wait_and_nothing_fails(tmp_path, av_batch):
    s = _settings(tmp_path)
    with open_store(s.db_url) as store:
        ing = ingest_batch(av_batch, s, store)
        assert len(ing.recordings) == 2 and ing.pages == [] and ing.failures == []
        result = process_recordings(ing.recordings, s, store, None)
        assert (result.awaiting, result.transcribed, result.failures) == (2, 0, [])
        rows = store.db.execute("SELECT * FROM av ORDER BY refcode").fetchall()
        assert [r["state"] for r in rows] == [AWAITING, AWAITING]
        assert all(r["speech_seconds"] > 2 and r["duration"] > r["speech_seconds"] for r in rows)
        assert store.counts()["segments"] == 0
        # The 16 kHz copy is a recorded derivative with its fixity.
        copy = rows[0]["audio_copy"]
        assert copy.endswith(".16k.wav") and os.path.isfile(copy) and len(rows[0]["audio_copy_sm3"]) == 64
        events = {r["type"] for r in store.db.execute("SELECT type FROM events")}
        assert {"derivative creation", "speech detection"} <= events
        # A re-run with still no model does nothing again.
        assert pending_av(ing.recordings, store, None) == []
        report = progress_report(store, find_plan(s.plans_dir, s.progress.plan), s)
    total = report.total
    assert total.items_digitised == 2 and total.transcribed_seconds == 0
    assert total.waiting_seconds == pytest.approx(sum(r["speech_seconds"] for r in rows))
    assert "待转写" in render_text(report)


def test_with_a_model_segments_are_stored_indexed_and_searchable(tmp_path, av_batch):
    ckpt = random_checkpoint(tmp_path / "m.pt")
    s0 = _settings(tmp_path)
    with open_store(s0.db_url) as store:
        ing = ingest_batch(av_batch, s0, store)
        process_recordings(ing.recordings, s0, store, None)  # first without a model
    s = _settings(tmp_path, model=str(ckpt))
    engine = create_engine(s.speech, resolve_model(s.speech))
    with open_store(s.db_url) as store:
        result = process_recordings(ing.recordings, s, store, engine)
        assert (result.transcribed, result.failures) == (2, [])
        av = {r["refcode"]: r for r in store.db.execute("SELECT * FROM av")}
        assert {r["state"] for r in av.values()} == {TRANSCRIBED}
        segs = store.db.execute("SELECT * FROM segments ORDER BY refcode, start_ms").fetchall()
        assert segs and all(0 <= r["start_ms"] <= r["end_ms"] <= av[r["refcode"]]["duration"] * 1000 for r in segs)
        c = store.counts()
        assert c["docs"] == c["indexed"] == len(segs)
        # A search hit on a segment links to the second in the recording.
        target = next(r for r in segs if len(r["text"].replace(" ", "")) >= 2 and r["refcode"].startswith("J001-LY"))
        word = target["text"].replace(" ", "")[:2]
        res = search(store, s, SearchRequest(word, "staff", limit=100))
        hit = next(h for h in res.hits if h.kind == "segment" and h.start == target["start_ms"] / 1000)
        assert hit.refcode == "J001-LY·2021-Y-BGS-0001" and hit.recording == 1
        assert hit.end == target["end_ms"] / 1000
        # The video is 未审核: public search never sees its segments.
        public = search(store, s, SearchRequest(word, "public", limit=100))
        assert all(h.refcode == "J001-LY·2021-Y-BGS-0001" for h in public.hits)
        # Re-running with the same engine skips both; no rows change.
        before = store.counts()
        again = process_recordings(ing.recordings, s, store, engine)
        assert again.skipped == 2 and again.transcribed == 0
        assert {k: v for k, v in store.counts().items() if k != "events"} == {k: v for k, v in before.items() if k != "events"}
    out = s.out_dir / "J001-LY·2021-Y-BGS-0001"
    for ext in ("txt", "srt", "vtt", "tsv", "json", "16k.wav"):
        assert (out / f"audio-01.{ext}").is_file()
    tsv = (out / "audio-01.tsv").read_text(encoding="utf-8").splitlines()
    assert tsv[0] == "start\tend\ttext" and all(line.split("\t")[0].isdigit() for line in tsv[1:])


def test_bad_recordings_fail_alone_with_reasons(tmp_path, av_batch):
    good = clip_audio()
    cut = write_wav(tmp_path / "full.wav", np.concatenate([good, good])).read_bytes()
    (av_batch / "J001-LY-2021-Y-BGS-0007.wav").write_bytes(cut[: len(cut) // 3])
    encode(av_batch / "J001-LX-2021-Y-BGS-0008.mp4", None, "mp4", None, "libx264")
    write_wav(av_batch / "J001-LY-2021-Y-BGS-0009.wav", np.zeros(0, np.float32))
    s = _settings(tmp_path)
    with open_store(s.db_url) as store:
        ing = ingest_batch(av_batch, s, store)
        result = process_recordings(ing.recordings, s, store, None)
        failures = {r["path"]: r["kind"] for r in store.failures(ing.batch)}
        states = dict(store.db.execute("SELECT refcode, state FROM av").fetchall())
        again = process_recordings(ing.recordings, s, store, None)
        n_fail = len(store.failures(ing.batch))
    assert result.awaiting == 2 and len(result.failures) == 3
    assert failures == {"J001-LY-2021-Y-BGS-0007.wav": "truncated-media", "J001-LX-2021-Y-BGS-0008.mp4": "no-audio-track",
                        "J001-LY-2021-Y-BGS-0009.wav": "empty-media"}
    assert list(states.values()).count("failed") == 3
    assert len(again.failures) == 3 and n_fail == 3  # retried, still one row each


def test_transcribe_cli(tmp_path):
    env = {**os.environ, "DANGAN_DATA_DIR": str(tmp_path / "d")}
    env.pop("DANGAN_SPEECH_MODEL", None)
    profile = tmp_path / "fast.yaml"  # greedy, short: a random model would otherwise fill every window
    profile.write_text("speech:\n  temperature: [0.0]\n  beam_size: 1\n  max_new_tokens: 24\n", encoding="utf-8")
    run = lambda *a: subprocess.run([sys.executable, "-m", "pipeline", "--profile", str(profile), "transcribe", *a], env=env,  # noqa: E731
                                    capture_output=True, text=True, timeout=300)
    r = run(str(CLIP))
    assert r.returncode == 3 and "speech model not configured" in r.stderr
    ckpt = random_checkpoint(tmp_path / "m.pt")
    junk = tmp_path / "notes.wav"
    junk.write_text("not audio", encoding="utf-8")
    r = run(str(CLIP), str(VIDEO), str(junk), "--model", str(ckpt), "--format", "srt", "-o", str(tmp_path / "out"))
    assert r.returncode == 2, r.stderr[-2000:]
    assert "FAILED" in r.stderr and "notes.wav" in r.stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["J001-LX-2021-Y-BGS-0001.srt", "J001-LY-2021-Y-BGS-0001.srt"]
    r = run(str(CLIP), "--model", "no-such-model")
    assert r.returncode == 3 and "whisper cache" in r.stderr

"""Speech benchmark: real-time factor and peak memory per engine, on one clip and one checkpoint.

For each checkpoint shape (tiny, small: seeded random weights in whisper's own ModelDimensions,
or a real checkpoint with --model), each engine (openai-whisper; faster-whisper int8 on the same
checkpoint, converted) and each thread count, a fresh process loads the engine and measures:

* raw: the engine's own ``transcribe`` call on the decoded 16 kHz clip (the anchor),
* pipeline: dangan's whole path on the file (decode, speech detection, chunking, the engine,
  guards, t2s, all five writers) and its overhead: the time that was not the engine's own calls,
* peak RSS of that process.

Then it prints the ratios the issue names: faster-whisper int8 speed ÷ openai-whisper's (goal ≥ 3×)
and pipeline overhead over the raw call (goal ≤ 10%). With --model and --labelled DIR (pairs of
<name>.<audio> and <name>.txt), it also prints each engine's CER on those clips.

Random weights decode garbage whose length depends on the weights, so both engines are held to
greedy decoding and the same token cap; the characters each produced are printed beside the times.

Run:  .venv/bin/python bench/asr.py [--shapes tiny,small] [--threads 1,2] [--clip FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.memory import peak_rss_mb  # noqa: E402
from pipeline.speech.random_model import shaped_checkpoint  # noqa: E402

CLIP = ROOT / "samples" / "batch" / "J001-LY-2021-Y-BGS-0001.wav"


def make_clip(path: Path, repeat: int) -> Path:
    """The sample Mandarin clip said ``repeat`` times with pauses: ~30 s, one decoder window."""
    import wave

    import numpy as np

    with wave.open(str(CLIP)) as w:
        a = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    pause = np.zeros(8000, dtype="<i2")
    out = np.concatenate([x for _ in range(repeat) for x in (a, pause)])
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(out.tobytes())
    return path


def child(args: argparse.Namespace) -> None:
    """One engine configuration in this process: load, raw call, pipeline, peak RSS."""
    import numpy as np

    from pipeline.config import SpeechSettings
    from pipeline.speech.engines import create_engine
    from pipeline.speech.models import resolve_model
    from pipeline.speech.recognise import prepare, transcribe_prepared
    from pipeline.speech.writers import get_writer

    s = SpeechSettings(model=args.model, engine=args.engine, threads=args.threads, temperature=[0.0], beam_size=1,
                       max_new_tokens=args.max_new_tokens, compute_type=args.compute_type,
                       ct2_cache=Path(args.work) / "ct2", compression_ratio_threshold=None, no_speech_threshold=None)
    t = time.perf_counter()
    engine = create_engine(s, resolve_model(s))
    load = time.perf_counter() - t
    work = Path(args.work)
    prep = prepare(Path(args.clip), work / f"warm-{args.engine}.wav", s)
    audio = np.concatenate([c for c in _read(prep.copy.path)])
    engine.transcribe(audio[:16000 * 5])  # warm-up: first-call allocations are not steady state
    raw_times, raw_chars = [], 0
    for _ in range(args.repeats):
        t = time.perf_counter()
        segs = engine.transcribe(audio)
        raw_times.append(time.perf_counter() - t)
        raw_chars = sum(len(x.text) for x in segs)
    pipe_times, engine_times, pipe_chars = [], [], 0
    write = get_writer("all")
    for i in range(args.repeats):
        t = time.perf_counter()
        p = prepare(Path(args.clip), work / f"copy-{args.engine}-{i}.wav", s)
        tr = transcribe_prepared(p, engine, s)
        write(tr, work / f"out-{args.engine}-{i}")
        pipe_times.append(time.perf_counter() - t)
        engine_times.append(tr.engine_seconds)
        pipe_chars = sum(len(x.text) for x in tr.segments)
    cer = None
    if args.labelled:
        cer = _cer(engine, s, Path(args.labelled), work)
    print(json.dumps({
        "audio_seconds": audio.size / 16000, "load_seconds": load, "raw_seconds": min(raw_times),
        "raw_chars": raw_chars, "pipeline_seconds": min(pipe_times),
        "pipeline_engine_seconds": engine_times[pipe_times.index(min(pipe_times))], "pipeline_chars": pipe_chars,
        "peak_rss_mb": peak_rss_mb(), "cer": cer,
    }))


def _read(path: Path):
    import wave

    import numpy as np

    with wave.open(str(path)) as w:
        while raw := w.readframes(16000 * 30):
            yield np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768


def _cer(engine, s, folder: Path, work: Path) -> float:
    """Character error rate over labelled clips (<name>.txt beside each recording), whitespace and
    punctuation removed, both sides simplified."""
    import unicodedata

    from pipeline.ocr.accuracy import edit_distance

    from pipeline.speech.normalise import to_simplified
    from pipeline.speech.recognise import prepare, transcribe_prepared

    def norm(t: str) -> str:
        return "".join(c for c in to_simplified(t) if unicodedata.category(c)[0] in "LN")

    errors = total = 0
    for txt in sorted(folder.glob("*.txt")):
        audio = next((p for p in folder.glob(txt.stem + ".*") if p.suffix != ".txt"), None)
        if audio is None:
            continue
        tr = transcribe_prepared(prepare(audio, work / "cer.wav", s), engine, s)
        hyp, ref = norm(tr.text), norm(txt.read_text(encoding="utf-8"))
        errors += edit_distance(hyp, ref)
        total += len(ref)
    return errors / total if total else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default="tiny,small")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--engines", default="openai-whisper,faster-whisper")
    ap.add_argument("--model", help="a real checkpoint instead of the random shapes")
    ap.add_argument("--labelled", help="folder of labelled clips for CER (with --model)")
    ap.add_argument("--clip", help="audio to time (default: the sample clip, three times, ~30 s)")
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    ap.add_argument("--compute-type", default="int8", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.threads = int(args.threads)
        child(args)
        return
    work = Path(tempfile.mkdtemp(prefix="dangan-bench-asr-"))
    clip = Path(args.clip) if args.clip else make_clip(work / "clip.wav", 3)
    models = {"real": args.model} if args.model else {
        shape: str(shaped_checkpoint(shape, work / f"random-{shape}.pt")) for shape in args.shapes.split(",")}
    rows = []
    for shape, model in models.items():
        for engine in args.engines.split(","):
            for threads in map(int, args.threads.split(",")):
                cmd = [sys.executable, __file__, "--child", "--engine", engine, "--threads", str(threads),
                       "--model", model, "--clip", str(clip), "--work", str(work),
                       "--max-new-tokens", str(args.max_new_tokens), "--repeats", str(args.repeats)]
                if args.labelled:
                    cmd += ["--labelled", args.labelled]
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode:
                    print(f"{shape} {engine} {threads}t failed:\n{r.stderr[-3000:]}", file=sys.stderr)
                    continue
                rows.append({"shape": shape, "engine": engine, "threads": threads, **json.loads(r.stdout.splitlines()[-1])})
                print(f"done {shape} {engine} {threads}t", file=sys.stderr, flush=True)
    audio = rows[0]["audio_seconds"] if rows else 0
    print(f"\naudio: {audio:.1f} s ({clip.name}); greedy, ≤{args.max_new_tokens} tokens per window; best of {args.repeats}")
    # Overhead is measured inside the same pipeline run: everything that is not the engine's own
    # transcribe calls, over those calls. Comparing with the raw whole-file call would compare
    # different decodes: the pipeline leaves the pauses out, and a random model's output length
    # (so its time) changes with its input.
    print("| shape | engine | threads | load s | raw RTF (whole file) | pipeline RTF | pipeline overhead over its "
          "engine calls | chars raw/pipeline | peak RSS MB |" + (" CER |" if args.labelled else ""))
    print("|---|---|---|---|---|---|---|---|---|" + ("---|" if args.labelled else ""))
    for r in rows:
        share = (r["pipeline_seconds"] - r["pipeline_engine_seconds"]) / r["pipeline_engine_seconds"]
        print(f"| {r['shape']} | {r['engine']} | {r['threads']} | {r['load_seconds']:.1f} | "
              f"{r['raw_seconds'] / r['audio_seconds']:.3f} | {r['pipeline_seconds'] / r['audio_seconds']:.3f} | "
              f"{100 * share:.1f}% | {r['raw_chars']}/{r['pipeline_chars']} | {r['peak_rss_mb']:.0f} |"
              + (f" {r['cer']:.3f} |" if args.labelled and r["cer"] is not None else ""))
    print("\nfaster-whisper int8 speed ÷ openai-whisper (raw call; goal ≥ 3×):")
    for shape in models:
        for threads in map(int, args.threads.split(",")):
            pair = {r["engine"]: r for r in rows if r["shape"] == shape and r["threads"] == threads}
            if {"openai-whisper", "faster-whisper"} <= set(pair):
                print(f"  {shape}, {threads} thread(s): "
                      f"{pair['openai-whisper']['raw_seconds'] / pair['faster-whisper']['raw_seconds']:.2f}×")


if __name__ == "__main__":
    main()

"""Speech test data made here: a seeded random Whisper checkpoint and generated recordings."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from pipeline.speech.random_model import random_checkpoint  # noqa: F401  (the tests' model)

from .conftest import SAMPLES

CLIP = SAMPLES / "J001-LY-2021-Y-BGS-0001.wav"  # espeak-ng Mandarin, made by samples/make_samples.py
VIDEO = SAMPLES / "J001-LX-2021-Y-BGS-0001.mp4"
SR = 16_000


def tone(seconds: float, freq: float = 440.0, amp: float = 0.3, sr: int = SR) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def hiss(seconds: float, amp: float = 0.003, sr: int = SR, seed: int = 0) -> np.ndarray:
    return (amp * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)


def clip_audio() -> np.ndarray:
    with wave.open(str(CLIP)) as w:
        assert w.getframerate() == SR and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768


def write_wav(path: Path, audio: np.ndarray, sr: int = SR, channels: int = 1, width: int = 2) -> Path:
    """PCM WAV; multi-channel files repeat the signal with a different gain per channel."""
    a = np.repeat(audio[:, None], channels, axis=1) * np.linspace(1.0, 0.5, channels)[None, :]
    if width == 2:
        data = np.clip(np.round(a * 32767), -32768, 32767).astype("<i2").tobytes()
    else:  # 24-bit, as DA/T 62 masters are
        ints = np.clip(np.round(a * 8388607), -8388608, 8388607).astype("<i4")
        data = ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(sr)
        w.writeframes(data)
    return path


def encode(path: Path, audio: np.ndarray | None, fmt: str, acodec: str | None, vcodec: str | None = None,
           sr: int = SR, layout: str = "mono", seconds_of_video: float = 2.0) -> Path:
    """Encode a recording with PyAV (FFmpeg's encoders): any container/codec pair FFmpeg writes."""
    import av

    with av.open(str(path), "w", format=fmt) as out:
        # Every stream is added before the first packet: the muxer writes its header then.
        vs = aus = None
        if vcodec:
            vs = out.add_stream(vcodec, rate=5)
            vs.width, vs.height = 64, 48
            vs.pix_fmt = "yuv422p" if vcodec == "mpeg2video" and fmt == "mxf" else "yuv420p"
        if acodec and audio is not None:
            aus = out.add_stream(acodec, rate=sr, layout=layout)
        if vs is not None:
            for i in range(int(seconds_of_video * 5)):
                frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * (i % 6), np.uint8), format="rgb24")
                frame.pts = i
                out.mux(vs.encode(frame))
            out.mux(vs.encode(None))
        if aus is not None:
            channels = 2 if layout == "stereo" else 1
            fmt_name = aus.codec_context.format.name
            block = aus.codec_context.frame_size or 1024
            for i in range(0, len(audio), block):
                chunk = np.repeat(audio[None, i : i + block], channels, axis=0)
                arr = chunk if fmt_name.endswith("p") else chunk.T.reshape(1, -1)  # planar or packed
                if fmt_name.startswith("s16"):
                    arr = np.clip(np.round(arr * 32767), -32768, 32767).astype(np.int16)
                elif fmt_name.startswith("s32"):
                    arr = np.round(arr * 2**31 * 0.99).astype(np.int32)
                else:
                    arr = arr.astype(np.float32)
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=fmt_name, layout=layout)
                frame.sample_rate = sr
                frame.pts = i
                out.mux(aus.encode(frame))
            out.mux(aus.encode(None))
    return path

"""Audio access: probe a recording and decode it, streamed, to 16 kHz mono with PyAV.

PyAV's wheel carries FFmpeg's libraries, so no system ffmpeg is needed. Masters are only opened
for reading; the recognition copy (DA/T 62: derive a 16 kHz mono copy, record the derivation) is
a 16-bit PCM WAV written block by block, so a multi-hour tape never sits in memory.
"""

from __future__ import annotations

import logging
import os
import wave
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

from pipeline.errors import CorruptFile, EmptyMedia, InputFileError, NoAudioTrack, TruncatedMedia

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000  # what Whisper's feature extractor expects


@dataclass(frozen=True)
class MediaInfo:
    """What the container says about a recording, before any decoding."""

    container: str
    codec: str
    sample_rate: int
    channels: int
    layout: str
    duration: float | None  # seconds, as declared by the audio stream (or container)
    video_streams: int

    def as_dict(self) -> dict:
        return asdict(self)


def _open(path: Path):
    try:
        return av.open(os.fspath(path), mode="r", metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise CorruptFile(path, f"not a readable audio/video file ({exc.strerror or type(exc).__name__})") from None


def _wav_declared_seconds(path: Path) -> float | None:
    """The length a WAV's header declares. FFmpeg trusts the file size instead, which hides a cut."""
    import struct

    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            byte_rate = None
            while len(hdr := fh.read(8)) == 8:
                cid, size = hdr[:4], struct.unpack("<I", hdr[4:])[0]
                if cid == b"fmt ":
                    fmt = fh.read(size + (size & 1))
                    byte_rate = struct.unpack("<I", fmt[8:12])[0]
                elif cid == b"data":
                    # 0xFFFFFFFF and 0 mean "unknown" (streamed writers, RF64): nothing declared.
                    return size / byte_rate if byte_rate and 0 < size < 0xFFFFFFFF else None
                else:
                    fh.seek(size + (size & 1), 1)
    except (OSError, struct.error):
        return None
    return None


def probe(path: Path) -> MediaInfo:
    """Read the container header. Raises NoAudioTrack, CorruptFile."""
    with _open(path) as container:
        videos = len(container.streams.video)
        if not container.streams.audio:
            what = f"a video with {videos} picture stream(s) but" if videos else "a container with"
            raise NoAudioTrack(path, f"{what} no audio track: nothing to transcribe")
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        if not ctx.sample_rate or not ctx.channels:
            raise CorruptFile(path, "the audio stream declares no sample rate or no channels")
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None and not videos:
            duration = container.duration / av.time_base
        if container.format.name == "wav":
            duration = max(filter(None, (duration, _wav_declared_seconds(path))), default=None)
        return MediaInfo(container.format.name, ctx.name, ctx.sample_rate, ctx.channels,
                         ctx.layout.name if ctx.layout else "", duration, videos)


def decode(path: Path, max_seconds: float) -> Iterator[np.ndarray]:
    """16 kHz mono float32 blocks of ``path``'s first audio stream, in order, as they decode.

    Raises CorruptFile when the stream cannot be decoded, InputFileError past ``max_seconds``.
    """
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    limit = int(max_seconds * SAMPLE_RATE)
    done = 0
    with _open(path) as container:
        if not container.streams.audio:
            raise NoAudioTrack(path, "no audio track: nothing to transcribe")
        stream = container.streams.audio[0]
        try:
            for frame in container.decode(stream):
                frame.pts = None  # resample by sample count; gaps in timestamps are not ours to fill
                for out in resampler.resample(frame):
                    block = out.to_ndarray().reshape(-1)
                    done += block.size
                    if done > limit:
                        raise InputFileError(path, f"longer than the limit of {max_seconds / 3600:.1f} h "
                                                   "(speech.max_seconds)")
                    yield block
            for out in resampler.resample(None):
                yield out.to_ndarray().reshape(-1)
        except av.FFmpegError as exc:
            raise CorruptFile(path, f"the audio cannot be decoded after {done / SAMPLE_RATE:.1f} s "
                                    f"({exc.strerror or type(exc).__name__}): the file is damaged") from None


@dataclass(frozen=True)
class AudioCopy:
    """The 16 kHz mono 16-bit WAV derived from a master."""

    path: Path
    samples: int

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE


class WavWriter:
    """Writes float blocks as a 16-bit mono WAV; the file appears under its name only when complete."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self.wav = wave.open(os.fspath(self.tmp), "wb")
        self.wav.setnchannels(1)
        self.wav.setsampwidth(2)
        self.wav.setframerate(SAMPLE_RATE)
        self.samples = 0

    def write(self, block: np.ndarray) -> None:
        pcm = np.clip(np.round(block * 32768.0), -32768, 32767).astype("<i2")
        self.wav.writeframesraw(pcm.tobytes())
        self.samples += block.size

    def close(self) -> AudioCopy:
        self.wav.close()  # patches the header with the final length
        os.replace(self.tmp, self.path)
        return AudioCopy(self.path, self.samples)

    def abort(self) -> None:
        self.wav.close()
        self.tmp.unlink(missing_ok=True)


def check_complete(path: Path, info: MediaInfo, samples: int) -> None:
    """Raise EmptyMedia / TruncatedMedia when decoding gave nothing, or far less than declared."""
    got = samples / SAMPLE_RATE
    if samples == 0:
        raise EmptyMedia(path, "the audio track holds no samples (zero-length recording)")
    if info.duration and got < info.duration - max(1.0, 0.02 * info.duration):
        raise TruncatedMedia(path, f"the container declares {info.duration:.1f} s of audio but only {got:.1f} s "
                                   "could be decoded: the file is truncated or damaged; recopy it from the carrier")


def read_span(copy: Path, start: float, end: float) -> np.ndarray:
    """Samples of [start, end) seconds from a 16 kHz WAV copy, as float32 in [-1, 1)."""
    with wave.open(os.fspath(copy), "rb") as wav:
        n = wav.getnframes()
        a = min(n, max(0, int(round(start * SAMPLE_RATE))))
        b = min(n, max(a, int(round(end * SAMPLE_RATE))))
        wav.setpos(a)
        raw = wav.readframes(b - a)
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0


def ffmpeg_versions() -> dict:
    """The decoder that made a derivative: PyAV and the FFmpeg libraries inside its wheel."""
    return {"pyav": av.__version__,
            "libavcodec": ".".join(map(str, av.library_versions.get("libavcodec", ()))),
            "libswresample": ".".join(map(str, av.library_versions.get("libswresample", ())))}

import hashlib
import wave

import numpy as np
import pytest

from pipeline.config import SpeechSettings
from pipeline.errors import CorruptFile, EmptyFile, EmptyMedia, InputFileError, NoAudioTrack, TruncatedMedia
from pipeline.ingest.identify import identify
from pipeline.speech.audio import decode, probe, read_span
from pipeline.speech.recognise import prepare

from .speech_fixtures import SR, VIDEO, clip_audio, encode, hiss, write_wav

SETTINGS = SpeechSettings()


def _speech(pad: float = 1.0) -> np.ndarray:
    return np.concatenate([hiss(pad), 0.6 * clip_audio(), hiss(pad, seed=1)])


# Every container the issue names, written by FFmpeg's own muxers through PyAV.
FORMATS = [
    ("mp3", "mp3", "libmp3lame", None, 44_100, "stereo"),
    ("m4a", "ipod", "aac", None, 48_000, "mono"),
    ("flac", "flac", "flac", None, 22_050, "mono"),
    ("mp4", "mp4", "aac", "libx264", 48_000, "stereo"),
    ("mov", "mov", "aac", "libx264", 44_100, "mono"),
    ("avi", "avi", "pcm_s16le", "mpeg4", 32_000, "mono"),
    # MXF is read by FFmpeg's demuxer like the rest; PyAV's MXF muxer fails here (AVERROR_UNKNOWN),
    # so no MXF file can be generated for this test.
]


@pytest.mark.parametrize("ext,fmt,acodec,vcodec,rate,layout", FORMATS, ids=[f[0] for f in FORMATS])
def test_every_format_decodes_to_16k_mono_without_touching_the_master(tmp_path, ext, fmt, acodec, vcodec, rate, layout):
    import av

    speech = _speech()
    resampled = av.AudioResampler(format="flt", layout="mono", rate=rate)  # encode at the master's own rate
    frame = av.AudioFrame.from_ndarray(speech[None, :], format="flt", layout="mono")
    frame.sample_rate = SR
    master_audio = np.concatenate([f.to_ndarray().reshape(-1) for f in [*resampled.resample(frame), *resampled.resample(None)]])
    master = encode(tmp_path / f"J001-LY-2021-Y-BGS-0009.{ext}", master_audio, fmt, acodec, vcodec, sr=rate,
                    layout=layout, seconds_of_video=len(speech) / SR)
    before = hashlib.sha256(master.read_bytes()).hexdigest()
    assert identify(master).media == "av"
    info = probe(master)
    assert info.sample_rate == rate and info.channels == (2 if layout == "stereo" else 1)
    prep = prepare(master, tmp_path / "copy.wav", SETTINGS)
    with wave.open(str(prep.copy.path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (SR, 1, 2)
        assert w.getnframes() == prep.copy.samples
    assert prep.duration == pytest.approx(len(speech) / SR, abs=0.15)
    # The speech sits between 1.0 s and 1.0 s + clip; detection finds it there and nowhere else.
    clip_end = 1.0 + len(clip_audio()) / SR
    assert prep.spans and prep.spans[0].start >= 0.7 and prep.spans[-1].end <= clip_end + 0.6
    assert prep.speech_seconds > 0.6 * len(clip_audio()) / SR
    assert hashlib.sha256(master.read_bytes()).hexdigest() == before


def test_decode_streams_in_blocks_and_read_span_is_exact(tmp_path):
    master = write_wav(tmp_path / "m.wav", hiss(20.0, amp=0.1), sr=44_100)
    blocks = list(decode(master, 3600))
    assert len(blocks) > 10 and max(b.size for b in blocks) < SR  # never the whole file at once
    prep = prepare(master, tmp_path / "c.wav", SETTINGS)
    part = read_span(prep.copy.path, 2.0, 2.5)
    assert part.dtype == np.float32 and part.size == SR // 2


@pytest.mark.parametrize("rate,channels,width", [(8_000, 1, 2), (44_100, 2, 2), (96_000, 6, 3), (11_025, 1, 2)])
def test_odd_sample_rates_and_channel_layouts(tmp_path, rate, channels, width):
    import av

    speech = _speech(0.5)
    r = av.AudioResampler(format="flt", layout="mono", rate=rate)
    frame = av.AudioFrame.from_ndarray(speech[None, :], format="flt", layout="mono")
    frame.sample_rate = SR
    audio = np.concatenate([f.to_ndarray().reshape(-1) for f in [*r.resample(frame), *r.resample(None)]])
    master = write_wav(tmp_path / "m.wav", audio, sr=rate, channels=channels, width=width)
    info = probe(master)
    assert (info.sample_rate, info.channels) == (rate, channels)
    prep = prepare(master, tmp_path / "c.wav", SETTINGS)
    assert prep.duration == pytest.approx(len(speech) / SR, abs=0.05)
    assert prep.speech_seconds > 3


def test_truncated_recording_is_named_and_leaves_no_copy(tmp_path):
    good = write_wav(tmp_path / "g.wav", _speech())
    data = good.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 3])  # the header still declares the full length
    with pytest.raises(TruncatedMedia, match="truncated") as exc:
        prepare(cut, tmp_path / "out" / "c.wav", SETTINGS)
    assert exc.value.path == cut and exc.value.kind == "truncated-media"
    assert not any((tmp_path / "out").iterdir())


def test_truncated_mp4_is_named(tmp_path):
    good = encode(tmp_path / "g.mp4", _speech(), "mp4", "aac", "libx264", seconds_of_video=5)
    data = good.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFile) as exc:  # TruncatedMedia is a CorruptFile
        prepare(cut, tmp_path / "c.wav", SETTINGS)
    assert exc.value.path == cut


def test_corrupt_recordings(tmp_path):
    noise = np.random.default_rng(3).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    bad_mp3 = tmp_path / "bad.mp3"
    bad_mp3.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + noise)
    bad_mp4 = tmp_path / "bad.mp4"
    bad_mp4.write_bytes(b"\x00\x00\x00\x18ftypmp42" + noise)
    for f in (bad_mp3, bad_mp4):
        assert identify(f).media == "av"
        with pytest.raises((CorruptFile, NoAudioTrack, EmptyMedia)) as exc:
            prepare(f, tmp_path / "c.wav", SETTINGS)
        assert isinstance(exc.value, InputFileError) and exc.value.path == f and exc.value.reason


def test_video_without_audio_and_zero_length_audio(tmp_path):
    silent_video = encode(tmp_path / "v.mp4", None, "mp4", None, "libx264")
    with pytest.raises(NoAudioTrack, match="no audio track"):
        prepare(silent_video, tmp_path / "c.wav", SETTINGS)
    empty = write_wav(tmp_path / "e.wav", np.zeros(0, np.float32))
    with pytest.raises(EmptyMedia, match="no samples"):
        prepare(empty, tmp_path / "c.wav", SETTINGS)
    zero = tmp_path / "z.wav"
    zero.write_bytes(b"")
    with pytest.raises(EmptyFile):
        identify(zero)


def test_sample_video_has_its_speech(tmp_path):
    prep = prepare(VIDEO, tmp_path / "c.wav", SETTINGS)
    assert prep.info.video_streams == 1 and prep.info.codec == "aac"
    assert 3 < prep.duration < 6 and prep.speech_seconds > 2


def test_longer_than_the_limit_is_refused(tmp_path):
    master = write_wav(tmp_path / "m.wav", hiss(5.0))
    with pytest.raises(InputFileError, match="limit"):
        prepare(master, tmp_path / "c.wav", SETTINGS.model_copy(update={"max_seconds": 2.0}))

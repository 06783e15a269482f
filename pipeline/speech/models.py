"""Which speech model is configured, where its file is, and whether it is intact.

No model hub is contacted: ``speech.model`` is a path to a whisper checkpoint (``.pt``), a
faster-whisper (CTranslate2) folder, or a name that openai-whisper's own cache holds as
``<whisper_cache>/<name>.pt`` (``~/.cache/whisper`` by default, where ``whisper.load_model``
downloads to on a connected machine). Official checkpoints are checked against the SHA-256 that
openai-whisper embeds in their download URL.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import SpeechSettings
from pipeline.errors import ModelNotFound, SpeechModelNotConfigured

NOT_CONFIGURED = (
    "speech model not configured: audio and video are ingested, probed and speech-detected, and wait "
    "as awaiting-transcription. To transcribe, set speech.model in the profile or DANGAN_SPEECH_MODEL "
    "to a whisper checkpoint (.pt) path, or to a model name found in the whisper cache "
    "(~/.cache/whisper/<name>.pt), then run again."
)


@dataclass(frozen=True)
class SpeechModel:
    name: str  # as configured
    path: Path
    kind: str  # "whisper-checkpoint" or "ctranslate2"
    sha256: str  # of the checkpoint, or of model.bin in a CTranslate2 folder

    def describe(self) -> dict:
        # Not the path: moving a model file must not redo finished work.
        return {"name": Path(self.name).name, "kind": self.kind, "sha256": self.sha256}


_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 22):
                h.update(chunk)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def _official_sha256(name: str) -> str | None:
    """The digest in openai-whisper's download URL for a named model, if it is one of theirs."""
    try:
        from whisper import _MODELS
    except ImportError:
        return None
    url = _MODELS.get(name)
    return url.split("/")[-2] if url else None


def _is_name(value: str) -> bool:
    return "/" not in value and "\\" not in value and not value.endswith(".pt") and not value.startswith("~")


def resolve_model(settings: SpeechSettings, override: str | None = None) -> SpeechModel | None:
    """The configured model, or None when none is configured. Raises ModelNotFound."""
    value = override or settings.model
    if not value:
        return None
    if _is_name(value):
        path = settings.whisper_cache / f"{value}.pt"
        if not path.is_file():
            raise ModelNotFound(
                f"speech model {value!r} is not in the whisper cache: no {path}. Copy whisper's {value}.pt "
                "there (or set DANGAN_WHISPER_CACHE), or set speech.model to a checkpoint path")
    else:
        path = Path(value).expanduser()
        if not path.exists():
            raise ModelNotFound(f"speech model file not found: {path}")
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise ModelNotFound(f"{path} is a folder but not a CTranslate2 model (no model.bin)")
        return SpeechModel(value, path, "ctranslate2", file_sha256(path / "model.bin"))
    sha = file_sha256(path)
    expected = _official_sha256(path.stem) if _is_name(value) else None
    if expected and sha != expected:
        raise ModelNotFound(f"{path} fails its checksum (SHA-256 {sha[:12]}…, whisper's {value} is "
                            f"{expected[:12]}…): the download is incomplete or the file was changed")
    return SpeechModel(value, path, "whisper-checkpoint", sha)


def require_model(settings: SpeechSettings, override: str | None = None) -> SpeechModel:
    model = resolve_model(settings, override)
    if model is None:
        raise SpeechModelNotConfigured(NOT_CONFIGURED)
    return model

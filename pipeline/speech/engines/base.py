"""The ``SpeechEngine`` interface and its registry (like ``pipeline.ocr.engines.base``).

An engine turns one chunk of 16 kHz mono audio (≤ 30 s, silence already left out) into segments
with times relative to the chunk. Chunking, time mapping, guards, t2s and storage are dangan's,
so every engine gets the same treatment and the same tests.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import ClassVar

import numpy as np

from pipeline.config import SpeechSettings
from pipeline.errors import ConfigError
from pipeline.speech.models import SpeechModel

_REGISTRY: dict[str, type[SpeechEngine]] = {}


@dataclass(frozen=True)
class RawSegment:
    """What a decoder says about one stretch of a chunk (Whisper's segment fields)."""

    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float


class SpeechEngine(ABC):
    name: ClassVar[str]

    def __init__(self, settings: SpeechSettings, model: SpeechModel):
        self.settings = settings
        self.model = model

    @abstractmethod
    def transcribe(self, audio: np.ndarray) -> list[RawSegment]:
        """Segments of one chunk (float32, 16 kHz mono), times in seconds from the chunk's start."""

    @classmethod
    @abstractmethod
    def versions(cls) -> dict:
        """Package versions that decide the output."""

    @classmethod
    def describe(cls, settings: SpeechSettings, model: SpeechModel) -> dict:
        """Everything that made a transcript: engine, versions, model digest, decoding options."""
        options = settings.model_dump(mode="json", exclude={"model", "whisper_cache", "ct2_cache", "threads", "items_per_task",
                                                            "keep_audio_copy", "max_seconds", "engine"})
        return {"engine": cls.name, "versions": cls.versions(), "model": model.describe(), "options": options}

    @classmethod
    def signature_for(cls, settings: SpeechSettings, model: SpeechModel) -> str:
        blob = json.dumps(cls.describe(settings, model), sort_keys=True, ensure_ascii=False).encode()
        return f"{cls.name}:{hashlib.sha256(blob).hexdigest()[:16]}"

    def signature(self) -> str:
        if not hasattr(self, "_signature"):
            self._signature = self.signature_for(self.settings, self.model)
        return self._signature


def register(cls: type[SpeechEngine]) -> type[SpeechEngine]:
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtin() -> None:
    from pipeline.speech.engines import faster_whisper, whisper  # noqa: F401  (register themselves)

    for ep in entry_points(group="dangan.speech_engines"):
        register(ep.load())


def available_engines() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def engine_class(settings: SpeechSettings) -> type[SpeechEngine]:
    _load_builtin()
    if settings.engine not in _REGISTRY:
        raise ConfigError(f"unknown speech engine {settings.engine!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[settings.engine]


def create_engine(settings: SpeechSettings, model: SpeechModel) -> SpeechEngine:
    return engine_class(settings)(settings, model)


_SHARED: dict[str, SpeechEngine] = {}


def shared_engine(settings: SpeechSettings, model: SpeechModel) -> SpeechEngine:
    """One loaded engine per process and configuration: loading a model takes seconds and memory."""
    cls = engine_class(settings)
    key = cls.signature_for(settings, model) + f":{settings.threads}"
    if key not in _SHARED:
        _SHARED[key] = cls(settings, model)
    return _SHARED[key]

"""openai-whisper on the CPU (the default engine): the reference implementation of the model."""

from __future__ import annotations

import logging
from importlib.metadata import version

import numpy as np

from pipeline.errors import ModelNotFound
from pipeline.speech.engines.base import RawSegment, SpeechEngine, register

log = logging.getLogger(__name__)


def decode_options(settings) -> dict:
    """``whisper.transcribe`` keyword arguments from the speech settings (deterministic when
    ``temperature`` is ``[0.0]``; sampling fallbacks are seeded per chunk otherwise)."""
    opts = {
        "language": settings.language,
        "task": "transcribe",
        "temperature": tuple(settings.temperature),
        "compression_ratio_threshold": settings.compression_ratio_threshold,
        "logprob_threshold": settings.logprob_threshold,
        "no_speech_threshold": settings.no_speech_threshold,
        "condition_on_previous_text": settings.condition_on_previous_text,
        "initial_prompt": settings.initial_prompt,
        "beam_size": settings.beam_size if settings.beam_size > 1 else None,
        "best_of": settings.best_of,
        "fp16": False,
        "verbose": None,
    }
    if settings.max_new_tokens:
        opts["sample_len"] = settings.max_new_tokens
    return opts


@register
class WhisperEngine(SpeechEngine):
    name = "openai-whisper"

    def __init__(self, settings, model):
        super().__init__(settings, model)
        import torch
        import whisper

        if model.kind != "whisper-checkpoint":
            raise ModelNotFound(f"{model.path}: openai-whisper needs a whisper checkpoint (.pt), not a {model.kind} folder")
        torch.set_num_threads(settings.threads)
        self._torch = torch
        self._whisper = whisper
        self.whisper_model = whisper.load_model(str(model.path), device="cpu")
        self.options = decode_options(settings)

    @classmethod
    def versions(cls) -> dict:
        return {"openai-whisper": version("openai-whisper"), "torch": version("torch")}

    def raw_transcribe(self, audio: np.ndarray) -> dict:
        """whisper.transcribe itself, as a benchmark's anchor."""
        self._torch.set_num_threads(self.settings.threads)
        self._torch.manual_seed(self.settings.seed)
        return self._whisper.transcribe(self.whisper_model, audio, **self.options)

    def transcribe(self, audio: np.ndarray) -> list[RawSegment]:
        result = self.raw_transcribe(audio)
        return [RawSegment(float(s["start"]), float(s["end"]), s["text"], float(s["avg_logprob"]),
                           float(s["no_speech_prob"]), float(s["compression_ratio"]))
                for s in result["segments"]]

"""faster-whisper (CTranslate2) on the CPU, an optional extra: ``pip install dangan[faster-whisper]``.

It runs the same checkpoint as the default engine: a whisper ``.pt`` is converted once into a
CTranslate2 folder (``ct2_convert``) cached by the checkpoint's SHA-256 and the compute type.
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from pipeline.errors import ModelNotFound
from pipeline.speech.engines.base import RawSegment, SpeechEngine, register

log = logging.getLogger(__name__)


def converted_model(model, settings) -> Path:
    """The CTranslate2 folder for ``model``: itself, or its cached conversion (made on first use)."""
    if model.kind == "ctranslate2":
        return model.path
    from pipeline.speech.engines.ct2_convert import convert_checkpoint

    target = settings.ct2_cache / f"{model.sha256[:16]}-{settings.compute_type}"
    if not (target / "model.bin").is_file():
        log.info("converting %s to CTranslate2 (%s) in %s", model.path, settings.compute_type, target)
        convert_checkpoint(model.path, target, quantization=settings.compute_type)
    return target


@register
class FasterWhisperEngine(SpeechEngine):
    name = "faster-whisper"

    def __init__(self, settings, model):
        super().__init__(settings, model)
        try:
            import ctranslate2
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise ModelNotFound(f"the faster-whisper engine needs its extra: pip install 'dangan[faster-whisper]' ({exc})") from None
        self._ct2 = ctranslate2
        self.model_dir = converted_model(model, settings)
        self.fw_model = WhisperModel(str(self.model_dir), device="cpu", compute_type=settings.compute_type,
                                     cpu_threads=settings.threads, num_workers=1)
        s = settings
        self.options = {
            "language": s.language, "task": "transcribe", "beam_size": s.beam_size, "best_of": s.best_of,
            "temperature": list(s.temperature), "compression_ratio_threshold": s.compression_ratio_threshold,
            "log_prob_threshold": s.logprob_threshold, "no_speech_threshold": s.no_speech_threshold,
            "condition_on_previous_text": s.condition_on_previous_text, "initial_prompt": s.initial_prompt,
            "vad_filter": False,  # dangan has already left the silence out
        }
        if s.max_new_tokens:
            self.options["max_new_tokens"] = s.max_new_tokens

    @classmethod
    def versions(cls) -> dict:
        try:
            return {"faster-whisper": version("faster-whisper"), "ctranslate2": version("ctranslate2")}
        except PackageNotFoundError:
            return {"faster-whisper": None}

    def raw_transcribe(self, audio: np.ndarray) -> list:
        self._ct2.set_random_seed(self.settings.seed)
        segments, _info = self.fw_model.transcribe(audio, **self.options)
        return list(segments)

    def transcribe(self, audio: np.ndarray) -> list[RawSegment]:
        return [RawSegment(float(s.start), float(s.end), s.text, float(s.avg_logprob), float(s.no_speech_prob),
                           float(s.compression_ratio)) for s in self.raw_transcribe(audio)]

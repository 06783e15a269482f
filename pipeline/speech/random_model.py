"""A seeded random Whisper checkpoint built with whisper's own ``ModelDimensions``.

It transcribes nonsense, but it loads through ``whisper.load_model(path)`` and runs every code
path a real model runs (tokenizer, 30 s windows, timestamps) at a chosen size. The tests and
``bench/asr.py`` use it because no model hub is reachable; operators can use it to check an
installation before they copy a real model in.
"""

from __future__ import annotations

import math
from pathlib import Path

# whisper's published dimensions for the shapes the benchmark times; the tests use narrower ones.
SHAPES = {
    "tiny": dict(n_audio_state=384, n_audio_head=6, n_audio_layer=4, n_text_state=384, n_text_head=6,
                 n_text_layer=4),
    "small": dict(n_audio_state=768, n_audio_head=12, n_audio_layer=12, n_text_state=768, n_text_head=12,
                  n_text_layer=12),
}


def random_checkpoint(path: Path, seed: int = 0, state: int = 64, layers: int = 2, heads: int = 2) -> Path:
    """Write a checkpoint of ``layers`` × ``heads`` with width ``state`` and seeded random weights.

    Multilingual vocabulary and full context sizes; weights are drawn wide enough that the decoder
    emits varied tokens rather than one repeated token.
    """
    import torch
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(seed)
    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=state, n_audio_head=heads,
                           n_audio_layer=layers, n_vocab=51865, n_text_ctx=448, n_text_state=state,
                           n_text_head=heads, n_text_layer=layers)
    model = Whisper(dims)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                p.normal_(0, 1.0 / math.sqrt(p.shape[-1]))
            elif name.endswith("bias"):
                p.normal_(0, 0.1)
    torch.save({"dims": dims.__dict__, "model_state_dict": model.state_dict()}, path)
    return path


def shaped_checkpoint(shape: str, path: Path, seed: int = 0) -> Path:
    """A random checkpoint with the dimensions of whisper's ``shape`` model (tiny, small)."""
    d = SHAPES[shape]
    return random_checkpoint(path, seed=seed, state=d["n_audio_state"], layers=d["n_audio_layer"],
                             heads=d["n_audio_head"])

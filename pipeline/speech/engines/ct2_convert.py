"""Convert an openai-whisper checkpoint (``.pt``) into a CTranslate2 model folder for faster-whisper.

CTranslate2's own Whisper converter starts from a Hugging Face ``transformers`` model, which would
mean installing transformers and rebuilding the checkpoint in its layout first. Instead this fills
CTranslate2's ``WhisperSpec`` straight from the checkpoint's state dict through CTranslate2's public
``Converter`` extension point, and writes the ``tokenizer.json`` faster-whisper needs from the
tiktoken vocabulary that ships inside openai-whisper. Nothing is fetched from a model hub.

The layout mapping (openai-whisper name → CTranslate2 spec) is the same one CTranslate2 applies to
the transformers port of these weights: q/k/v fused for self-attention, k/v fused for
cross-attention, the output projection tied to the token embedding.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

# Whisper's special tokens other than languages and timestamps (whisper/tokenizer.py).
_TASK_SPECIALS = ("<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>",
                  "<|notimestamps|>")


def _byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte → printable character map, which byte-level BPE vocabularies use."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def whisper_vocabulary(multilingual: bool, num_languages: int) -> tuple[dict[bytes, int], dict[str, int]]:
    """Mergeable ranks and special tokens exactly as openai-whisper's tokenizer builds them."""
    from whisper.tokenizer import get_encoding

    enc = get_encoding("multilingual" if multilingual else "gpt2", num_languages)
    return dict(enc._mergeable_ranks), dict(enc._special_tokens)


def _merges(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """BPE merges that reproduce tiktoken's ranks.

    tiktoken merges the adjacent pair whose concatenation has the lowest rank; a merge list ordered by
    the rank of the merged token, holding every split of it into two known tokens, does the same.
    """
    found: list[tuple[int, int, int, bytes, bytes]] = []
    for token, rank in ranks.items():
        for i in range(1, len(token)):
            left, right = token[:i], token[i:]
            if left in ranks and right in ranks:
                found.append((rank, ranks[left], ranks[right], left, right))
    found.sort()
    return [(left, right) for _, _, _, left, right in found]


def tokenizer_json(ranks: dict[bytes, int], specials: dict[str, int]) -> str:
    """A Hugging Face ``tokenizers`` byte-level BPE tokenizer equal to whisper's tiktoken one."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    to_u = _byte_to_unicode()
    show = lambda b: "".join(to_u[x] for x in b)  # noqa: E731
    vocab = {show(tok): rank for tok, rank in ranks.items()}
    merges = [(show(a), show(b)) for a, b in _merges(ranks)]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(name, special=True, normalized=False)
                            for name, _ in sorted(specials.items(), key=lambda kv: kv[1])])
    return tok.to_str()


def _np(t) -> np.ndarray:
    return t.detach().float().numpy()


def build_spec(checkpoint: dict):
    """A filled ``ctranslate2.specs.WhisperSpec`` from an openai-whisper checkpoint dict."""
    from ctranslate2.converters import utils
    from ctranslate2.specs import common_spec, whisper_spec

    dims = checkpoint["dims"]
    sd = checkpoint["model_state_dict"]
    spec = whisper_spec.WhisperSpec(dims["n_audio_layer"], dims["n_audio_head"], dims["n_text_layer"],
                                    dims["n_text_head"])

    def linear(target, prefix: str) -> None:
        target.weight = _np(sd[f"{prefix}.weight"])
        if f"{prefix}.bias" in sd:
            target.bias = _np(sd[f"{prefix}.bias"])

    def norm(target, prefix: str) -> None:
        target.gamma = _np(sd[f"{prefix}.weight"])
        target.beta = _np(sd[f"{prefix}.bias"])

    def fused(target, prefixes: list[str]) -> None:
        parts = []
        for p in prefixes:
            part = common_spec.LinearSpec()
            linear(part, p)
            if part.bias is None or isinstance(part.bias, str):  # whisper's key projection has no bias
                part.bias = np.zeros(part.weight.shape[0], dtype=np.float32)
            parts.append(part)
        utils.fuse_linear(target, parts)

    def attention(target, prefix: str, self_attention: bool) -> None:
        q, k, v = (f"{prefix}.{n}" for n in ("query", "key", "value"))
        if self_attention:
            fused(target.linear[0], [q, k, v])
        else:
            fused(target.linear[0], [q])
            fused(target.linear[1], [k, v])
        linear(target.linear[-1], f"{prefix}.out")

    enc = spec.encoder
    for conv in ("conv1", "conv2"):
        getattr(enc, conv).weight = _np(sd[f"encoder.{conv}.weight"])
        getattr(enc, conv).bias = _np(sd[f"encoder.{conv}.bias"])
    enc.position_encodings.encodings = _np(sd["encoder.positional_embedding"])
    norm(enc.layer_norm, "encoder.ln_post")
    for i, layer in enumerate(enc.layer):
        b = f"encoder.blocks.{i}"
        attention(layer.self_attention, f"{b}.attn", True)
        norm(layer.self_attention.layer_norm, f"{b}.attn_ln")
        linear(layer.ffn.linear_0, f"{b}.mlp.0")
        linear(layer.ffn.linear_1, f"{b}.mlp.2")
        norm(layer.ffn.layer_norm, f"{b}.mlp_ln")

    dec = spec.decoder
    dec.embeddings.weight = _np(sd["decoder.token_embedding.weight"])
    dec.position_encodings.encodings = _np(sd["decoder.positional_embedding"])
    norm(dec.layer_norm, "decoder.ln")
    dec.projection.weight = dec.embeddings.weight  # tied, as in whisper's logits
    for i, layer in enumerate(dec.layer):
        b = f"decoder.blocks.{i}"
        attention(layer.self_attention, f"{b}.attn", True)
        norm(layer.self_attention.layer_norm, f"{b}.attn_ln")
        attention(layer.attention, f"{b}.cross_attn", False)
        norm(layer.attention.layer_norm, f"{b}.cross_attn_ln")
        linear(layer.ffn.linear_0, f"{b}.mlp.0")
        linear(layer.ffn.linear_1, f"{b}.mlp.2")
        norm(layer.ffn.layer_norm, f"{b}.mlp_ln")
    return spec


def convert_checkpoint(checkpoint_path: Path, output_dir: Path, quantization: str | None = "int8") -> Path:
    """Write a faster-whisper model folder (model.bin, config.json, vocabulary, tokenizer.json).

    The folder appears complete or not at all: it is built under a temporary name and renamed.
    """
    import torch
    from ctranslate2.converters.converter import Converter
    from whisper.tokenizer import get_tokenizer

    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    dims = checkpoint["dims"]
    multilingual = dims["n_vocab"] >= 51865
    num_languages = dims["n_vocab"] - 51765 - int(multilingual)
    ranks, specials = whisper_vocabulary(multilingual, num_languages)
    names = {i: n for n, i in specials.items()}
    to_u = _byte_to_unicode()
    vocabulary = [None] * dims["n_vocab"]
    for tok, rank in ranks.items():
        vocabulary[rank] = "".join(to_u[x] for x in tok)
    for i, n in names.items():
        vocabulary[i] = n
    wt = get_tokenizer(multilingual, num_languages=num_languages)
    n_layers, n_heads = dims["n_text_layer"], dims["n_text_head"]

    class _WhisperCheckpointConverter(Converter):
        def _load(self):
            spec = build_spec(checkpoint)
            spec.register_vocabulary(vocabulary)
            # whisper.decoding: suppress_tokens="-1" → non-speech symbols plus the task specials.
            suppress = sorted({*wt.non_speech_tokens, wt.transcribe, wt.translate, wt.sot, wt.sot_prev,
                               wt.sot_lm, wt.no_speech})
            spec.config.suppress_ids = suppress
            spec.config.suppress_ids_begin = [wt.encode(" ")[0], wt.eot]
            spec.config.lang_ids = sorted(wt.all_language_tokens)
            spec.config.alignment_heads = [(layer, h) for layer in range(n_layers // 2, n_layers)
                                           for h in range(n_heads)]
            return spec

    output_dir = Path(output_dir)
    tmp = output_dir.with_name(f".{output_dir.name}.{os.getpid()}.tmp")
    _WhisperCheckpointConverter().convert(str(tmp), quantization=quantization, force=True)
    (tmp / "tokenizer.json").write_text(tokenizer_json(ranks, specials), encoding="utf-8")
    (tmp / "preprocessor_config.json").write_text(
        json.dumps({"feature_size": dims["n_mels"], "sampling_rate": 16000, "hop_length": 160,
                    "chunk_length": 30, "n_fft": 400}), encoding="utf-8")
    if output_dir.exists():
        import shutil

        shutil.rmtree(output_dir)
    os.replace(tmp, output_dir)
    return output_dir

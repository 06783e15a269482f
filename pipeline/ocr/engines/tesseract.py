"""Tesseract, for comparison and as a fallback (Debian ``tesseract-ocr`` and its language packs).

Run as a program, one page per call, with ``OMP_THREAD_LIMIT=1``: Tesseract's OpenMP threads
are pathological on a busy machine (154 s for a page that takes 4 s single-threaded, measured),
so parallelism belongs across pages. Vertical pages use ``lang_vertical`` (``chi_tra_vert``).
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
from functools import lru_cache

import numpy as np
from PIL import Image

from pipeline.config import Settings
from pipeline.errors import ModelNotFound, OcrFailed
from pipeline.ocr.engines.base import OcrEngine, register
from pipeline.ocr.types import OcrLine

_CJK = re.compile(r"[\u3000-\u9fff\uf900-\ufaff\uff00-\uffef]")


def join_words(words: list[str]) -> str:
    """Tesseract reports each Chinese character as a word; spaces only between non-CJK words."""
    out = ""
    for w in words:
        if out and not (_CJK.match(out[-1]) or _CJK.match(w[0])):
            out += " "
        out += w
    return out


@lru_cache(maxsize=1)
def tesseract_version() -> str:
    exe = shutil.which("tesseract")
    if not exe:
        raise ModelNotFound("tesseract is not installed (Debian: tesseract-ocr tesseract-ocr-chi-sim ...)")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
    return out.split()[1] if out else "unknown"


@lru_cache(maxsize=1)
def tesseract_languages() -> tuple[str, ...]:
    out = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, timeout=30).stdout
    return tuple(line.strip() for line in out.splitlines()[1:] if line.strip())


@register
class TesseractEngine(OcrEngine):
    name = "tesseract"
    reads_cleaned = False

    def __init__(self, settings: Settings):
        super().__init__(settings)
        cfg = settings.ocr.tesseract
        have = tesseract_languages()
        for lang in {*cfg.lang.split("+"), *cfg.lang_vertical.split("+")}:
            if lang not in have:
                raise ModelNotFound(f"tesseract language {lang!r} is not installed (have {', '.join(have)})")

    @classmethod
    def describe(cls, settings: Settings) -> dict:
        cfg = settings.ocr.tesseract
        return {"engine": cls.name, "tesseract": tesseract_version(), "lang": cfg.lang,
                "lang_vertical": cfg.lang_vertical, "psm": cfg.psm}

    def recognise(self, image: np.ndarray, vertical: bool = False, boxes: list | None = None,
                  rows: tuple[int, int] | None = None) -> list[OcrLine]:
        cfg = self.settings.ocr.tesseract
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, "PNG", compress_level=1)
        lang = cfg.lang_vertical if vertical else cfg.lang
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        cmd = ["tesseract", "stdin", "stdout", "-l", lang, "--psm", str(cfg.psm), "tsv"]
        try:
            proc = subprocess.run(cmd, input=buf.getvalue(), capture_output=True, env=env, timeout=cfg.timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise OcrFailed(f"tesseract took longer than {cfg.timeout_s} s") from exc
        if proc.returncode != 0:
            raise OcrFailed(f"tesseract failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-300:]}")
        return parse_tsv(proc.stdout.decode("utf-8"))


def parse_tsv(tsv: str) -> list[OcrLine]:
    """Tesseract's TSV (level 5 = word) grouped into its lines, boxes and mean word confidence."""
    lines: dict[tuple, list[dict]] = {}
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        if row.get("level") != "5" or not (row.get("text") or "").strip():
            continue
        key = (row["page_num"], row["block_num"], row["par_num"], row["line_num"])
        lines.setdefault(key, []).append(row)
    out = []
    for words in lines.values():
        x0 = min(int(w["left"]) for w in words)
        y0 = min(int(w["top"]) for w in words)
        x1 = max(int(w["left"]) + int(w["width"]) for w in words)
        y1 = max(int(w["top"]) + int(w["height"]) for w in words)
        conf = sum(max(float(w["conf"]), 0.0) for w in words) / len(words) / 100
        text = join_words([w["text"].strip() for w in words])
        out.append(OcrLine(text, conf, ((x0, y0), (x1, y0), (x1, y1), (x0, y1))))
    return out

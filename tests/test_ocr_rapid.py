"""The light engine: the same PP-OCR models through RapidOCR, without importing paddle."""

import json
import subprocess
import sys

import numpy as np
import pytest

from bench.pages import make_page
from pipeline.ocr.engines.base import create_engine, engine_signature, with_engine
from pipeline.ocr.recognise import PageRecogniser

from .conftest import ROOT, cer

# Run in a fresh interpreter: this test process has paddle loaded already (the default engine).
_CHILD = """
import json, sys
from pathlib import Path
from bench.memory import peak_rss_mb  # VmHWM: this process's own peak, not its parent's
from bench.pages import make_page
from pipeline.config import load_settings
from pipeline.ocr.accuracy import cer
from pipeline.ocr.recognise import PageRecogniser
s = load_settings(data_dir=Path("/nonexistent"), model_dir=Path(sys.argv[1]))
s = s.model_copy(update={"ocr": s.ocr.model_copy(update={"engine": "rapidocr"})})
page = make_page("seal", 7, dpi=200, size=(1654, 800))
result = PageRecogniser(s)(page.image)
e, n = cer(result.page.text, page.text)
print(json.dumps({"cer": e / n, "chars": n, "paddle": [m for m in sys.modules if m == "paddle" or m.startswith("paddle.")],
                  "rss_mb": peak_rss_mb()}))
"""


@pytest.mark.slow
def test_rapidocr_reads_a_page_without_paddle(model_dir):
    out = subprocess.run([sys.executable, "-c", _CHILD, str(model_dir)], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["chars"] > 60 and got["cer"] <= 0.04, got
    assert got["paddle"] == [], got["paddle"][:5]
    assert got["rss_mb"] < 1000, got  # the default engine's process measured ~1,200 MB on the same page


@pytest.mark.slow
def test_rapidocr_finds_the_default_engines_boxes_and_turns_pages(engine):
    rapid = create_engine(with_engine(engine.settings, "rapidocr"))
    assert engine_signature(rapid.settings) != engine_signature(engine.settings)
    assert rapid.describe(rapid.settings)["model_sha256"] == engine.describe(engine.settings)["model_sha256"]
    page = make_page("horizontal", 9, dpi=200, size=(1654, 800))
    img = np.asarray(page.image.convert("RGB"))
    assert len(rapid._detect(img)) == len(engine._detect(img)) > 5
    turned = page.image.rotate(180, expand=True)
    result = PageRecogniser(rapid.settings, rapid)(turned)
    e, n = cer(result.page.text, page.text)
    assert result.page.meta["engine_name"] == "rapidocr"
    assert e / n <= 0.03, (result.page.meta["preprocess"], e / n)  # read upside down it would be garbage

"""The runtime under the ONNX models: ONNX Runtime or OpenVINO, the same files, the same reading."""

from pathlib import Path

import numpy as np
import pytest

from bench.pages import make_page
from pipeline.errors import ConfigError
from pipeline.ocr import runtime
from pipeline.ocr.engines.base import create_engine, engine_signature
from pipeline.ocr.models import resolve
from pipeline.ocr.recognise import PageRecogniser

from .conftest import cer, make_settings


def _settings(model_dir: Path, **ocr):
    s = make_settings(Path("/nonexistent"), model_dir)
    return s.model_copy(update={"ocr": s.ocr.model_copy(update=ocr)})


def test_openvino_asked_for_but_missing_says_how_to_get_it(monkeypatch):
    monkeypatch.setattr(runtime, "have_openvino", lambda: False)
    assert runtime.chosen("auto") == "onnxruntime"
    assert runtime.chosen("onnxruntime") == "onnxruntime"
    with pytest.raises(ConfigError, match=r"dangan\[openvino\]"):
        runtime.chosen("openvino")


@pytest.mark.slow
def test_openvino_computes_what_onnx_runtime_computes(model_dir):
    """At f32 the recogniser's output matches ONNX Runtime's; an odd width is padded to the step."""
    import onnxruntime as ort

    rec = resolve("ppocr-v5-mobile", model_dir).rec
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (1, 3, 48, 320)).astype(np.float32)
    want = ort.InferenceSession(str(rec), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    ov = runtime.OpenVinoSession(rec, threads=1, precision="f32", width_step=runtime.WIDTH_STEP)
    assert ov.precision.lower().startswith("f32")
    got = ov.run(None, {"x": x})[0]
    assert got.shape == want.shape and np.abs(got - want).max() < 1e-3
    assert (got.argmax(-1) == want.argmax(-1)).all()
    # 300 px wide is read as 320: the recogniser's 8 px per step gives 40 steps, not 37.
    narrow = ov.run(None, {"x": x[..., :300]})[0]
    assert narrow.shape[1] == 40 and narrow.shape[1] != ort.InferenceSession(
        str(rec), providers=["CPUExecutionProvider"]).run(None, {"x": x[..., :300]})[0].shape[1]


@pytest.mark.slow
def test_the_engine_reads_a_page_alike_on_both_runtimes(model_dir, monkeypatch):
    import onnxruntime as ort

    page = make_page("seal", 11, dpi=200, size=(1654, 900))
    img = np.asarray(page.image.convert("RGB"))
    on_ort = create_engine(_settings(model_dir, runtime="onnxruntime"))
    made = []
    monkeypatch.setattr(ort, "InferenceSession", lambda *a, **k: made.append(a) or pytest.fail("an ORT session"))
    on_ov = create_engine(_settings(model_dir, runtime="openvino", precision="f32"))
    monkeypatch.undo()
    assert not made  # on OpenVINO paddleocr is handed OpenVINO's runners: no ONNX Runtime session is built
    assert type(on_ov._ocr.text_recognizer.predictor) is runtime.OpenVinoSession
    assert type(on_ov._ocr.text_detector.predictor) is runtime.OpenVinoSession
    assert type(on_ort._ocr.text_recognizer.predictor) is not runtime.OpenVinoSession
    boxes = on_ort._detect(img)
    assert len(boxes) > 5 and len(on_ov._detect(img)) == len(boxes)
    a, b = on_ort.recognise(img, boxes=boxes), on_ov.recognise(img, boxes=boxes)
    assert [ln.text for ln in a] == [ln.text for ln in b]
    # The runtime is part of the engine's signature (a batch read on one is re-read on the other);
    # ONNX Runtime's record is what it was before runtimes were a setting.
    assert "runtime" not in on_ort.describe(on_ort.settings)
    assert on_ov.describe(on_ov.settings)["runtime"] == "openvino"
    assert engine_signature(on_ov.settings) != engine_signature(on_ort.settings)


@pytest.mark.slow
@pytest.mark.parametrize("engine_name", ["paddleocr", "rapidocr"])
def test_openvino_at_its_default_precision_reads_turned_and_vertical_pages(model_dir, engine_name):
    """The CPU's default precision (bf16 where the CPU has it) through the whole page reading: at
    most 2 points of CER above ONNX Runtime's f32 on the same page (measured: 0-1.5 points on
    vertical traditional pages, where bf16 costs most)."""
    rec = PageRecogniser(_settings(model_dir, runtime="openvino", engine=engine_name))
    exact = PageRecogniser(_settings(model_dir, runtime="onnxruntime", engine=engine_name))
    for kind, seed, turn in (("horizontal", 12, 180), ("vertical_tc", 14, 0)):
        page = make_page(kind, seed, dpi=200, size=(1654, 1100))
        image = page.image.rotate(turn, expand=True) if turn else page.image
        e, n = cer(rec(image).page.text, page.text)
        e_exact, _ = cer(exact(image).page.text, page.text)
        assert n > 60 and e / n <= 0.04 and e <= e_exact + 0.02 * n, (kind, e / n, e_exact / n)


def test_the_detectors_largest_input_follows_its_limit():
    assert runtime.largest_detector_input("max", 1280) == (1, 3, 1280, 1280)
    assert runtime.largest_detector_input("max", 1000) == (1, 3, 992, 992)  # rounded as paddleocr rounds
    assert runtime.largest_detector_input("min", 736) is None  # a minimum side: pages set the size


_GROWTH = """
import sys, numpy as np
from pipeline.ocr import runtime
def rss():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]) // 1024
largest = (1, 3, 960, 960) if sys.argv[2] == "first" else None
s = runtime.OpenVinoSession(sys.argv[1], 1, "auto", largest=largest)
start = rss()
for w in range(640, 961, 32):  # pages of growing sizes, each a new input shape
    s.run(None, {"x": np.zeros((1, 3, 960, w), np.float32)})
print(rss() - start)
"""


@pytest.mark.slow
def test_the_detector_met_at_its_largest_input_first_stops_growing(model_dir):
    """OpenVINO keeps buffers for each new input shape; pages of growing size grew an engine
    process without bound. Called at the largest input first, later shapes fit what it has."""
    import subprocess
    import sys

    det = str(resolve("ppocr-v5-mobile", model_dir).det)
    grown = {}
    for order in ("first", "none"):
        out = subprocess.run([sys.executable, "-c", _GROWTH, det, order], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parents[1])
        assert out.returncode == 0, out.stderr[-2000:]
        grown[order] = int(out.stdout.split()[-1])
    assert grown["first"] < grown["none"] / 2, grown

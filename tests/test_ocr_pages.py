"""Real PP-OCR (the default engine) with dangan's preprocessing on generated pages of known text."""

import pytest

from bench.pages import make_page, vertical_columns_page
from pipeline.ocr.recognise import PageRecogniser

from .conftest import cer

# Pages cut to a third of A4 at 200 dpi keep this to a few seconds a page on 2 cores.
SIZE = (1654, 800)
LIMITS = {"horizontal": 0.02, "skewed": 0.03, "noisy": 0.05, "low_contrast": 0.03, "seal": 0.04,
          "two_column": 0.03}


@pytest.fixture(scope="module")
def recogniser(engine):
    return PageRecogniser(engine.settings, engine)


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(LIMITS))
def test_cer_per_page_kind(recogniser, kind):
    page = make_page(kind, 7, dpi=200, size=SIZE)
    result = recogniser(page.image)
    e, n = cer(result.page.text, page.text)
    assert n > 60 and e / n <= LIMITS[kind], (kind, e / n, result.page.text)


@pytest.mark.slow
def test_vertical_traditional_page(recogniser):
    page = make_page("vertical_tc", 7, dpi=200, size=(1654, 1200))
    result = recogniser(page.image)
    assert result.page.vertical
    e, n = cer(result.page.text, page.text)
    assert n > 150 and e / n <= 0.08, (e / n, result.page.text)


@pytest.mark.slow
def test_three_column_vertical_page_reads_right_to_left(recogniser):
    cols = ["檔案館藏目錄數字化", "文字識別成果審核", "全宗卷內目錄編製"]
    page = vertical_columns_page(cols)
    result = recogniser(page.image)
    assert result.page.vertical
    got = [ln.text for ln in result.page.lines]
    assert len(got) == 3, got
    for line, col in zip(got, cols):
        e, n = cer(line, col)
        assert e <= 1, (got, cols)


@pytest.mark.slow
def test_preprocessing_helps_on_a_skewed_page(engine):
    page = make_page("skewed", 8, dpi=200, size=(1654, 1000))
    with_pre = PageRecogniser(engine.settings, engine)(page.image).page.text
    plain = engine.settings.model_copy(update={"preprocess": engine.settings.preprocess.model_copy(update={"enabled": False})})
    without = PageRecogniser(plain, engine)(page.image).page.text
    e1, n = cer(with_pre, page.text)
    e0, _ = cer(without, page.text)
    assert e1 <= e0 and e1 / n <= 0.03, (e1 / n, e0 / n)


CLOSE_COLUMNS = ["各區檔案館要制定本館數字化工", "作計劃，按年度報送工作進展。", "本年度共接收進館檔案三千二百",
                 "卷，整理編目二千八百卷，修復", "破損檔案四百餘卷。會議聽取了", "糧食徵購工作的彙報，討論了明",
                 "年春耕生產的準備工作和水利建", "設計劃。"]


@pytest.mark.slow
def test_columns_set_close_together_keep_to_their_own_boxes(recogniser, monkeypatch):
    """Columns 1.2 characters apart: their boxes are grown less than lines' (vertical_unclip_ratio);
    grown as far as lines' they take in the next column's strokes (measured: 8 -> 19 errors)."""
    page = vertical_columns_page(CLOSE_COLUMNS, column_step=1.2)
    result = recogniser(page.image)
    e, n = cer(result.page.text, page.text)
    assert result.page.vertical and len(result.page.lines) == len(CLOSE_COLUMNS), result.page.text
    assert e / n <= 0.10, (e / n, result.page.text)
    engine = recogniser.engine
    assert engine.unclip[True] < engine.unclip[False]
    monkeypatch.setitem(engine.unclip, True, engine.unclip[False])
    e_wide, _ = cer(recogniser(page.image).page.text, page.text)
    assert e_wide > e


@pytest.mark.slow
def test_the_detector_reads_the_text_rows_of_a_page_and_finds_the_same_text(engine, monkeypatch):
    """A letter's text in the top third of A4: the detector's input is the band of its rows, the
    text read the same as from the whole page."""
    page = make_page("horizontal", 5, dpi=200)
    heights = []
    run = engine._ocr.text_detector.predictor.run
    monkeypatch.setattr(engine._ocr.text_detector.predictor, "run",
                        lambda out, feed: heights.append(next(iter(feed.values())).shape[2]) or run(out, feed))
    results = {}
    for on in (True, False):
        settings = engine.settings.model_copy(
            update={"preprocess": engine.settings.preprocess.model_copy(update={"text_rows": on})})
        heights.clear()
        results[on] = PageRecogniser(settings, engine)(page.image).page
        results[on, "height"] = heights[0]
    band, whole = results[True, "height"], results[False, "height"]
    assert band <= whole / 2, (band, whole)
    for on in (True, False):
        e, n = cer(results[on].text, page.text)
        assert n > 200 and e / n <= 0.01, (on, e / n, results[on].text)
    rows = next(s for s in results[True].meta["preprocess"] if s["step"] == "text_rows")["rows"]
    assert all(rows[0] - 100 <= y <= rows[1] + 100 for ln in results[True].lines for _, y in ln.box)


@pytest.mark.slow
@pytest.mark.parametrize("kind,rows_kept", [("rot180", True), ("rot90", False)])
def test_a_turned_page_keeps_its_text_rows_in_step_with_the_turn(recogniser, kind, rows_kept):
    """Upside down, the text rows are found at the foot and read there; once turned upright they
    are the same rows counted from the top. A quarter turn makes them columns: the page is read whole."""
    page = make_page(kind, 5, dpi=200)
    result = recogniser(page.image)
    e, n = cer(result.page.text, page.text)
    assert n > 200 and e / n <= 0.01, (kind, e / n, result.page.text)
    rows = next(s for s in result.page.meta["preprocess"] if s["step"] == "text_rows")["rows"]
    if rows_kept:
        assert rows[1] < result.image.height / 2  # the text of an upright page: its top part
        assert all(rows[0] - 100 <= y <= rows[1] + 100 for ln in result.page.lines for _, y in ln.box)
    else:
        assert rows is None

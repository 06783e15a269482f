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

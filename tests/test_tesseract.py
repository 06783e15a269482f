import numpy as np
import pytest

from bench.pages import make_page
from pipeline.ocr.engines.base import create_engine, with_engine
from pipeline.ocr.engines.tesseract import join_words, parse_tsv

from .conftest import cer

TSV = """level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext
1\t1\t0\t0\t0\t0\t0\t0\t500\t100\t-1\t
4\t1\t1\t1\t1\t0\t10\t10\t300\t30\t-1\t
5\t1\t1\t1\t1\t1\t10\t10\t30\t30\t90\t档案
5\t1\t1\t1\t1\t2\t45\t10\t30\t30\t80\t馆
5\t1\t1\t1\t1\t3\t80\t10\t60\t30\t70\tPDF
5\t1\t1\t1\t1\t4\t150\t10\t60\t30\t60\tA-2b
"""


def test_tsv_lines_join_chinese_without_spaces():
    (line,) = parse_tsv(TSV)
    assert line.text == "档案馆PDF A-2b" and line.bbox == (10, 10, 210, 40)
    assert line.confidence == pytest.approx(0.75)
    assert join_words(["第", "3", "号"]) == "第3号"


@pytest.mark.slow
def test_tesseract_engine_reads_a_page(settings):
    eng = create_engine(with_engine(settings, "tesseract"))
    page = make_page("horizontal", 9, dpi=200, size=(1654, 600))
    lines = eng.recognise(np.asarray(page.image))
    e, n = cer("".join(ln.text for ln in lines), page.text)
    assert e / n < 0.15, e / n

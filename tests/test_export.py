import json

import pytest

from pipeline.export import get_writer
from pipeline.ocr.types import OcrLine, PageText


def test_json_and_txt_writers(tmp_path):
    page = PageText((OcrLine("档案馆", 0.91, ((1, 2), (30, 2), (30, 12), (1, 12))),), 100, 50, "eng:1")
    paths = get_writer("all")(page, {"refcode": "J001-WS·2021-Y-BGS-0001", "page": 1}, tmp_path / "page-0001")
    assert sorted(p.name for p in paths) == ["page-0001.alto.xml", "page-0001.hocr", "page-0001.json", "page-0001.txt"]
    doc = json.loads((tmp_path / "page-0001.json").read_text(encoding="utf-8"))
    assert doc["refcode"] == "J001-WS·2021-Y-BGS-0001" and doc["lines"][0]["bbox"] == [1, 2, 30, 12]
    assert doc["lines"][0]["confidence"] == 0.91 and doc["text"] == "档案馆"
    assert (tmp_path / "page-0001.txt").read_text(encoding="utf-8") == "档案馆\n"
    assert not list(tmp_path.glob(".*tmp"))


def test_unknown_format():
    with pytest.raises(ValueError, match="unknown output format"):
        get_writer("docx")


# -- hOCR, ALTO, 双层PDF -------------------------------------------------------------------
import subprocess  # noqa: E402
from io import BytesIO  # noqa: E402

from PIL import Image  # noqa: E402

from pipeline.export import PdfPage, WritePDF  # noqa: E402
from pipeline.export.alto import AltoInvalid, render_alto, validate_alto  # noqa: E402
from pipeline.export.hocr import HocrInvalid, render_hocr, validate_hocr  # noqa: E402

from .browser import copy_pdf_text  # noqa: E402


def _page(vertical=False):
    if vertical:
        lines = (OcrLine("檔案館藏目錄", 0.95, ((300, 20), (340, 20), (340, 260), (300, 260))),
                 OcrLine("數字化成果，", 0.9, ((220, 20), (260, 20), (260, 220), (220, 220))))
        return PageText(lines, 400, 300, "eng:1", meta={"vertical": True})
    lines = (OcrLine("天津市档案馆〔2021〕12号", 0.97, ((40, 30), (560, 30), (560, 70), (40, 70))),
             OcrLine("推动重要档案数字化成果文字识别，有条件的进行语音识别。", 0.88,
                     ((40, 100), (760, 100), (760, 136), (40, 136))))
    return PageText(lines, 800, 400, "eng:1")


def test_hocr_and_alto_validate_and_the_checkers_catch_faults():
    pages = [_page(), _page(vertical=True)]
    hocr = render_hocr(pages, {"refcode": "J001-WS·2021-Y-BGS-0001"})
    alto = render_alto(pages, {"source": "a.tif"})
    assert validate_hocr(hocr) == 4 and validate_alto(alto) == 4
    assert "ocrx_word" in hocr.decode() and 'CONTENT="推动重要档案' in alto.decode()
    with pytest.raises(HocrInvalid, match="bbox"):
        validate_hocr(hocr.replace(b"bbox 40 30 560 70;", b"bbox 40 30 x 70;", 1))
    with pytest.raises(HocrInvalid, match="outside"):
        validate_hocr(hocr.replace(b"bbox 40 100 760 136", b"bbox 40 100 900 136", 1))
    with pytest.raises(AltoInvalid, match="WC"):
        validate_alto(alto.replace(b'WC="0.9700"', b'WC="97"'))
    with pytest.raises(AltoInvalid, match="CONTENT"):
        validate_alto(alto.replace(b'CONTENT="', b'TEXT="', 1))


def _pdf(tmp_path, page: PageText, name="p.pdf"):
    img = Image.new("RGB", (page.width, page.height), "white")
    buf = BytesIO()
    img.save(buf, "JPEG")
    return WritePDF().write([PdfPage(page, buf.getvalue(), 150.0)], tmp_path / name, "test")


def _pdftotext(path):
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def test_pdf_text_layer_reads_back_without_spaces(tmp_path):
    page = _page()
    path = _pdf(tmp_path, page)
    assert path.stat().st_size < 12_000  # a blank JPEG plus the glyphless font and the text
    got = [ln for ln in _pdftotext(path).splitlines() if ln.strip()]
    assert got == [ln.text for ln in page.lines]  # same characters, same lines, no spaces, ， kept
    head = path.read_bytes()
    assert b"pdfaid:part>2<" in head and b"/OutputIntents" in head and b"/FontFile2" in head


def test_pdf_vertical_columns_read_back_in_order(tmp_path):
    page = _page(vertical=True)
    text = _pdftotext(_pdf(tmp_path, page))
    assert "".join(text.split()) == "".join(ln.text for ln in page.lines)


@pytest.mark.slow
def test_chromium_pdf_viewer_copies_the_text_layer(tmp_path):
    """Select all and copy in Chromium's own PDF viewer (PDFium): the clipboard holds the OCR text."""
    page = _page()
    copied = copy_pdf_text(_pdf(tmp_path, page))
    assert [ln for ln in copied.splitlines() if ln.strip()] == [ln.text for ln in page.lines]
    assert " " not in copied


def test_pdf_validates_as_pdfa_2b_and_the_validator_catches_faults(tmp_path):
    """pikepdf's PDF/A validator (an allowlist: it approves only what it knows conforms) passes the
    item PDF — colour and grey pages, horizontal and vertical text, a page with no text, a title
    that needs XML escaping — and fails the same file once its output intent is taken away."""
    import pikepdf
    import pikepdf.pdfa

    pages = []
    for page, grey in ((_page(), False), (_page(vertical=True), True), (PageText((), 300, 200, "eng:1"), False)):
        buf = BytesIO()
        Image.new("L" if grey else "RGB", (page.width, page.height), "white").save(buf, "JPEG")
        pages.append(PdfPage(page, buf.getvalue(), 200.0, grey=grey))
    path = WritePDF().write(pages, tmp_path / "item.pdf", "津档发<2021>&12号 檔案")
    report = pikepdf.pdfa.validate_written(path, "2b")
    assert report.passed, [str(f) for f in report.findings]

    with pikepdf.open(path) as pdf:
        del pdf.Root.OutputIntents
        pdf.save(tmp_path / "no-intent.pdf")
    broken = pikepdf.pdfa.validate_written(tmp_path / "no-intent.pdf", "2b")
    assert not broken.passed and any("OutputIntent" in str(f) for f in broken.findings)

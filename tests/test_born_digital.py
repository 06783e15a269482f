"""A born-digital PDF page's own text is used instead of OCR and marked so."""

import pytest

from pipeline.digitise import PDF_TEXT_SIGNATURE, ingest_batch, recognise_pages
from pipeline.index.query import Filters, parse
from pipeline.ingest.examine import examine_file
from pipeline.store import open_store


def _text_pdf(text: str) -> bytes:
    """A one-page PDF with a real text layer (Helvetica), built by hand with a correct xref."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_examine_finds_the_text_layer(tmp_path):
    p = tmp_path / "J001-WS-2023-Y-BGS-0001.pdf"
    p.write_bytes(_text_pdf("Archive digitisation report 2023"))
    page = examine_file(p, 10**9, 10).pages[0]
    assert page.text == "Archive digitisation report 2023" and page.facts.dpi is None


@pytest.mark.slow
def test_born_digital_page_is_indexed_without_ocr(tmp_path, settings, engine):
    from .conftest import CountingEngine

    batch = tmp_path / "b"
    batch.mkdir()
    (batch / "J001-WS-2023-Y-BGS-0001.pdf").write_bytes(_text_pdf("Archive digitisation report 2023"))
    counting = CountingEngine(engine)
    with open_store(settings.db_url) as store:
        ing = ingest_batch(batch, settings, store)
        assert [f["rule"] for f in store.findings(ing.batch)] == []  # no dpi check on born-digital pages
        result = recognise_pages(ing.pages, settings, store, counting, ing.batch)
        page = store.db.execute("SELECT text, engine, text_source FROM pages").fetchone()
        hits = store.search(parse("digitisation"), ["开放", "控制", "未审核"], Filters())["total"]
    assert counting.calls == 0 and result.done == 1
    assert tuple(page) == ("Archive digitisation report 2023", PDF_TEXT_SIGNATURE, "pdf-text")
    assert hits == 1

"""The searchable 双层PDF: each page image with an invisible text layer, aiming at PDF/A-2b.

Why Chinese copies and searches without spaces here: text extractors insert a space wherever
the next glyph does not start where the previous one's advance ended. Tesseract-based PDFs place
every character (each a "word" to Tesseract) on its own, so gaps appear between them (OCRmyPDF
issues #715/#1391). Here each OCR line is one text run of a font whose every glyph advances the
same full em, stretched with ``Tz`` to the line's measured length, so the advances tile the line
exactly and no gap exists to be read as a space. Vertical columns (竖排) are runs turned by 90°
that advance down the page.

The font is glyphless (after Tesseract's and OCRmyPDF's approach): a tiny TrueType font whose one
glyph draws nothing, embedded once, with character codes = Unicode code points (Identity-H) and
a ToUnicode map that gives the text back. The page stays the size of its JPEG plus ~2 KB.

PDF/A-2b parts: XMP metadata with ``pdfaid:part 2 / conformance B``, an sRGB output intent, the
embedded font with ``CIDToGIDMap``, no ``.notdef`` use, file identifiers. The tests check the
result with pikepdf's PDF/A validator (``pikepdf.pdfa``: an allowlist, so an approval is not a
guess); veraPDF is not installable from the registries this project may use.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from pipeline.ocr.types import PageText


@dataclass
class PdfPage:
    text: PageText
    jpeg: bytes  # the page image the boxes refer to (the access copy)
    dpi: float
    grey: bool = False


@lru_cache(maxsize=1)
def glyphless_font() -> bytes:
    """A TrueType font: .notdef and one empty glyph, 1000 units wide (one full-width em)."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder([".notdef", "space"])
    fb.setupCharacterMap({0x20: "space"})
    empty = TTGlyphPen(None).glyph()
    fb.setupGlyf({".notdef": empty, "space": TTGlyphPen(None).glyph()})
    fb.setupHorizontalMetrics({".notdef": (1000, 0), "space": (1000, 0)})
    fb.setupHorizontalHeader(ascent=880, descent=-120)
    fb.setupNameTable({"familyName": "GlyphLessFont", "styleName": "Regular"})
    fb.setupOS2(sTypoAscender=880, sTypoDescender=-120, usWinAscent=880, usWinDescent=120)
    fb.setupPost()
    buf = io.BytesIO()
    fb.save(buf)
    return buf.getvalue()


def _tounicode(extra: dict[int, int]) -> bytes:
    """CMap: codes 0000-FFFF are their own BMP code point; ``extra`` maps stand-in codes to
    characters beyond the BMP (as UTF-16 surrogate pairs)."""
    lines = ["/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
             "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
             "/CMapName /Adobe-Identity-UCS def", "/CMapType 2 def",
             "1 begincodespacerange", "<0000> <FFFF>", "endcodespacerange"]
    ranges = [hi for hi in range(256) if not 0xD8 <= hi <= 0xDF]  # surrogates: no characters
    for i in range(0, len(ranges), 100):
        chunk = ranges[i : i + 100]
        lines.append(f"{len(chunk)} beginbfrange")
        lines += [f"<{hi:02X}00> <{hi:02X}FF> <{hi:02X}00>" for hi in chunk]
        lines.append("endbfrange")
    if extra:
        items = sorted(extra.items())
        for i in range(0, len(items), 100):
            chunk = items[i : i + 100]
            lines.append(f"{len(chunk)} beginbfchar")
            for code, cp in chunk:
                lines.append(f"<{code:04X}> <{chr(cp).encode('utf-16-be').hex().upper()}>")
            lines.append("endbfchar")
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(lines).encode("ascii")


class _Doc:
    def __init__(self):
        self.objects: list[bytes | None] = []

    def reserve(self) -> int:
        self.objects.append(None)
        return len(self.objects)

    def set(self, num: int, body: bytes) -> int:
        self.objects[num - 1] = body
        return num

    def add(self, body: bytes) -> int:
        return self.set(self.reserve(), body)

    def stream(self, data: bytes, extra: str = "", compress: bool = True) -> int:
        if compress:
            data = zlib.compress(data, 9)
            extra = f"/Filter /FlateDecode {extra}"
        return self.add(f"<< /Length {len(data)} {extra} >>\nstream\n".encode() + data + b"\nendstream")

    def serialise(self, root: int, file_id: bytes) -> bytes:
        out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for i, body in enumerate(self.objects, 1):
            offsets.append(len(out))
            out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
        xref = len(out)
        out += f"xref\n0 {len(self.objects) + 1}\n0000000000 65535 f \n".encode()
        out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
        fid = file_id.hex().upper()
        out += (f"trailer\n<< /Size {len(self.objects) + 1} /Root {root} 0 R /ID [<{fid}> <{fid}>] >>\n"
                f"startxref\n{xref}\n%%EOF\n").encode()
        return bytes(out)


def _xmp(title: str, created: str) -> bytes:
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
 xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
<pdfaid:part>2</pdfaid:part>
<pdfaid:conformance>B</pdfaid:conformance>
<dc:format>application/pdf</dc:format>
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{_xml(title)}</rdf:li></rdf:Alt></dc:title>
<xmp:CreateDate>{created}</xmp:CreateDate>
<xmp:ModifyDate>{created}</xmp:ModifyDate>
<xmp:CreatorTool>dangan</xmp:CreatorTool>
<pdf:Producer>dangan</pdf:Producer>
</rdf:Description>
</rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode("utf-8")


def _xml(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@lru_cache(maxsize=1)
def _srgb_icc() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _encode(text: str, extra: dict[int, int]) -> str:
    """Two-byte codes: the BMP code point, or a stand-in code from the surrogate range."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp > 0xFFFF or 0xD800 <= cp <= 0xDFFF:
            code = next((k for k, v in extra.items() if v == cp), None)
            if code is None:
                code = 0xD800 + len(extra)
                extra[code] = cp
            cp = code
        out.append(f"{cp:04X}")
    return "".join(out)


def _text_ops(page: PdfPage, extra: dict[int, int]) -> list[str]:
    s = 72.0 / page.dpi
    height_pt = page.text.height * s
    ops = ["BT", "3 Tr"]
    for ln in page.text.lines:
        text = "".join(ln.text.split()) if _all_cjk(ln.text) else ln.text
        if not text:
            continue
        x0, y0, x1, y1 = (v * s for v in ln.bbox)
        w, h = x1 - x0, y1 - y0
        vertical = page.text.vertical and h > 1.5 * w
        if vertical:
            size, length = w, h
            # Turned 90° clockwise: advances run down the page; the glyphs' bottoms face left.
            tm = f"0 -1 1 0 {x0 + 0.12 * size:.2f} {height_pt - y0:.2f} Tm"
        else:
            size, length = h, w
            tm = f"1 0 0 1 {x0:.2f} {height_pt - y1 + 0.12 * size:.2f} Tm"
        scale = 100.0 * length / (len(text) * size) if size > 0 else 100.0
        ops.append(f"/F1 {size:.2f} Tf {scale:.2f} Tz {tm} <{_encode(text, extra)}> Tj")
    ops.append("ET")
    return ops


def _all_cjk(text: str) -> bool:
    """Line text to place without its spaces: engines sometimes put spaces between CJK characters."""
    return not any("a" <= c.lower() <= "z" or c.isdigit() for c in text)


def render_pdf(pages: list[PdfPage], title: str = "") -> bytes:
    doc = _Doc()
    catalog, pages_obj = doc.reserve(), doc.reserve()
    extra: dict[int, int] = {}
    font_file = doc.stream(glyphless_font(), f"/Length1 {len(glyphless_font())}")
    cid_to_gid = doc.stream(b"\x00\x01" * 65536)
    descriptor = doc.add(b"<< /Type /FontDescriptor /FontName /GlyphLessFont /Flags 5 "
                         b"/FontBBox [0 -120 1000 880] /ItalicAngle 0 /Ascent 880 /Descent -120 "
                         b"/CapHeight 880 /StemV 80 /FontFile2 " + f"{font_file} 0 R".encode() + b" >>")
    cid_font = doc.add(f"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /GlyphLessFont "
                       f"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
                       f"/FontDescriptor {descriptor} 0 R /DW 1000 /CIDToGIDMap {cid_to_gid} 0 R >>".encode())
    tounicode = doc.reserve()  # filled in last: it lists the stand-in codes the pages used
    font = doc.add(f"<< /Type /Font /Subtype /Type0 /BaseFont /GlyphLessFont /Encoding /Identity-H "
                   f"/DescendantFonts [{cid_font} 0 R] /ToUnicode {tounicode} 0 R >>".encode())
    kids = []
    for p in pages:
        s = 72.0 / p.dpi
        w_pt, h_pt = p.text.width * s, p.text.height * s
        cs = "/DeviceGray" if p.grey else "/DeviceRGB"
        image = doc.stream(p.jpeg, f"/Type /XObject /Subtype /Image /Width {p.text.width} /Height {p.text.height} "
                                   f"/ColorSpace {cs} /BitsPerComponent 8 /Filter /DCTDecode", compress=False)
        ops = [f"q {w_pt:.2f} 0 0 {h_pt:.2f} 0 0 cm /Im1 Do Q", *_text_ops(p, extra)]
        content = doc.stream("\n".join(ops).encode("ascii"))
        kids.append(doc.add(f"<< /Type /Page /Parent {pages_obj} 0 R /MediaBox [0 0 {w_pt:.2f} {h_pt:.2f}] "
                            f"/Resources << /Font << /F1 {font} 0 R >> /XObject << /Im1 {image} 0 R >> >> "
                            f"/Contents {content} 0 R >>".encode()))
    doc.set(tounicode, _stream_body(_tounicode(extra)))
    doc.set(pages_obj, f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>".encode())
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    xmp = _xmp(title, created)
    meta = doc.add(f"<< /Type /Metadata /Subtype /XML /Length {len(xmp)} >>\nstream\n".encode() + xmp + b"\nendstream")
    icc = _srgb_icc()
    icc_obj = doc.stream(icc, "/N 3")
    intent = doc.add(f"<< /Type /OutputIntent /S /GTS_PDFA1 /OutputConditionIdentifier (sRGB) "
                     f"/Info (sRGB IEC61966-2.1) /DestOutputProfile {icc_obj} 0 R >>".encode())
    doc.set(catalog, f"<< /Type /Catalog /Pages {pages_obj} 0 R /Metadata {meta} 0 R "
                     f"/OutputIntents [{intent} 0 R] /Lang (zh-CN) >>".encode())
    file_id = hashlib.md5(b"".join(p.jpeg[:4096] for p in pages) + title.encode()).digest()
    return doc.serialise(catalog, file_id)


def _stream_body(data: bytes) -> bytes:
    packed = zlib.compress(data, 9)
    return f"<< /Length {len(packed)} /Filter /FlateDecode >>\nstream\n".encode() + packed + b"\nendstream"

"""ALTO v4 (``Page`` > ``PrintSpace`` > ``TextBlock`` > ``TextLine`` > ``String@CONTENT/@WC``).

One TextBlock per page holds the lines in reading order; one String per line (Chinese has no
word spaces). Coordinates are image pixels (``MeasurementUnit`` pixel).
"""

from __future__ import annotations

from datetime import UTC, datetime
from xml.sax.saxutils import quoteattr

from lxml import etree

from pipeline.ocr.types import PageText

NS = "http://www.loc.gov/standards/alto/ns-v4#"
SCHEMA = "http://www.loc.gov/standards/alto/v4/alto-4-2.xsd"


def render_alto(pages: list[PageText], meta: dict) -> bytes:
    source = meta.get("source") or meta.get("image") or ""
    engine = pages[0].engine if pages else ""
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<alto xmlns="{NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{NS} {SCHEMA}">',
        "<Description>",
        "<MeasurementUnit>pixel</MeasurementUnit>",
        f"<sourceImageInformation><fileName>{_text(str(source))}</fileName></sourceImageInformation>",
        "<OCRProcessing ID=\"OCR_0\"><ocrProcessingStep>",
        f"<processingDateTime>{datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}</processingDateTime>",
        f"<processingSoftware><softwareName>dangan</softwareName>"
        f"<softwareVersion>{_text(engine)}</softwareVersion></processingSoftware>",
        "</ocrProcessingStep></OCRProcessing>",
        "</Description>",
        "<Layout>",
    ]
    for n, page in enumerate(pages, 1):
        out.append(f'<Page ID="P{n}" PHYSICAL_IMG_NR="{n}" HEIGHT="{page.height}" WIDTH="{page.width}"'
                   + (f' PC="{page.mean_confidence:.4f}"' if page.mean_confidence is not None else "") + ">")
        out.append(f'<PrintSpace HPOS="0" VPOS="0" WIDTH="{page.width}" HEIGHT="{page.height}">')
        if page.lines:
            bx0 = min(ln.bbox[0] for ln in page.lines)
            by0 = min(ln.bbox[1] for ln in page.lines)
            bx1 = max(ln.bbox[2] for ln in page.lines)
            by1 = max(ln.bbox[3] for ln in page.lines)
            out.append(f'<TextBlock ID="P{n}_B1" HPOS="{bx0}" VPOS="{by0}" WIDTH="{bx1 - bx0}" HEIGHT="{by1 - by0}">')
            for i, ln in enumerate(page.lines, 1):
                x0, y0, x1, y1 = ln.bbox
                geo = f'HPOS="{x0}" VPOS="{y0}" WIDTH="{x1 - x0}" HEIGHT="{y1 - y0}"'
                out.append(f'<TextLine ID="P{n}_L{i}" {geo}>'
                           f'<String ID="P{n}_S{i}" {geo} CONTENT={quoteattr(ln.text)} WC="{ln.confidence:.4f}"/>'
                           "</TextLine>")
            out.append("</TextBlock>")
        out.append("</PrintSpace>")
        out.append("</Page>")
    out += ["</Layout>", "</alto>", ""]
    return "\n".join(out).encode("utf-8")


def _text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class AltoInvalid(ValueError):
    pass


_GEO = ("HPOS", "VPOS", "WIDTH", "HEIGHT")


def validate_alto(data: bytes) -> int:
    """Check a document against the ALTO v4 schema's rules for what dangan writes; return lines.

    The official XSD cannot be fetched here (no network beyond the package registries), so this
    encodes its constraints for these elements: namespace, element order
    (Description, then Layout), ``MeasurementUnit`` from the schema's enumeration, required
    attributes (``Page@ID/HEIGHT/WIDTH/PHYSICAL_IMG_NR``, ``String@CONTENT``) and types
    (ID unique NCName-like, float positions, ``WC`` in 0..1), and containment.
    """
    try:
        root = etree.fromstring(data)
    except etree.XMLSyntaxError as exc:
        raise AltoInvalid(f"not well-formed: {exc}") from exc
    q = lambda tag: f"{{{NS}}}{tag}"  # noqa: E731
    if root.tag != q("alto"):
        raise AltoInvalid(f"root is {root.tag}, not ALTO v4's alto")
    kids = [c.tag for c in root]
    if kids[:1] != [q("Description")] or q("Layout") not in kids or kids.index(q("Layout")) < 1:
        raise AltoInvalid("alto must hold Description, then Layout")
    unit = root.find(f"{q('Description')}/{q('MeasurementUnit')}")
    if unit is not None and unit.text not in ("pixel", "mm10", "inch1200"):
        raise AltoInvalid(f"MeasurementUnit {unit.text!r} is not pixel, mm10 or inch1200")
    ids: set[str] = set()

    def need(el, attrs, kind=float):
        for a in attrs:
            v = el.get(a)
            if v is None:
                raise AltoInvalid(f"{etree.QName(el).localname} lacks @{a}")
            try:
                kind(v)
            except ValueError as exc:
                raise AltoInvalid(f"{etree.QName(el).localname}@{a}={v!r} is not a number") from exc
        if (i := el.get("ID")) is not None:
            if not i or i[0].isdigit() or " " in i or i in ids:
                raise AltoInvalid(f"ID {i!r} is not a unique NCName")
            ids.add(i)

    lines = 0
    for page in root.iter(q("Page")):
        if page.getparent().tag != q("Layout"):
            raise AltoInvalid("Page outside Layout")
        need(page, ("ID", "HEIGHT", "WIDTH", "PHYSICAL_IMG_NR"), str)
        for el in page.iter(q("TextBlock"), q("TextLine"), q("String")):
            need(el, _GEO)
            parent = etree.QName(el.getparent()).localname
            allowed = {"TextBlock": ("PrintSpace", "TopMargin", "LeftMargin", "RightMargin", "BottomMargin",
                                     "ComposedBlock"), "TextLine": ("TextBlock",), "String": ("TextLine",)}
            if parent not in allowed[etree.QName(el).localname]:
                raise AltoInvalid(f"{etree.QName(el).localname} inside {parent}")
            if el.tag == q("TextLine"):
                lines += 1
            if el.tag == q("String"):
                if el.get("CONTENT") is None:
                    raise AltoInvalid("String lacks @CONTENT")
                if (wc := el.get("WC")) is not None and not 0 <= float(wc) <= 1:
                    raise AltoInvalid(f"String@WC={wc} outside 0..1")
    return lines

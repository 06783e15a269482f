"""hOCR 1.2 (``ocr_page`` > ``ocr_line`` > ``ocrx_word``, ``bbox``, ``x_wconf``) and its checker.

Each OCR line is one ``ocr_line`` holding one ``ocrx_word`` (Chinese has no word spaces; a line
is the unit the engine reports with one confidence). Vertical columns (竖排) carry
``textangle 90`` on their ``ocr_line``, since hOCR has no class for vertical CJK.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from pipeline.ocr.types import PageText

XHTML = "http://www.w3.org/1999/xhtml"


def _bbox(b) -> str:
    return f"bbox {b[0]} {b[1]} {b[2]} {b[3]}"


def render_hocr(pages: list[PageText], meta: dict) -> bytes:
    images = meta.get("images") or [meta.get("image", "")] * len(pages)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">',
        f'<html xmlns="{XHTML}" xml:lang="zh" lang="zh">',
        "<head>",
        f"<title>{escape(str(meta.get('refcode', meta.get('source', ''))))}</title>",
        '<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>',
        f'<meta name="ocr-system" content={quoteattr("dangan " + (pages[0].engine if pages else ""))}/>',
        '<meta name="ocr-capabilities" content="ocr_page ocr_carea ocr_line ocrx_word"/>',
        "</head>",
        "<body>",
    ]
    for n, (page, image) in enumerate(zip(pages, images), 1):
        title = f'image "{image}"; {_bbox((0, 0, page.width, page.height))}; ppageno {n - 1}'
        out.append(f'<div class="ocr_page" id="page_{n}" title={quoteattr(title)}>')
        for i, ln in enumerate(page.lines, 1):
            conf = round(100 * ln.confidence)
            angle = "; textangle 90" if page.vertical and (ln.bbox[3] - ln.bbox[1]) > (ln.bbox[2] - ln.bbox[0]) else ""
            out.append(f'<span class="ocr_line" id="line_{n}_{i}" title="{_bbox(ln.bbox)}{angle}; x_wconf {conf}">'
                       f'<span class="ocrx_word" id="word_{n}_{i}" title="{_bbox(ln.bbox)}; x_wconf {conf}">'
                       f"{escape(ln.text)}</span></span>")
        out.append("</div>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out).encode("utf-8")


class HocrInvalid(ValueError):
    pass


def _props(el) -> dict[str, list[str]]:
    props = {}
    for part in (el.get("title") or "").split(";"):
        bits = part.strip().split(None, 1)
        if bits:
            props[bits[0]] = bits[1].split() if len(bits) > 1 else []
    return props


def validate_hocr(data: bytes) -> int:
    """Check hOCR against the rules of the hOCR 1.2 spec that readers rely on; return the line count.

    hOCR has no XML schema (it is an HTML microformat), so this is a structural check: well-formed
    XHTML, ``ocr-capabilities`` listing the classes used, every ``ocr_line`` inside an
    ``ocr_page``, every ``ocrx_word`` inside an ``ocr_line``, ``bbox`` of four integers inside its
    parent's, ``x_wconf`` within 0..100, unique ids.
    """
    try:
        root = etree.fromstring(data)
    except etree.XMLSyntaxError as exc:
        raise HocrInvalid(f"not well-formed: {exc}") from exc
    ns = {"h": XHTML}
    caps = root.xpath("//h:meta[@name='ocr-capabilities']/@content", namespaces=ns)
    if not caps:
        raise HocrInvalid("no ocr-capabilities meta")
    declared = set(caps[0].split())
    ids: set[str] = set()
    lines = 0
    for el in root.iter(f"{{{XHTML}}}*"):
        cls = el.get("class")
        if not cls or not cls.startswith("ocr"):
            continue
        if cls not in declared:
            raise HocrInvalid(f"class {cls} not in ocr-capabilities")
        if (i := el.get("id")) in ids:
            raise HocrInvalid(f"duplicate id {i}")
        ids.add(i)
        p = _props(el)
        if "bbox" not in p or len(p["bbox"]) != 4 or not all(v.lstrip("-").isdigit() for v in p["bbox"]):
            raise HocrInvalid(f"{cls} {i}: bad or missing bbox")
        x0, y0, x1, y1 = map(int, p["bbox"])
        if x0 > x1 or y0 > y1:
            raise HocrInvalid(f"{cls} {i}: bbox corners out of order")
        if "x_wconf" in p and not 0 <= float(p["x_wconf"][0]) <= 100:
            raise HocrInvalid(f"{cls} {i}: x_wconf outside 0..100")
        parent_cls = {"ocr_line": "ocr_page", "ocrx_word": "ocr_line"}.get(cls)
        if parent_cls:
            parent = el.getparent()
            while parent is not None and parent.get("class") != parent_cls:
                parent = parent.getparent()
            if parent is None:
                raise HocrInvalid(f"{cls} {i} is not inside an {parent_cls}")
            if cls == "ocr_line":
                lines += 1
                px0, py0, px1, py1 = map(int, _props(parent)["bbox"])
                if x0 < px0 - 1 or y0 < py0 - 1 or x1 > px1 + 1 or y1 > py1 + 1:
                    raise HocrInvalid(f"line {i} lies outside its page")
    return lines

"""Archive-like page images whose text is known: the benchmark's and the tests' test data.

Each kind imitates a page an archive receives: a horizontal simplified 公文, a vertical
traditional page (竖排, columns right to left), the same horizontal page skewed 2-5°, with
scanner noise and stains, faded on a yellowed ground, with a red seal over the text, in two
columns, or turned by 90/180/270°. ``make_page`` is deterministic for a seed.

Needs Debian's ``fonts-noto-cjk``. Used by ``bench/ocr.py`` and the tests.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIR = "/usr/share/fonts/opentype/noto"
SERIF, SANS = f"{FONT_DIR}/NotoSerifCJK-Regular.ttc", f"{FONT_DIR}/NotoSansCJK-Regular.ttc"
# Face index inside the Noto CJK collections.
FACE = {"sc": 2, "tc": 3}
RED = (200, 30, 30)

# Sentences in the register of archive records (from the seed plans and common 公文 wording).
CORPUS = [
    "为推动档案事业转型发展和高质量发展，现就推进档案数字化工作通知如下。",
    "市档案馆应数字化档案数字化率达到百分之八十，各区档案馆达到百分之百。",
    "推动重要档案数字化成果文字识别，有条件的进行语音识别。",
    "档案治理能力明显提升，档案法规体系进一步完善，执法检查力度持续加强。",
    "各级各类档案馆累计开放档案一百一十一万余卷，接待查档利用九十四万余人次。",
    "档案信息化建设融入数字城市建设，新一代信息技术在档案工作中的应用更加广泛。",
    "加大对档案外包服务中安全风险较高的重点领域的监管力度，确保档案实体安全。",
    "各区档案馆要制定本馆数字化工作计划，按年度报送工作进展。",
    "档案馆应当建立健全档案开放审核制度，对到期档案进行开放审核。",
    "推进档案资源共享，完善馆藏档案目录数据库和全文数据库，提升利用服务水平。",
    "自治区档案馆纸质应数字化档案数字化率达到百分之百，直属机关达到百分之八十。",
    "新增纸质档案数字化副本一亿幅，文件级目录五百万条，开放档案一百万卷。",
    "县级综合档案馆应当按照国家规定接收本行政区域内各机关形成的档案。",
    "文书档案、科技档案、会计档案和声像档案分别整理，编制案卷目录和卷内目录。",
    "经鉴定已到保管期限的档案，由档案鉴定小组提出销毁意见，报领导审批后销毁。",
    "一九五八年本县遭受严重水灾，县人民委员会组织群众抗灾自救，恢复农业生产。",
    "关于土地改革工作情况的报告，请各乡人民政府认真研究，结合本地实际贯彻执行。",
    "会议听取了粮食征购工作的汇报，讨论了明年春耕生产的准备工作和水利建设计划。",
    "本年度共接收进馆档案三千二百卷，整理编目二千八百卷，修复破损档案四百余卷。",
    "民国时期的县政府档案保存较为完整，是研究地方历史的重要资料。",
]

KINDS = ("horizontal", "vertical_tc", "skewed", "noisy", "low_contrast", "seal", "two_column")


@dataclass
class Page:
    kind: str
    image: Image.Image  # RGB
    text: str  # ground truth in reading order, one line per printed line/column
    dpi: int
    meta: dict = field(default_factory=dict)


def font(size_px: int, script: str = "sc", serif: bool = True) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(SERIF if serif else SANS, size_px, index=FACE[script])


def to_traditional(text: str) -> str:
    import opencc

    return opencc.OpenCC("s2t").convert(text)


# Chinese typesetting never starts a line with these (避头点): they stay on the line before.
NO_LINE_START = "，。、；：？！）》」』”"


def _wrap(text: str, per_line: int) -> list[str]:
    lines: list[str] = []
    i = 0
    while i < len(text):
        line = text[i : i + per_line]
        i += per_line
        while i < len(text) and text[i] in NO_LINE_START:
            line += text[i]
            i += 1
        lines.append(line)
    return lines


def _sentences(rng: random.Random, n: int) -> list[str]:
    return rng.sample(CORPUS, n)


def _horizontal(rng, dpi, size, columns=1, pt=14, n_sent=None):
    w, h = size
    px = round(pt / 72 * dpi)
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    f = font(px)
    margin = round(0.09 * w)
    gutter = round(0.05 * w)
    col_w = (w - 2 * margin - (columns - 1) * gutter) // columns
    per_line = max(4, col_w // px)
    lines_per_col = max(1, (h - 2 * margin) // round(px * 1.8))
    truth: list[str] = []
    sents = _sentences(rng, n_sent or min(len(CORPUS), 8 * columns))
    lines = [ln for s in sents for ln in _wrap(s, per_line)]
    for c in range(columns):
        x = margin + c * (col_w + gutter)
        col = lines[c * lines_per_col : (c + 1) * lines_per_col]
        for i, ln in enumerate(col):
            d.text((x, margin + i * round(px * 1.8)), ln, font=f, fill=(20, 20, 20))
            truth.append(ln)
    img.info["text_bottom"] = margin + len(truth[: lines_per_col]) * round(px * 1.8)
    return img, truth, px


def _vertical(rng, dpi, size, pt=16, n_cols=None):
    """Traditional text set top to bottom, columns from the right."""
    w, h = size
    px = round(pt / 72 * dpi)
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    f = font(px, "tc")
    margin = round(0.09 * w)
    pitch = round(px * 1.15)
    per_col = max(4, (h - 2 * margin) // pitch)
    col_step = round(px * 1.9)
    max_cols = max(1, (w - 2 * margin) // col_step)
    text = to_traditional("".join(_sentences(rng, 6)))
    cols = _wrap(text, per_col)[: n_cols or max_cols]
    for c, col in enumerate(cols):
        x = w - margin - px - c * col_step
        for i, ch in enumerate(col):
            d.text((x, margin + i * pitch), ch, font=f, fill=(20, 20, 20))
    return img, cols, px


def _skew(img: Image.Image, rng) -> tuple[Image.Image, float]:
    angle = rng.uniform(2, 5) * rng.choice((-1, 1))
    return img.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor="white"), angle


def _scanner_border(img: Image.Image, rng, width: int) -> Image.Image:
    """Dark scanner-lid edges around the sheet, as flatbed scans have."""
    out = Image.new("RGB", (img.width + 2 * width, img.height + 2 * width), (40, 40, 40))
    out.paste(img, (width + rng.randint(-width // 2, width // 2), width))
    return out


def _bleed_through(img: Image.Image, rng, px: int) -> np.ndarray:
    """The verso's text showing through thin paper: mirrored, faint, a little blurred."""
    w, h = img.size
    verso = Image.new("L", (w, h), 255)
    d = ImageDraw.Draw(verso)
    f = font(px)
    margin = round(0.09 * w)
    per_line = max(4, (w - 2 * margin) // px)
    lines = [ln for s in _sentences(rng, 8) for ln in _wrap(s, per_line)]
    for i, ln in enumerate(lines[: (h - 2 * margin) // round(px * 1.8)]):
        d.text((margin, margin + round(px * 0.9) + i * round(px * 1.8)), ln, font=f, fill=0)
    verso = verso.transpose(Image.FLIP_LEFT_RIGHT).filter(ImageFilter.GaussianBlur(1.5))
    shade = 1 - 0.28 * (1 - np.asarray(verso, np.float32) / 255)
    return (np.asarray(img, np.float32) * shade[..., None]).astype(np.uint8)


def _noise(arr: np.ndarray, rng: np.random.Generator, stains: int = 6) -> np.ndarray:
    h, w = arr.shape[:2]
    out = arr.astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(stains):  # brownish water stains
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(0.05, 0.15) * min(h, w)
        mask = np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)))[..., None]
        out = out * (1 - 0.35 * mask) + np.array([150, 120, 70]) * 0.35 * mask
    out += rng.normal(0, 18, out.shape)
    specks = rng.random((h, w)) < 0.004  # dust: dark specks of one to three pixels
    specks |= np.roll(specks & (rng.random((h, w)) < 0.5), 1, axis=1)
    specks |= np.roll(specks & (rng.random((h, w)) < 0.3), 1, axis=0)
    out[specks] = 30
    return np.clip(out, 0, 255).astype(np.uint8)


def _low_contrast(arr: np.ndarray) -> np.ndarray:
    """Faded ink on yellowed paper with uneven light."""
    h, w = arr.shape[:2]
    a = arr.astype(np.float32) / 255
    paper = np.array([222, 210, 180], np.float32)
    ink = np.array([130, 120, 105], np.float32)
    light = (0.82 + 0.18 * np.linspace(0, 1, w))[None, :, None]
    out = (ink + (paper - ink) * a) * light
    return np.clip(out, 0, 255).astype(np.uint8)


def _seal(img: Image.Image, rng, px: int) -> None:
    """A red round seal with a star and curved text, half over the body text (multiply blend)."""
    w, h = img.size
    r = round(px * 3.2)
    bottom = img.info.get("text_bottom", h // 2)
    cx, cy = rng.randint(w // 2, w - r - 20), rng.randint(max(r, bottom // 3), max(r + 1, bottom - r))
    layer = Image.new("L", img.size, 0)
    d = ImageDraw.Draw(layer)
    d.ellipse((cx - r, cy - r, cx + r, cy + r), outline=255, width=max(3, px // 6))
    star = [(cx + 0.35 * r * math.cos(math.pi / 2 + k * 4 * math.pi / 5),
             cy - 0.35 * r * math.sin(math.pi / 2 + k * 4 * math.pi / 5)) for k in range(5)]
    d.polygon(star, fill=255)
    f = font(round(px * 0.8))
    name = "天津市档案馆"
    for i, ch in enumerate(name):
        a = math.radians(150 - i * 120 / (len(name) - 1))
        tx, ty = cx + 0.72 * r * math.cos(a), cy - 0.72 * r * math.sin(a)
        d.text((tx, ty), ch, font=f, fill=255, anchor="mm")
    arr = np.asarray(img).astype(np.float32)
    m = (np.asarray(layer.filter(ImageFilter.GaussianBlur(1))).astype(np.float32) / 255 * 0.85)[..., None]
    red = np.array(RED, np.float32)
    arr = arr * (1 - m) + np.minimum(arr, red) * m  # ink under the seal stays dark
    img.paste(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)))


def make_page(kind: str, seed: int = 0, dpi: int = 200, size: tuple[int, int] | None = None) -> Page:
    """One page of ``kind`` (see KINDS; also ``rot90``/``rot180``/``rot270``) and its text."""
    if kind not in KINDS and kind not in ("rot90", "rot180", "rot270"):
        raise ValueError(f"unknown page kind {kind!r}")
    rng = random.Random(f"{kind}-{seed}")
    nrng = np.random.default_rng(rng.randrange(2**32))
    size = size or (round(8.27 * dpi), round(11.69 * dpi))  # A4
    meta: dict = {}
    if kind == "vertical_tc":
        img, truth, px = _vertical(rng, dpi, size)
    else:
        img, truth, px = _horizontal(rng, dpi, size, columns=2 if kind == "two_column" else 1)
    if kind == "seal":
        _seal(img, rng, px)
    if kind == "skewed":
        img, meta["skew"] = _skew(img, rng)
    if kind == "noisy":
        img = Image.fromarray(_bleed_through(img, rng, px))
        img = Image.fromarray(_noise(np.asarray(img), nrng)).filter(ImageFilter.GaussianBlur(0.6))
        img = _scanner_border(img, rng, round(0.03 * size[0]))
    if kind == "low_contrast":
        img = Image.fromarray(_low_contrast(np.asarray(img)))
    if kind.startswith("rot"):
        meta["rotation"] = int(kind[3:])
        img = img.rotate(meta["rotation"], expand=True)  # counter-clockwise, like a sheet fed sideways
    img.info["dpi"] = (dpi, dpi)
    return Page(kind, img, "\n".join(truth), dpi, meta)


def vertical_columns_page(columns: list[str], dpi: int = 200, pt: int = 16, height_chars: int | None = None,
                          column_step: float = 1.9) -> Page:
    """A small vertical page with exactly these columns (first column rightmost), for layout tests;
    ``column_step``: from one column to the next, in characters."""
    px = round(pt / 72 * dpi)
    pitch = round(px * 1.15)
    n = height_chars or max(len(c) for c in columns)
    step = round(px * column_step)
    margin = px
    w = 2 * margin + step * (len(columns) - 1) + px
    h = 2 * margin + pitch * n
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    f = font(px, "tc")
    for c, col in enumerate(columns):
        x = w - margin - px - c * step
        for i, ch in enumerate(col):
            d.text((x, margin + i * pitch), ch, font=f, fill=(20, 20, 20))
    img.info["dpi"] = (dpi, dpi)
    return Page("vertical_tc", img, "\n".join(columns), dpi)

"""Make the sample scan batch in ``samples/batch`` and its ground truth in ``samples/truth``.

The pages imitate what a county archive receives from a scanning vendor: 300-dpi A4 公文 with a
red 红头, a red seal over the signature, slight skew and scanner noise; one multi-page bilevel TIFF,
a colour JPEG, a two-page scanned PDF and a greyscale PNG. The text comes from the seed plans.
The catalogue also lists one item that has not been scanned yet, as real catalogues do.
Two 声像 items come with them: a short Mandarin recording (WAV) and a short video (MP4, H.264 +
AAC, a still title card), both spoken by espeak-ng from sentences of the plans.

Run:  python samples/make_samples.py [--out samples] [--only scans|av]
(needs Debian's fonts-noto-cjk; the recordings also espeak-ng and PyAV). ``--only av`` remakes the
recordings and the catalogue and leaves the scans byte for byte as they are.
The output is deterministic for a given Pillow/numpy/espeak-ng/FFmpeg version.
"""

from __future__ import annotations

import argparse
import csv
import math
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

DPI = 300
A4 = (2480, 3508)  # pixels at 300 dpi
FONT_DIR = Path("/usr/share/fonts/opentype/noto")
SERIF, SERIF_BOLD, SANS = "NotoSerifCJK-Regular.ttc", "NotoSerifCJK-Bold.ttc", "NotoSansCJK-Regular.ttc"
SC = 2  # index of the Simplified Chinese face in the Noto CJK collections
RED = (200, 30, 30)

BODY_PER_LINE = 26

# Each item: 档号, 全宗号, 年度, 保管期限, 机构, 题名, 开放状态, file name, format, pages of text.
ITEMS = [
    {
        "refcode": "J001-WS·2021-Y-BGS-0001",
        "fonds": "J001", "year": "2021", "retention": "永久", "org": "BGS",
        "title": "关于推进档案数字化工作的通知", "open_status": "开放",
        "file": "J001-WS-2021-Y-BGS-0001.tif", "format": "tiff",
        "issuer": "天津市档案馆", "docno": "津档发〔2021〕12号",
        "body": [
            "为推动“十四五”时期天津档案事业转型发展、高质量发展，更好服务社会主义现代化大都市建设，"
            "根据《“十四五”全国档案事业发展规划》，现就推进档案数字化工作通知如下。",
            "加快“存量数字化”，市档案馆应数字化档案数字化率达到百分之八十，各区档案馆应数字化档案"
            "数字化率达到百分之百，市级机关应数字化档案数字化率达到百分之八十。",
            "推动重要档案数字化成果文字识别，有条件的进行语音识别。",
            "档案治理能力明显提升，党对档案工作的领导全面加强，档案法规体系进一步完善，执法检查力度"
            "持续加强，基层档案规范化管理水平有力提升。",
            "档案开发开放成果丰硕，各级各类档案馆累计开放档案一百一十一万余卷，接待查档利用九十四万"
            "余人次，举办档案展览二百六十六个。",
        ],
        "body2": [
            "档案信息化建设融入数字天津建设，新一代信息技术在档案工作中的应用更加广泛，档案管理数字"
            "化、智能化水平得到提升，档案工作基本实现数字转型。",
            "加大对档案外包服务中安全风险较高的档案寄存托管、数字化、信息系统建设等重点领域的监管"
            "力度，确保档案实体安全和信息安全。",
            "各区档案馆要制定本馆数字化工作计划，按年度报送工作进展。",
        ],
        "date": "二〇二一年十二月二十三日", "seal": False,
    },
    {
        "refcode": "J001-WS·2021-Y-BGS-0002",
        "fonds": "J001", "year": "2021", "retention": "永久", "org": "BGS",
        "title": "关于开展档案开放审核工作的通知", "open_status": "控制",
        "file": "J001-WS-2021-Y-BGS-0002.jpg", "format": "jpeg",
        "issuer": "天津市档案馆", "docno": "津档发〔2021〕15号",
        "body": [
            "各区档案馆、市级各有关单位：",
            "为做好档案开放审核工作，依法向社会开放档案，现将有关事项通知如下。",
            "档案馆应当建立健全档案开放审核制度，对到期档案进行开放审核，开放档案全文在线查阅。",
            "推进档案资源共享，完善馆藏档案目录数据库和全文数据库，提升档案利用服务水平。",
        ],
        "date": "二〇二一年十一月八日", "seal": True,
    },
    {
        "refcode": "J001-WS·2022-D30-BGS-0003",
        "fonds": "J001", "year": "2022", "retention": "定期30年", "org": "BGS",
        "title": "内蒙古自治区档案事业发展情况通报", "open_status": "未审核",
        "file": "J001-WS-2022-D30-BGS-0003.pdf", "format": "pdf",
        "issuer": "天津市档案馆", "docno": "津档函〔2022〕3号",
        "body": [
            "自治区档案馆纸质应数字化档案数字化率达到百分之百，直属机关、国有企业达到百分之八十。",
            "盟市、旗县级综合档案馆数字化率达到百分之八十，加快推进文字识别和语音识别。",
            "坚持以人民为中心的发展思想，推动档案事业高质量发展。",
        ],
        "body2": [
            "完善档案资源体系，加强重点领域档案收集，丰富馆藏结构。",
            "推进档案数字资源长期保存，确保数字档案真实、完整、可用、安全。",
        ],
        "date": "二〇二二年三月十五日", "seal": False,
    },
    {
        "refcode": "J002-WS·2022-Y-ZHC-0001",
        "fonds": "J002", "year": "2022", "retention": "永久", "org": "ZHC",
        "title": "上海市档案事业发展规划摘要", "open_status": "开放",
        "file": "J002-WS-2022-Y-ZHC-0001.png", "format": "png",
        "issuer": "天津市档案局", "docno": "津档发〔2022〕7号",
        "body": [
            "新增纸质档案数字化副本一亿幅，新增文件级目录五百万条，开放档案一百万卷。",
            "依法治档履职、自主创新能力进一步增强，档案工作在服务国家战略中的作用进一步发挥。",
            "以人民为中心的档案服务观念深入人心，档案资源更加丰富。",
        ],
        "date": "二〇二二年五月二十日", "seal": True,
    },
]
# In the catalogue but not yet scanned: keeps the sample 数字化率 below 100%.
UNSCANNED = {
    "refcode": "J002-WS·2022-Y-ZHC-0002", "fonds": "J002", "year": "2022", "retention": "永久",
    "org": "ZHC", "title": "佛山市档案事业发展规划摘要", "open_status": "未审核", "file": "",
}


# 声像 items: 档号 with 门类 LY (录音) and LX (录像); spoken text is the truth for a real model's CER.
AV_ITEMS = [
    {
        "refcode": "J001-LY·2021-Y-BGS-0001",
        "fonds": "J001", "year": "2021", "retention": "永久", "org": "BGS",
        "title": "档案数字化工作会议录音（节选）", "open_status": "开放",
        "file": "J001-LY-2021-Y-BGS-0001.wav", "format": "wav",
        "speech": "推动重要档案数字化成果文字识别，有条件的进行语音识别。",
    },
    {
        "refcode": "J001-LX·2021-Y-BGS-0001",
        "fonds": "J001", "year": "2021", "retention": "永久", "org": "BGS",
        "title": "档案开放工作宣传片（节选）", "open_status": "未审核",
        "file": "J001-LX-2021-Y-BGS-0001.mp4", "format": "mp4",
        "speech": "开放档案全文在线查阅。",
    },
]
AV_RATE = 16_000


def speak(text: str) -> "np.ndarray":
    """Mandarin speech from espeak-ng as 16 kHz mono float32, with a short pause either side."""
    import av

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "s.wav"
        subprocess.run(["espeak-ng", "-v", "cmn", "-s", "190", "-w", str(wav), text], check=True)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=AV_RATE)
        with av.open(str(wav)) as c:
            parts = [o.to_ndarray().reshape(-1) for f in c.decode(audio=0) for o in resampler.resample(f)]
        parts += [o.to_ndarray().reshape(-1) for o in resampler.resample(None)]
    pause = np.zeros(AV_RATE // 2, dtype=np.float32)
    return np.concatenate([pause, *parts, pause])


def write_wav(path: Path, audio: "np.ndarray") -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(AV_RATE)
        w.writeframes(np.clip(np.round(audio * 32767), -32768, 32767).astype("<i2").tobytes())


def write_video(path: Path, audio: "np.ndarray", title: str, refcode: str) -> None:
    """A still title card for the length of the audio: H.264 at 2 fps, AAC mono, in MP4."""
    import av

    card = Image.new("RGB", (320, 180), (30, 40, 60))
    d = ImageDraw.Draw(card)
    d.text((16, 60), title, font=font(SANS, 18), fill=(240, 240, 240))
    d.text((16, 100), refcode, font=font(SANS, 14), fill=(200, 200, 200))
    fps = 2
    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=fps, options={"crf": "30", "preset": "veryslow", "tune": "stillimage"})
        vs.width, vs.height, vs.pix_fmt = 320, 180, "yuv420p"
        aus = out.add_stream("aac", rate=AV_RATE, layout="mono")
        aus.bit_rate = 24_000
        for i in range(math.ceil(len(audio) / AV_RATE * fps)):
            frame = av.VideoFrame.from_image(card)
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        block = 1024
        for i in range(0, len(audio), block):
            frame = av.AudioFrame.from_ndarray(audio[None, i : i + block].astype(np.float32), format="flt", layout="mono")
            frame.sample_rate = AV_RATE
            frame.pts = i
            out.mux(aus.encode(frame))
        out.mux(aus.encode(None))


def make_av(batch: Path, truth_dir: Path) -> None:
    for item in AV_ITEMS:
        audio = 0.6 * speak(item["speech"])
        if item["format"] == "wav":
            write_wav(batch / item["file"], audio)
        else:
            write_video(batch / item["file"], audio, item["title"], item["refcode"])
        (truth_dir / f"{item['file'].rsplit('.', 1)[0]}.txt").write_text(item["speech"] + "\n", encoding="utf-8")


def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / name), size, index=SC)


def wrap(text: str, width: int, indent: bool = True) -> list[str]:
    text = ("\u3000\u3000" if indent else "") + text
    return [text[i : i + width] for i in range(0, len(text), width)]


def draw_seal(img: Image.Image, centre: tuple[int, int], label: str) -> None:
    """A round red seal: ring, star, and the issuer's name along the upper arc."""
    layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    cx, cy = centre
    r = 240
    d.ellipse((cx - r, cy - r, cx + r, cy + r), outline=RED + (210,), width=14)
    star = [
        (cx + 70 * math.cos(math.radians(-90 + k * 36)) * (1 if k % 2 == 0 else 0.4),
         cy + 70 * math.sin(math.radians(-90 + k * 36)) * (1 if k % 2 == 0 else 0.4))
        for k in range(10)
    ]
    d.polygon(star, fill=RED + (210,))
    f = font(SANS, 62)
    n = len(label)
    for k, ch in enumerate(label):
        a = math.radians(-150 + 120 * k / max(n - 1, 1))
        glyph = Image.new("RGBA", (80, 80), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text((8, 4), ch, font=f, fill=RED + (210,))
        glyph = glyph.rotate(-math.degrees(a) - 90, resample=Image.BICUBIC)
        x = cx + (r - 75) * math.cos(a) - 40
        y = cy + (r - 75) * math.sin(a) - 40
        layer.alpha_composite(glyph, (int(x), int(y)))
    img.paste(layer, (0, 0), layer)


def render_page(item: dict, body: list[str], first: bool, last: bool, page_no: int) -> tuple[Image.Image, list[str]]:
    """Draw one page; return the image and the lines of text a reader sees on it (the truth)."""
    img = Image.new("RGB", A4, (250, 248, 242))
    d = ImageDraw.Draw(img)
    truth: list[str] = []
    left, y = 300, 300
    if first:
        head = item["issuer"] + "文件"
        f = font(SERIF_BOLD, 150)
        w = d.textlength(head, font=f)
        d.text(((A4[0] - w) / 2, y), head, font=f, fill=RED)
        truth.append(head)
        y += 260
        f = font(SERIF, 64)
        w = d.textlength(item["docno"], font=f)
        d.text(((A4[0] - w) / 2, y), item["docno"], font=f, fill=(20, 20, 20))
        truth.append(item["docno"])
        y += 110
        d.rectangle((left, y, A4[0] - left, y + 8), fill=RED)
        y += 90
        f = font(SERIF_BOLD, 84)
        w = d.textlength(item["title"], font=f)
        d.text(((A4[0] - w) / 2, y), item["title"], font=f, fill=(20, 20, 20))
        truth.append(item["title"])
        y += 180
    f = font(SERIF, 68)
    for para in body:
        indent = not para.endswith("：")
        for line in wrap(para, BODY_PER_LINE, indent=indent):
            d.text((left, y), line, font=f, fill=(25, 25, 25))
            truth.append(line.strip("\u3000"))
            y += 112
        y += 10
    if last:
        y += 120
        for text in (item["issuer"], item["date"]):
            w = d.textlength(text, font=f)
            d.text((A4[0] - left - w - 60, y), text, font=f, fill=(25, 25, 25))
            truth.append(text)
            y += 112
        if item["seal"]:
            draw_seal(img, (A4[0] - left - 330, y - 160), item["issuer"])
    f = font(SERIF, 56)
    folio = f"— {page_no} —"
    w = d.textlength(folio, font=f)
    d.text(((A4[0] - w) / 2, A4[1] - 260), folio, font=f, fill=(25, 25, 25))
    truth.append(folio.replace(" ", ""))
    return img, truth


def scanned(img: Image.Image, seed: int, skew: float, noise: float) -> Image.Image:
    """What a flatbed gives back: a slight rotation, blur, sensor noise and a few specks."""
    rng = np.random.default_rng(seed)
    img = img.rotate(skew, resample=Image.BICUBIC, expand=False, fillcolor=(250, 248, 242))
    img = img.filter(ImageFilter.GaussianBlur(0.8))
    a = np.asarray(img).astype(np.float32)
    a += rng.normal(0, noise, a.shape[:2])[..., None]
    for _ in range(60):
        y, x = rng.integers(0, a.shape[0] - 4), rng.integers(0, a.shape[1] - 4)
        a[y : y + rng.integers(2, 5), x : x + rng.integers(2, 5)] = 60
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def write_item(item: dict, pages: list[Image.Image], path: Path) -> None:
    fmt = item["format"]
    if fmt == "tiff":
        bilevel = [p.convert("L").point(lambda v: 255 if v > 150 else 0).convert("1") for p in pages]
        bilevel[0].save(path, save_all=True, append_images=bilevel[1:], compression="group4", dpi=(DPI, DPI))
    elif fmt == "jpeg":
        pages[0].save(path, quality=70, dpi=(DPI, DPI), subsampling=2)
    elif fmt == "pdf":
        grey = [p.convert("L") for p in pages]
        grey[0].save(path, save_all=True, append_images=grey[1:], resolution=DPI, quality=60)
    elif fmt == "png":
        grey = pages[0].convert("L").quantize(8).convert("L")
        grey.save(path, dpi=(DPI, DPI), optimize=True)
    else:
        raise ValueError(fmt)


def write_catalogue(batch: Path) -> None:
    cols = ["档号", "全宗号", "年度", "保管期限", "机构", "题名", "开放状态", "页数", "文件名"]
    with open(batch / "catalogue.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for item in ITEMS + AV_ITEMS + [UNSCANNED]:
            if item in AV_ITEMS or not item["file"]:
                pages = ""
            else:
                pages = 2 if "body2" in item else 1
            w.writerow([item["refcode"], item["fonds"], item["year"], item["retention"], item["org"],
                        item["title"], item["open_status"], pages, item["file"]])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent)
    ap.add_argument("--only", choices=["scans", "av"], help="make only the scans or only the recordings")
    args = ap.parse_args()
    batch, truth_dir = args.out / "batch", args.out / "truth"
    batch.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    if args.only != "av":
        make_scans(batch, truth_dir)
    if args.only != "scans":
        make_av(batch, truth_dir)
    write_catalogue(batch)


def make_scans(batch: Path, truth_dir: Path) -> None:
    for n, item in enumerate(ITEMS):
        bodies = [item["body"]] + ([item["body2"]] if "body2" in item else [])
        images = []
        for k, body in enumerate(bodies):
            img, lines = render_page(item, body, first=k == 0, last=k == len(bodies) - 1, page_no=k + 1)
            skew = (-1.2, 0.8, 1.5, -0.6)[n] + 0.3 * k
            # The PNG stands for a vendor's cleaned greyscale master: no sensor noise, so it stays small.
            noise = 0.0 if item["format"] == "png" else 4.0
            images.append(scanned(img, seed=100 * n + k, skew=skew, noise=noise))
            (truth_dir / f"{item['file'].rsplit('.', 1)[0]}_p{k + 1:04d}.txt").write_text(
                "\n".join(lines) + "\n", encoding="utf-8"
            )
        write_item(item, images, batch / item["file"])


if __name__ == "__main__":
    main()

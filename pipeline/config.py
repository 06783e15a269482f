"""Typed configuration: a YAML profile from ``configs/``, then environment variables.

Precedence, lowest first: the model defaults here, ``configs/<profile>.yaml``, ``DANGAN_*``
variables, then whatever a caller (the CLI) passes explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.errors import ConfigError

REPO_CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _xdg(var: str, fallback: str) -> Path:
    return Path(os.environ.get(var) or Path.home() / fallback)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TesseractSettings(Strict):
    """Tesseract (Debian ``tesseract-ocr`` + language packs): comparison and fallback engine."""

    lang: str = "chi_sim"
    lang_vertical: str = "chi_tra_vert"  # 竖排 pages; chi_sim_vert for simplified ones
    psm: int = Field(3, ge=0, le=13)  # 3 = automatic page segmentation, OCRmyPDF's default
    timeout_s: int = Field(300, ge=1)


class PreprocessSettings(Strict):
    """Steps applied to a derivative of each page before OCR; the master is never touched.

    Each step is recorded with its parameters in the page's JSON (``preprocess``)."""

    enabled: bool = True
    border_crop: bool = True  # dark scanner-lid edges
    deskew: bool = True
    deskew_max_angle: float = Field(10.0, ge=0.5, le=45)
    deskew_min_angle: float = Field(0.2, ge=0)  # smaller skews are left alone (no resampling)
    # 0/90/180/270 and horizontal vs vertical (竖排), decided by the engine's recogniser confidence
    orientation: bool = True
    clean_background: bool = True  # divide out stains and uneven light; keeps seals and colour
    # ... where the background varies by more than this fraction (clean paper: ~0.01-0.03).
    flatten_min_unevenness: float = Field(0.06, ge=0, le=1)
    # Red seals (印章) left out of the OCR copy only (they hide the lines under them from the
    # detector); the access copy and the PDF keep them. Red text lines (红头) are not seals.
    mask_seals: bool = True
    despeckle: bool = True  # 3x3 median against dust, on pages with at least this many specks:
    despeckle_min_specks: float = Field(20.0, ge=0)  # per square inch
    binarise: bool = False  # adaptive threshold; off: measured no better for PP-OCR
    # The rows that hold anything but paper (after the levels): the detector reads only those, at
    # the page's scale, not a letter's blank lower half (README, "Text rows").
    text_rows: bool = True


# What one engine process may need at its peak (measured up to 1.5 GB on 300-dpi A4 pages) plus room.
WORKER_MEMORY = 2 << 30


class OcrSettings(Strict):
    engine: str = "paddleocr"
    # How PP-OCR reads a vertical column: "rotate" it by 90° (PP-OCR's own way) or "restack" its
    # characters upright into a horizontal strip (README, "Vertical text": measured).
    vertical_lines: Literal["rotate", "restack"] = "restack"
    # Engine for pages found to be vertical (竖排); None: the engine above.
    vertical_engine: str | None = None
    # A model set in the model cache (see pipeline.ocr.models) or a directory a user brings that
    # holds det.onnx, rec.onnx and dict.txt.
    models: str = "ppocr-v5-mobile"
    # Detector input: PaddleOCR 2.x shrinks pages so the long side is at most this many pixels.
    # 1280 reads the 300-dpi bench pages as well as 1800 did (CER 0.24-0.33% both) in ~half the
    # detector time (README, "OCR engine"); 960 loses lines.
    det_limit_type: Literal["max", "min"] = "max"
    det_limit_side_len: int = Field(1280, ge=32, le=8000)
    # How far the detector grows each text kernel into its box (DB's unclip ratio). 2.0, PaddleOCR
    # 3's pipeline default, against 2.x's 1.5: on the 28 bench pages 23 -> 19 errors and 1.63 ->
    # 1.45 s/page (taller boxes, narrower strips for the recogniser). Columns of a vertical page
    # stand closer than lines do: at 2.0 columns 1.2 characters apart took in their neighbours
    # (8 -> 19 errors), so vertical pages keep 1.5 (README, "Box growth").
    det_unclip_ratio: float = Field(2.0, gt=0, le=10)
    vertical_unclip_ratio: float = Field(1.5, gt=0, le=10)
    # The per-line rotation classifier drops whole upright lines; page orientation is decided once
    # per page instead (OCR-ENGINES.md).
    use_angle_cls: bool = False
    # On a page that is clearly simplified, map the recogniser's stray traditional variants
    # (內 for 内) back with OpenCC t2s (pipeline/ocr/script.py; measured: 22 -> 17 errors).
    unify_script: bool = True
    # Lines the recogniser reads with lower confidence are dropped as noise (paddleocr's drop_score).
    drop_score: float = Field(0.5, ge=0, le=1)
    # Text lines per recogniser call. One: a batch pads every line to its widest (PP-OCR sorts by
    # aspect ratio, but a page's short last lines share a batch with full ones) and its
    # batch x steps x 18,385-class output is hundreds of MB; on one CPU thread batching gains
    # nothing back. Measured on the bench pages: 6 -> 1 took dangan from 2.03 to 1.22 s/page.
    rec_batch_num: int = Field(1, ge=1, le=256)
    # Engine threads per process; parallelism across pages is `workers` processes.
    threads: int = Field(1, ge=1, le=64)
    # Where ONNX model sets run: "onnxruntime", "openvino" (``dangan[openvino]``; measured ~1.15x
    # faster at f32 and ~1.9x at bf16 per model call, README "Inference runtime"), or "auto":
    # OpenVINO where it is installed. Sets in Paddle's format always run on Paddle Inference.
    runtime: Literal["auto", "onnxruntime", "openvino"] = "auto"
    # OpenVINO's arithmetic: "auto" is its default for the CPU (bf16 where the CPU has AVX512-BF16
    # or AMX, else f32); "f32" everywhere for results independent of the CPU.
    precision: Literal["auto", "f32"] = "auto"
    # ONNX Runtime's memory arena: faster by a little, but keeps the largest page's memory.
    memory_arena: bool = False
    # The same for the detector alone: its input is bounded by det_limit_side_len, so is its arena.
    det_memory_arena: bool = True
    # Engine processes that recognise pages in parallel (1: in the task's process; 0: one per
    # CPU core, as many as memory holds at WORKER_MEMORY each): see ``page_workers``.
    workers: int = Field(0, ge=0, le=64)
    # Pages whose mean line confidence is below this are flagged for review.
    review_below: float = Field(0.80, ge=0, le=1)
    # Pages per Prefect task: per-file tasks drown the orchestrator.
    pages_per_task: int = Field(8, ge=1, le=10_000)
    pdf_render_dpi: int = Field(300, ge=72, le=1200)

    def page_workers(self) -> int:
        """Engine processes to run: ``workers``, or for 0 one per usable core that memory holds."""
        if self.workers:
            return self.workers
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        try:
            memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            return cores
        return max(1, min(cores, memory // WORKER_MEMORY))
    tesseract: TesseractSettings = TesseractSettings()


class LimitSettings(Strict):
    """Bounds that keep a hostile or huge file from taking the machine down."""

    max_file_bytes: int = 4 * 1024**3
    # An A0 map at 400 dpi is ~ 13k x 19k = 250 Mpx; beyond the limit a file is treated as a bomb.
    max_image_pixels: int = 300_000_000
    max_pages_per_file: int = 5000
    # Each file is examined in a child process under these limits (pipeline/ingest/sandbox.py).
    examine_memory_mb: int = Field(4096, ge=256)  # beyond the decoders' own address space
    examine_timeout_s: float = Field(120, gt=0)  # plus 1 s per 20 MB of file
    ingest_workers: int = Field(0, ge=0, le=64)  # 0: one per CPU core


Severity = Literal["error", "warning"]


class QcRule(Strict):
    enabled: bool = True
    severity: Severity = "warning"


class QcSettings(Strict):
    """DA/T 31-2017 checks. Figures marked (local rule) are not in the standard's text."""

    min_dpi: float = 200  # DA/T 31-2017 9.4 扫描分辨率
    min_dpi_for_ocr: float = 300  # (local rule) where OCR follows
    ocr_follows: bool = True
    blank_max_ink_ratio: float = 0.001
    min_sharpness: float = 100.0  # variance of the Laplacian at 150 dpi; crisp scans measure 300-5000
    max_skew_degrees: float = 3.0  # (local rule)
    sample_ratio: float = Field(0.05, gt=0, le=1)  # (local rule) acceptance sample: at least 5% of pages
    pass_gate: float = Field(0.95, gt=0, le=1)  # (local rule) the batch passes at 95%
    # Pages with an error-severity finding are not recognised when this is on.
    block_recognition: bool = False
    rules: dict[str, QcRule] = {
        "resolution": QcRule(severity="error"),
        "resolution_unknown": QcRule(severity="warning"),
        "blank_page": QcRule(severity="warning"),
        "blur": QcRule(severity="error"),
        "skew": QcRule(severity="warning"),
        "border": QcRule(severity="warning"),
        "mixed_formats": QcRule(severity="warning"),
        "catalogue_mismatch": QcRule(severity="error"),
    }

    def rule(self, name: str) -> QcRule:
        return self.rules.get(name, QcRule())


class SearchSettings(Strict):
    # Which open statuses (开放状态) each role may see. Anything not listed is denied.
    roles: dict[str, list[str]] = {
        "public": ["开放"],
        "staff": ["开放", "控制", "未审核"],
    }
    cli_role: str = "staff"
    snippet_chars: int = Field(24, ge=4, le=400)
    max_query_chars: int = Field(256, ge=1, le=10_000)


class WebSettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8765, ge=1, le=65535)
    # Bearer tokens, stored as the SHA-256 hex of the token, each granting a role from
    # search.roles. `dangan serve --new-token ROLE` prints a token and the line to add here.
    tokens: dict[str, str] = {}
    default_role: str = "public"  # a request without a token


class ProgressSettings(Strict):
    plan: str = "tianjin-2021-2025"
    # The institution a 全宗 belongs to when no holdings file names one.
    institution: str = "本馆"
    # Which of the plan's institution classes this archive is (市档案馆, 各区档案馆, …).
    institution_class: str = "市档案馆"


class VadSettings(Strict):
    """Speech detection without an ASR model (pipeline/speech/detect.py)."""

    # A frame is loud enough for speech when its speech-band level is this far above the file's
    # noise floor (its 10th-percentile level) and above ``min_level_db`` (dBFS).
    threshold_db: float = Field(12.0, ge=0, le=60)
    min_level_db: float = Field(-50.0, ge=-120, le=0)
    # Speech rises and falls with its syllables (about 4 per second); a steady tone or held note
    # does not. Frames whose level varies less than this over a second are not speech.
    min_modulation_db: float = Field(1.5, ge=0, le=40)
    min_speech_ms: int = Field(250, ge=0, le=10_000)
    min_silence_ms: int = Field(400, ge=0, le=10_000)
    pad_ms: int = Field(200, ge=0, le=5_000)


class SpeechSettings(Strict):
    """Speech recognition of audio and video (语音识别), "有条件": only where a model is configured."""

    engine: str = "openai-whisper"
    # None: no model configured, AV items wait as awaiting-transcription. Otherwise a path to a
    # whisper checkpoint (.pt; for faster-whisper also a converted CTranslate2 folder) or a model
    # name (tiny, small, large-v3, ...) looked up as ``<whisper_cache>/<name>.pt``.
    model: str | None = None
    whisper_cache: Path = Field(default_factory=lambda: _xdg("XDG_CACHE_HOME", ".cache") / "whisper")
    language: str = "zh"
    threads: int = Field(1, ge=1, le=64)
    beam_size: int = Field(5, ge=1, le=32)
    best_of: int = Field(5, ge=1, le=32)
    # Whisper's temperature fallback; [0.0] alone is greedy/beam search only, fully deterministic.
    temperature: list[float] = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    seed: int = 0  # seeds the sampling fallback so a re-run gives the same text
    # Hallucination guards. Conditioning on the previous window is how Whisper loops on Chinese.
    condition_on_previous_text: bool = False
    compression_ratio_threshold: float | None = 2.4
    logprob_threshold: float | None = -1.0
    no_speech_threshold: float | None = 0.6
    initial_prompt: str | None = None
    max_new_tokens: int | None = Field(None, ge=1, le=440)
    # Speech spans are merged into decoder chunks of at most this length (Whisper's window is 30 s).
    chunk_seconds: float = Field(30.0, ge=1.0, le=30.0)
    # faster-whisper only: CTranslate2 compute type, and where converted checkpoints are cached.
    compute_type: str = "int8"
    ct2_cache: Path = Field(default_factory=lambda: _xdg("XDG_CACHE_HOME", ".cache") / "dangan" / "whisper-ct2")
    simplify: bool = True  # OpenCC t2s; the decoder's original text is kept beside it
    keep_audio_copy: bool = True  # the 16 kHz mono WAV derivative in the output tree (DA/T 62)
    max_seconds: float = Field(24 * 3600.0, gt=0)
    items_per_task: int = Field(4, ge=1, le=10_000)
    vad: VadSettings = VadSettings()


class Settings(Strict):
    profile: str = "default"
    data_dir: Path = Field(default_factory=lambda: _xdg("XDG_DATA_HOME", ".local/share") / "dangan")
    model_dir: Path = Field(default_factory=lambda: _xdg("XDG_CACHE_HOME", ".cache") / "dangan" / "models")
    db: str | None = None  # default: sqlite file in data_dir
    output_dir: Path | None = None  # default: data_dir / "output"
    plans_dir: Path = REPO_CONFIGS / "plans"
    ocr: OcrSettings = OcrSettings()
    preprocess: PreprocessSettings = PreprocessSettings()
    limits: LimitSettings = LimitSettings()
    qc: QcSettings = QcSettings()
    search: SearchSettings = SearchSettings()
    web: WebSettings = WebSettings()
    progress: ProgressSettings = ProgressSettings()
    speech: SpeechSettings = SpeechSettings()

    @property
    def db_url(self) -> str:
        return self.db or f"sqlite:///{self.data_dir / 'dangan.sqlite'}"

    @property
    def out_dir(self) -> Path:
        return self.output_dir or self.data_dir / "output"


_ENV = {
    "DANGAN_DATA_DIR": ("data_dir",),
    "DANGAN_MODEL_DIR": ("model_dir",),
    "DANGAN_DB": ("db",),
    "DANGAN_OUTPUT_DIR": ("output_dir",),
    "DANGAN_PLANS_DIR": ("plans_dir",),
    "DANGAN_OCR_ENGINE": ("ocr", "engine"),
    "DANGAN_OCR_MODELS": ("ocr", "models"),
    "DANGAN_OCR_RUNTIME": ("ocr", "runtime"),
    "DANGAN_OCR_PRECISION": ("ocr", "precision"),
    "DANGAN_SPEECH_ENGINE": ("speech", "engine"),
    "DANGAN_SPEECH_MODEL": ("speech", "model"),
    "DANGAN_WHISPER_CACHE": ("speech", "whisper_cache"),
}


def config_dir() -> Path:
    return Path(os.environ.get("DANGAN_CONFIG_DIR") or REPO_CONFIGS)


def profile_path(profile: str) -> Path:
    p = Path(profile)
    if p.suffix in (".yaml", ".yml"):
        return p
    return config_dir() / f"{profile}.yaml"


def load_settings(profile: str = "default", **overrides: object) -> Settings:
    """Load a profile (a name in ``configs/`` or a path to a YAML file)."""
    path = profile_path(profile)
    data: dict = {}
    if path.exists():
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: a profile must be a mapping of settings")
    elif profile != "default":
        raise ConfigError(f"no such profile: {profile} (looked for {path})")
    data.setdefault("profile", Path(profile).stem)
    for var, keys in _ENV.items():
        if value := os.environ.get(var):
            node = data
            for k in keys[:-1]:
                node = node.setdefault(k, {})
            node[keys[-1]] = value
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return settings.model_copy(
        update={
            "data_dir": settings.data_dir.expanduser(),
            "model_dir": settings.model_dir.expanduser(),
            "speech": settings.speech.model_copy(
                update={"whisper_cache": settings.speech.whisper_cache.expanduser(),
                        "ct2_cache": settings.speech.ct2_cache.expanduser()}),
        }
    )

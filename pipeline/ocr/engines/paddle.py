"""The default engine: PP-OCR models through the ``paddleocr`` package (2.10), on ONNX Runtime.

Settings that matter, measured (README, "OCR engine"): the detector's input limit
(``det_limit_type``/``det_limit_side_len``) and the per-line angle classifier, off by default
because it drops upright lines. The engine runs paddleocr's own detector and recogniser and does
the steps between them itself: page orientation is decided once per page from the recogniser's
confidence, and vertical columns (竖排) are restacked into upright horizontal strips.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from importlib.metadata import version

import cv2
import numpy as np

from pipeline.config import Settings
from pipeline.ocr import runtime
from pipeline.ocr.engines.base import OcrEngine, register
from pipeline.ocr.models import resolve
from pipeline.ocr.punctuation import restore
from pipeline.ocr.types import OcrLine, Orientation
from pipeline.ocr.vertical import restack

# Orientation is judged on this many of the page's largest text boxes, each cut to at most
# PROBE_CHARS characters: a fraction of a page's recognition time.
PROBE_BOXES = 4
PROBE_CHARS = 10
# The ways a tall page could lie are probed on its two largest boxes, half the cost of four (the
# 90° probe of an upright 竖排 page took 68 ms with four). With two, 64 bench pages (turned by
# 90/180/270°, upright and turned 竖排, 150-300 dpi) were all turned right; on the 40 tall ones the
# two readable ways scored >= 0.93, the others <= 0.68.
TURN_PROBES = 2
# Upright lines read at least this confidently settle a horizontal page without trying 180°.
UPRIGHT_ENOUGH = 0.85
# Where preprocessing gives the page's text rows, the detector reads a band of the page at the
# page's own scale: the rows, this much more above and below (detector pixels, ~1 cm at 300 dpi),
# its height rounded up to a multiple of ROW_STEP. The step keeps the detector's input shapes
# few (OpenVINO prepares and keeps kernels and buffers for each shape it meets).
ROW_MARGIN = 32
ROW_STEP = 256


def band(rows: tuple[int, int] | None, ratio: float, height: int) -> tuple[int, int]:
    """The detector-scale rows [y0, y1) to read of a page ``height`` detector pixels tall, given
    the page's text rows (page pixels) and its scale ``ratio``; the whole page where the band
    would be no shorter."""
    if rows is None:
        return 0, height
    y0 = max(0, int(rows[0] * ratio) - ROW_MARGIN)
    size = -(-(int(np.ceil(rows[1] * ratio)) + ROW_MARGIN - y0) // ROW_STEP) * ROW_STEP
    if size >= height:
        return 0, height
    y0 = min(y0, height - size)  # near the foot of the page the band starts higher
    return y0, y0 + size


def box_size(box: np.ndarray) -> tuple[int, int]:
    """Width and height of the rectangle ``crop_box`` cuts the quadrilateral ``box`` into."""
    pts = box.astype(np.float32)
    w = int(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[2] - pts[3])))
    h = int(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2])))
    return max(w, 1), max(h, 1)


def crop_box(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The quadrilateral ``box`` warped to an upright rectangle (no automatic turn)."""
    pts = box.astype(np.float32)
    w, h = box_size(box)
    (x0, y0), (x1, _), (_, y1) = pts[0], pts[1], pts[2]
    if (pts == np.float32([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])).all() and (pts == np.round(pts)).all() \
            and x0 >= 0 and y0 >= 0 and y0 + h <= image.shape[0] and x0 + w <= image.shape[1]:
        # An upright box on whole pixels (most boxes on a deskewed page): the warp would be a
        # plain translation, its cubic weights 1 and 0, so the copy is the same pixels, ~20x faster.
        return image[int(y0) : int(y0) + h, int(x0) : int(x0) + w].copy()
    dst = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    m = cv2.getPerspectiveTransform(pts, dst)
    return cv2.warpPerspective(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)


def to_bgr(image: np.ndarray) -> np.ndarray:
    """The engine's BGR input (cvtColor: several times faster than copying a reversed view)."""
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR if image.ndim == 2 else cv2.COLOR_RGB2BGR)


def weighted_confidence(reads: list[tuple[str, float]]) -> float:
    weight = sum(len(t) for t, _ in reads) or 1
    return sum(c * len(t) for t, c in reads) / weight


def is_tall(crop: np.ndarray) -> bool:
    return tall_size(crop.shape[1], crop.shape[0])


def tall_size(w: int, h: int) -> bool:
    return h >= 1.5 * w


def import_paddleocr():
    """``paddleocr.PaddleOCR``, imported without what inference never uses.

    ``import paddleocr`` imports its training augmentations, hence ``albumentations``, which
    imports ``torch`` when it is installed (it is, for Whisper: ~200 MB RSS and 1.3 s per engine
    process) and asks PyPI for a newer version of itself (a 2 s network timeout on these
    machines). Both are switched off; torch stays importable afterwards.
    """
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    block_torch = "torch" not in sys.modules
    if block_torch:
        sys.modules["torch"] = None  # `import torch` raises ImportError: albumentations skips it
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # paddle warns about ccache and C++ extensions at import
            from paddleocr import PaddleOCR
    finally:
        if block_torch and sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]
    return PaddleOCR


@contextmanager
def openvino_runners(paths, cfg):
    """While paddleocr builds its models, each is handed the same file compiled by OpenVINO.

    paddleocr makes every model's runner with ``tools.infer.utility.create_predictor``, an ONNX
    Runtime session for ``.onnx`` files; built and then replaced, those sessions left ~56 MB
    behind in each engine process and slowed its start. The runner is called as ONNX Runtime's.
    """
    utility = sys.modules["tools.infer.utility"]
    create = utility.create_predictor
    largest = runtime.largest_detector_input(cfg.det_limit_type, cfg.det_limit_side_len)
    models = {"det": (paths.det, 1, largest), "rec": (paths.rec, runtime.WIDTH_STEP, None),
              "cls": (paths.cls, 1, None)}

    def on_openvino(args, mode, logger):
        path, step, first = models.get(mode, (None, 1, None))
        if path is None:
            return create(args, mode, logger)
        session = runtime.OpenVinoSession(path, cfg.threads, cfg.precision, step, first)
        return session, session.get_inputs()[0], None, None

    utility.create_predictor = on_openvino
    try:
        yield
    finally:
        utility.create_predictor = create


@register
class PaddleOcrEngine(OcrEngine):
    name = "paddleocr"

    def __init__(self, settings: Settings):
        super().__init__(settings)
        os.environ.setdefault("FLAGS_call_stack_level", "0")
        import onnxruntime as ort

        PaddleOCR = import_paddleocr()

        logging.getLogger("ppocr").setLevel(logging.ERROR)
        cfg = settings.ocr
        # OpenCV's own thread pool would compete with the engine processes for the same cores.
        cv2.setNumThreads(cfg.threads)
        self.paths = resolve(cfg.models, settings.model_dir)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = cfg.threads
        opts.inter_op_num_threads = 1
        # ONNX Runtime's arena keeps the largest activations of any page for the process's life
        # (2-3 GB RSS measured on 300-dpi pages); without it memory follows the current page.
        opts.enable_cpu_mem_arena = cfg.memory_arena
        self._settle(settings)
        # Paddle Inference for sets in its format (measured faster on CPU than ONNX Runtime with
        # the same weights); oneDNN off: it measured no faster and cpu_threads applies only with it.
        backend = {"use_onnx": True, "onnx_sess_options": opts} if self.paths.backend == "onnxruntime" \
            else {"use_onnx": False, "enable_mkldnn": False, "cpu_threads": cfg.threads}
        on_ort = self.paths.backend == "onnxruntime" and runtime.chosen(cfg.runtime) == "onnxruntime"
        on_openvino = self.paths.backend == "onnxruntime" and not on_ort
        with openvino_runners(self.paths, cfg) if on_openvino else nullcontext():
            self._ocr = PaddleOCR(
                **backend,
                det_model_dir=str(self.paths.det),
                rec_model_dir=str(self.paths.rec),
                cls_model_dir=str(self.paths.cls) if self.paths.cls else None,
                rec_char_dict_path=str(self.paths.dict),
                show_log=False,
                lang="ch",
                **self.params,
            )
        if cfg.det_memory_arena and not cfg.memory_arena and on_ort:
            # The detector's input is bounded (det_limit_side_len), so its arena is too (+70 MB
            # RSS measured), and it saves the page faults of fresh buffers on every page (~0.1 s).
            det = ort.SessionOptions()
            det.intra_op_num_threads, det.inter_op_num_threads = cfg.threads, 1
            det.enable_cpu_mem_arena = True
            self._ocr.text_detector.predictor = ort.InferenceSession(
                str(self.paths.det), det, providers=["CPUExecutionProvider"])

    def _settle(self, settings: Settings) -> None:
        """What the engine does around its models, from the settings (engines that load the models
        otherwise, as ``rapidocr``, share it)."""
        cfg = settings.ocr
        self.params = self._params(settings)
        self.restack = cfg.vertical_lines == "restack"
        self.unclip = {False: cfg.det_unclip_ratio, True: cfg.vertical_unclip_ratio}

    @staticmethod
    def _params(settings: Settings) -> dict:
        cfg = settings.ocr
        return {
            "det_limit_type": cfg.det_limit_type,
            "det_limit_side_len": cfg.det_limit_side_len,
            "use_angle_cls": cfg.use_angle_cls,
            "drop_score": cfg.drop_score,
            "rec_batch_num": cfg.rec_batch_num,
            "det_db_unclip_ratio": cfg.det_unclip_ratio,
        }

    @classmethod
    def describe(cls, settings: Settings) -> dict:
        paths = resolve(settings.ocr.models, settings.model_dir)
        return {
            "engine": cls.name,
            "paddleocr": version("paddleocr"),
            "onnxruntime": version("onnxruntime"),
            "models": paths.name,
            "model_sha256": paths.digests(),
            "params": cls._params(settings),
            "vertical_lines": settings.ocr.vertical_lines,
            "vertical_unclip_ratio": settings.ocr.vertical_unclip_ratio,
            "punctuation": "restore-v1",
            # Only for sets in Paddle's format, so the ONNX default's signature stays as it was.
            **({"paddlepaddle": version("paddlepaddle")} if paths.backend == "paddle" else
               runtime.describe(settings.ocr.runtime, settings.ocr.precision)),
        }

    # -- the two models ------------------------------------------------------------------
    def _detect(self, image: np.ndarray, vertical: bool = False, rows: tuple[int, int] | None = None) -> list[np.ndarray]:
        """Text boxes on the page ``image`` (RGB or grey, as prepared), in its pixel coordinates."""
        return self._text_map(image, rows)(self.unclip[vertical])

    def _text_map(self, image: np.ndarray, rows: tuple[int, int] | None = None) -> Callable[[float], list[np.ndarray]]:
        """The detector run once on the page ``image``; the call it returns turns the text
        probability map into boxes, each text kernel grown by an unclip ratio (vertical columns
        stand closer together than lines: ``get_orientation`` asks for both ratios, the model
        runs once).

        paddleocr's own steps, in an order that spares three page-sized copies (~80 MB on a
        300-dpi page; in dangan's pipeline, where fresh buffers fault in, the call fell from
        260 to 168 ms on the bench's seal pages): the page is shrunk to the detector's size
        first and only then turned to BGR (both act on each pixel's own channels, so the input
        is the same: a test compares the boxes), and paddleocr's ``predict`` copies the page
        whole only to read its shape.

        ``rows``: the page's text rows; the detector reads only their band of the shrunk page
        (``band``), and the boxes are moved back to the page's coordinates. A band is not the
        page: the detector weighs what it sees as a whole (its squeeze-and-excitation blocks pool
        over the input), so boxes move by a few pixels (README, "Text rows").
        """
        det = self._ocr.text_detector
        resize = det.preprocess_op[0]
        h, w = image.shape[:2]
        if not (self.paths.backend == "onnxruntime" and type(resize).__name__ == "DetResizeForTest"
                and resize.resize_type == 0 and h + w >= 64):
            return lambda ratio: self._detect_bgr(image, ratio)  # any other set-up: paddleocr's call as it is
        small, (ratio_h, ratio_w) = resize.resize_image_type0(image if image.ndim == 3 else image[..., None])
        y0, y1 = band(rows, ratio_h, small.shape[0])
        if (y0, y1) != (0, small.shape[0]):
            small = small[y0:y1]
        # The band's own height in page pixels: the post-processing scales its boxes to it.
        data = {"image": to_bgr(small), "shape": np.array([(y1 - y0) / ratio_h, w, ratio_h, ratio_w])}
        for op in det.preprocess_op[1:]:  # normalise, to CHW, keep image and shape
            data = op(data)
        x, shape = data
        (maps, *_) = det.predictor.run(det.output_tensors, {det.input_tensor.name: x[None]})
        top = round(y0 / ratio_h)  # the band's top in page pixels (boxes are whole pixels)

        def boxes(ratio: float) -> list[np.ndarray]:
            det.postprocess_op.unclip_ratio = ratio
            found = det.postprocess_op({"maps": maps}, shape[None])[0]["points"]
            if top and len(found):
                found = found + np.array([0, top], found.dtype)
            return list(det.filter_tag_det_res(found, image.shape))

        return boxes

    def _detect_bgr(self, image: np.ndarray, ratio: float) -> list[np.ndarray]:
        """The detector's own call on the page turned to BGR."""
        self._ocr.text_detector.postprocess_op.unclip_ratio = ratio
        boxes, _ = self._ocr.text_detector(to_bgr(image))
        return [] if boxes is None else list(boxes)

    def _read(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        if not crops:
            return []
        res, _ = self._ocr.text_recognizer(crops)
        return [(text, float(conf)) for text, conf in res]

    def _classify(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        out, _, _ = self._ocr.text_classifier(crops)
        return out

    # -- the engine interface --------------------------------------------------------------
    def _cut(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """The box cut out of the page and turned to the recogniser's BGR."""
        return to_bgr(crop_box(image, box))

    def _crops(self, image: np.ndarray, boxes: list, vertical: bool, cut: list | None = None) -> list[np.ndarray]:
        """The recogniser's input for each box; ``cut``: the boxes already cut out of ``image``."""
        crops = []
        for i, box in enumerate(boxes):
            crop = cut[i] if cut is not None else self._cut(image, box)
            if is_tall(crop):
                crop = restack(crop) if vertical and self.restack else np.ascontiguousarray(np.rot90(crop))
            crops.append(crop)
        if self.params["use_angle_cls"] and crops:
            crops = self._classify(crops)
        return crops

    def _lines(self, boxes: list, reads: list[tuple[str, float]]) -> list[OcrLine]:
        lines = []
        for box, (text, conf) in zip(boxes, reads):
            if conf < self.params["drop_score"] or not text.strip():
                continue
            pts = tuple((int(round(x)), int(round(y))) for x, y in box)
            lines.append(OcrLine(text=restore(text), confidence=conf, box=pts))
        return lines

    def recognise(self, image: np.ndarray, vertical: bool = False, boxes: list | None = None,
                  rows: tuple[int, int] | None = None) -> list[OcrLine]:
        if boxes is None:
            boxes = self._detect(image, vertical, rows)
        return self._lines(boxes, self._read(self._crops(image, boxes, vertical)))

    def get_orientation(self, image: np.ndarray, read_vertical: bool = True,
                        rows: tuple[int, int] | None = None) -> Orientation:
        """Try each way the page could lie on a few of its text lines; keep the most confident.

        Wide boxes: upright or upside down. Tall boxes: a page turned by 90° either way, or a
        vertical page (竖排) upright or upside down, read by restacking its columns.
        """
        # The page's own detection, at recognition size: if the page is upright its boxes are
        # handed to ``recognise`` so the detector runs once per page.
        boxes_at = self._text_map(image, rows)

        def largest_of(found):
            sizes = [box_size(b) for b in found]
            largest = sorted(range(len(found)), key=lambda i: -sizes[i][0] * sizes[i][1])[:PROBE_BOXES]
            return largest, sum(tall_size(*sizes[i]) for i in largest) > len(largest) / 2

        found = boxes_at(self.unclip[False])
        largest, tall = largest_of(found)
        if tall and self.unclip[True] != self.unclip[False]:
            # Columns: the same text kernels, grown less (see ``_text_map``).
            found = boxes_at(self.unclip[True])
            largest, _ = largest_of(found)
        if not found:
            return Orientation(scores={"boxes": 0}, boxes=[], lines=[])
        # Each box is cut out once: the page's reading and the probes share the cuts (a tall
        # column's perspective warp costs ~4 ms).
        cut = [self._cut(image, b) for b in found]
        crops = []
        for i in largest:
            c = cut[i]
            h, w = c.shape[:2]
            crops.append(c[: PROBE_CHARS * w] if h > w else c[:, : PROBE_CHARS * h])
        # The probe crops for each way the page could lie, made only when that way is tried.
        turned = crops[:TURN_PROBES]
        candidates = {
            (0, True): lambda: [restack(c) for c in turned],
            (180, True): lambda: [restack(np.rot90(c, 2)) for c in turned],
            (90, False): lambda: [np.ascontiguousarray(np.rot90(c, 1)) for c in turned],
            (270, False): lambda: [np.ascontiguousarray(np.rot90(c, -1)) for c in turned],
            (180, False): lambda: [np.ascontiguousarray(np.rot90(c, 2)) for c in crops],
        }
        scores = {}

        def score(key):
            scores[key] = weighted_confidence(self._read(candidates[key]()))

        lines = reads = None
        if not tall:
            # Read the whole page as it lies: on an upright page that is its recognition, so the
            # probe costs nothing; the largest lines decide whether to try it upside down.
            reads = self._read(self._crops(image, found, vertical=False, cut=cut))
            scores[(0, False)] = weighted_confidence([reads[i] for i in largest])
            if scores[(0, False)] < UPRIGHT_ENOUGH:
                score((180, False))
            if scores[(0, False)] >= scores.get((180, False), 0.0):
                lines = self._lines(found, reads)
        else:
            # Most tall pages are upright 竖排, which read confidently both restacked and turned
            # back 90° (the recogniser's way for vertical lines); a turned page reads well only one
            # of the two ways (measured: <= 0.44 against >= 0.95). So the page is read whole as
            # upright 竖排 (its recognition, handed on) and the other two ways are tried only if
            # either reading is unsure.
            whole = (0, True) if self.restack else (90, False)  # how `recognise` reads a vertical page
            if read_vertical:
                reads = self._read(self._crops(image, found, vertical=True, cut=cut))
                scores[whole] = weighted_confidence([reads[i] for i in largest])
            for key in ((0, True), (90, False)):
                if key not in scores:
                    score(key)
            if min(scores.values()) < UPRIGHT_ENOUGH:
                score((180, True))
                score((270, False))
        if not tall:
            (angle, vertical), best = max(scores.items(), key=lambda kv: kv[1])
        else:
            # The recogniser reads characters turned by 90° counter-clockwise (it is trained on
            # vertical lines that way) and restacked ones alike, so one score cannot tell a 竖排
            # page from a turned one; the pair of readable candidates can: upright 竖排 reads as
            # restacked and as turned back 90°, a page turned 90° clockwise as restacked and 270°.
            def got(key):  # ways not tried score 0: the clear case
                return scores.get(key, 0.0)

            v_up = got((0, True)) >= got((180, True))
            h_ccw = got((90, False)) >= got((270, False))
            angle, vertical = {(True, True): (0, True), (True, False): (270, False),
                               (False, True): (90, False), (False, False): (180, True)}[(v_up, h_ccw)]
            best = min(max(got((0, True)), got((180, True))), max(got((90, False)), got((270, False))))
            if reads is not None and (angle, vertical) == (0, True):
                lines = self._lines(found, reads)
        return Orientation(angle=angle, vertical=vertical, confidence=round(best, 4),
                           scores={f"{a}{'v' if v else 'h'}": round(s, 4) for (a, v), s in scores.items()},
                           boxes=found if angle == 0 else None, lines=lines if angle == 0 else None)

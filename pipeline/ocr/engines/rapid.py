"""The light alternative: the same PP-OCR ONNX models through RapidOCR (``rapidocr-onnxruntime``).

RapidOCR runs PaddleOCR's detector, classifier and recogniser steps on ONNX Runtime without
importing ``paddle`` (about 400 MB of the default engine's resident memory). Its three model
objects have the call shapes of paddleocr's, so everything the default engine does between them
(page orientation from the recogniser's confidence, restacked vertical columns, punctuation)
is inherited unchanged; only loading differs. The detector's post-processing uses paddleocr
2.10's defaults, so both engines find the same boxes on the same page.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version

import cv2
import numpy as np

from pipeline.config import Settings
from pipeline.errors import ConfigError
from pipeline.ocr import runtime
from pipeline.ocr.engines.base import register
from pipeline.ocr.engines.paddle import PaddleOcrEngine, to_bgr
from pipeline.ocr.models import resolve

# paddleocr 2.10's DB post-processing (tools/infer/utility.py); RapidOCR's own defaults differ.
# The unclip ratio is dangan's, from the settings, as the default engine's.
DB_PARAMS = {"thresh": 0.3, "box_thresh": 0.6, "use_dilation": False, "score_mode": "fast"}


class _Models:
    """RapidOCR's detector, classifier and recogniser under paddleocr's attribute names."""

    def __init__(self, settings: Settings, paths):
        from rapidocr_onnxruntime.ch_ppocr_cls.text_cls import TextClassifier
        from rapidocr_onnxruntime.ch_ppocr_det.text_detect import TextDetector
        from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess
        from rapidocr_onnxruntime.ch_ppocr_rec.text_recognize import TextRecognizer

        cfg = settings.ocr
        threads = {"intra_op_num_threads": cfg.threads, "inter_op_num_threads": 1}
        limit = (cfg.det_limit_side_len, cfg.det_limit_type)

        class Detector(TextDetector):
            # RapidOCR picks 960/1500/2000 by page size under "max"; dangan's limit is config.
            def get_preprocess(self, max_wh):
                return DetPreProcess(limit[0], limit[1], self.mean, self.std)

        self.text_detector = Detector({**threads, **DB_PARAMS, "unclip_ratio": cfg.det_unclip_ratio,
                                       "model_path": str(paths.det),
                                       "limit_side_len": limit[0], "limit_type": limit[1],
                                       "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "max_candidates": 1000})
        self.text_recognizer = TextRecognizer({**threads, "model_path": str(paths.rec),
                                               "rec_keys_path": str(paths.dict), "rec_img_shape": [3, 48, 320],
                                               "rec_batch_num": cfg.rec_batch_num})
        self.text_classifier = None
        if paths.cls:
            self.text_classifier = TextClassifier({**threads, "model_path": str(paths.cls),
                                                   "cls_image_shape": [3, 48, 192], "cls_batch_num": 6,
                                                   "cls_thresh": 0.9, "label_list": ["0", "180"]})
        if runtime.chosen(cfg.runtime) == "openvino":
            # The same files compiled by OpenVINO, in place of RapidOCR's ONNX Runtime sessions.
            def ov(path, step=1, largest=None):
                return runtime.OpenVinoSession(path, cfg.threads, cfg.precision, step, largest)

            self.text_detector.infer = ov(paths.det, largest=runtime.largest_detector_input(cfg.det_limit_type, cfg.det_limit_side_len))
            self.text_recognizer.session = ov(paths.rec, runtime.WIDTH_STEP)
            if self.text_classifier is not None:
                self.text_classifier.infer = ov(paths.cls)


@register
class RapidOcrEngine(PaddleOcrEngine):
    name = "rapidocr"

    def __init__(self, settings: Settings):  # noqa: super().__init__ would import paddle
        self.settings = settings
        cfg = settings.ocr
        cv2.setNumThreads(cfg.threads)
        self.paths = resolve(cfg.models, settings.model_dir)
        if self.paths.backend != "onnxruntime":
            raise ConfigError(f"the rapidocr engine runs ONNX models; {self.paths.name!r} is for {self.paths.backend}")
        self._settle(settings)
        self._ocr = _Models(settings, self.paths)

    def _text_map(self, image: np.ndarray, rows: tuple[int, int] | None = None) -> Callable[[float], list[np.ndarray]]:
        """RapidOCR's detector call in its steps, so the model runs once for both unclip ratios
        (its resize shrinks the page without copying it first: the page is turned to BGR whole).
        It reads the whole page: ``rows`` is not used."""
        det = self._ocr.text_detector
        shape = image.shape[:2]
        det.preprocess_op = det.get_preprocess(max(shape))
        x = det.preprocess_op(to_bgr(image))
        if x is None:
            return lambda ratio: []
        maps = det.infer(x)[0]

        def boxes(ratio: float) -> list[np.ndarray]:
            det.postprocess_op.unclip_ratio = ratio
            found, _ = det.postprocess_op(maps, shape)
            return list(det.filter_tag_det_res(found, shape))

        return boxes

    @classmethod
    def describe(cls, settings: Settings) -> dict:
        # The default engine's record (models, params, layout) with this engine's runner in place of paddleocr.
        out = super().describe(settings)
        del out["paddleocr"]
        return out | {"engine": cls.name, "rapidocr_onnxruntime": version("rapidocr-onnxruntime"), "db": DB_PARAMS}

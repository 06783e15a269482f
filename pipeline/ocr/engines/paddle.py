"""The default engine: PP-OCR models through the ``paddleocr`` package (2.10), on ONNX Runtime.

Settings that matter, measured (README, "OCR engine"): the detector's input limit
(``det_limit_type``/``det_limit_side_len``) and the per-line angle classifier, off by default
because it drops upright lines.
"""

from __future__ import annotations

import logging
import os
import warnings
from importlib.metadata import version

import numpy as np

from pipeline.config import Settings
from pipeline.ocr.engines.base import OcrEngine, register
from pipeline.ocr.models import resolve
from pipeline.ocr.types import OcrLine


@register
class PaddleOcrEngine(OcrEngine):
    name = "paddleocr"

    def __init__(self, settings: Settings):
        super().__init__(settings)
        os.environ.setdefault("FLAGS_call_stack_level", "0")
        import onnxruntime as ort

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # paddle warns about ccache and C++ extensions at import
            from paddleocr import PaddleOCR

        logging.getLogger("ppocr").setLevel(logging.ERROR)
        cfg = settings.ocr
        self.paths = resolve(cfg.models, settings.model_dir)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = cfg.threads
        opts.inter_op_num_threads = 1
        self.params = self._params(settings)
        self._ocr = PaddleOCR(
            use_onnx=True,
            onnx_sess_options=opts,
            det_model_dir=str(self.paths.det),
            rec_model_dir=str(self.paths.rec),
            cls_model_dir=str(self.paths.cls) if self.paths.cls else None,
            rec_char_dict_path=str(self.paths.dict),
            show_log=False,
            lang="ch",
            **self.params,
        )

    @staticmethod
    def _params(settings: Settings) -> dict:
        cfg = settings.ocr
        return {
            "det_limit_type": cfg.det_limit_type,
            "det_limit_side_len": cfg.det_limit_side_len,
            "use_angle_cls": cfg.use_angle_cls,
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
        }

    def recognise(self, image: np.ndarray) -> list[OcrLine]:
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        result = self._ocr.ocr(bgr, cls=self.params["use_angle_cls"])
        lines = []
        for box, (text, conf) in (result[0] or []) if result else []:
            pts = tuple((int(round(x)), int(round(y))) for x, y in box)
            lines.append(OcrLine(text=text, confidence=float(conf), box=pts))
        return lines

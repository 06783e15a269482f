"""Where the ONNX models run: ONNX Runtime, or OpenVINO's CPU runtime (``dangan[openvino]``).

Both read the same ``.onnx`` files. OpenVINO measured 1.15x (f32) to 1.9x (bf16, its default
precision on CPUs with AVX512-BF16 or AMX) faster per model call on one thread (README, "Inference
runtime"). The engines hand their models an object with ONNX Runtime's ``run(outputs, feed)``, so
paddleocr's and RapidOCR's own pre- and post-processing stay as they are.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np

from pipeline.errors import ConfigError

# A recogniser's input is padded to a width of a multiple of this. OpenVINO prepares its kernels
# for each input shape it meets and keeps them: a page's lines, each its own width, grew one
# process to 1.3 GB and spent a third of its time preparing (300 widths: 15.0 s, 1,311 MB); to
# multiples of 64: 10.4 s, 338 MB. The padding is what paddleocr and RapidOCR already add up to
# 320 px (zeros after normalisation), read by CTC as blanks.
WIDTH_STEP = 64


def largest_detector_input(limit_type: str, limit_side_len: int) -> tuple[int, ...] | None:
    """The largest input the detector can be given: both sides at most the limit, rounded to
    32 px as paddleocr and RapidOCR round them; None where the limit is a minimum (unbounded)."""
    if limit_type != "max":
        return None
    side = max(round(limit_side_len / 32) * 32, 32)
    return (1, 3, side, side)


def have_openvino() -> bool:
    return importlib.util.find_spec("openvino") is not None


def chosen(runtime: str) -> str:
    """The runtime ``ocr.runtime`` names; ``auto``: OpenVINO where it is installed."""
    if runtime == "auto":
        return "openvino" if have_openvino() else "onnxruntime"
    if runtime == "openvino" and not have_openvino():
        raise ConfigError("ocr.runtime is openvino but OpenVINO is not installed: "
                          "pip install 'dangan[openvino]', or set ocr.runtime: onnxruntime")
    return runtime


@dataclass(frozen=True)
class _Input:
    name: str
    shape: list


class OpenVinoSession:
    """An ONNX model compiled by OpenVINO for the CPU, called as an ``onnxruntime.InferenceSession``."""

    def __init__(self, path: Path, threads: int, precision: str, width_step: int = 1,
                 largest: tuple[int, ...] | None = None):
        import openvino as ov

        core = ov.Core()
        # No pinning: OpenVINO pins each process's threads from core 0 on, so two single-threaded
        # engine processes shared one core (measured: 0.15 s a detector call alone, 0.31 s each
        # with two processes pinned, 0.15-0.16 s unpinned).
        config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
                  "ENABLE_CPU_PINNING": False}
        if precision == "f32":
            config["INFERENCE_PRECISION_HINT"] = "f32"
        self.path = Path(path)
        self.width_step = width_step
        self._model = core.compile_model(str(path), "CPU", config)
        # One request, reused: a page's lines are read one after another in this process.
        self._request = self._model.create_infer_request()
        self.precision = self._model.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        if largest is not None:
            # One call at the largest input first. OpenVINO sizes its buffers for each new input
            # shape; met in growing order (pages of many sizes), each shape's buffers were new and
            # the old ones stayed behind: 14 detector shapes grew a process by 1,060 MB, and each
            # first call took ~80 ms more. After the largest, the same 14 shapes added ~100 MB.
            self.run(None, {"x": np.zeros(largest, np.float32)})

    def get_inputs(self) -> list:
        """The inputs as ONNX Runtime describes them: a name, and a shape whose unknown sizes are names."""
        return [_Input(port.get_any_name(), [d.get_length() if d.is_static else f"dynamic{i}"
                                             for i, d in enumerate(port.get_partial_shape())])
                for port in self._model.inputs]

    def run(self, output_names, feed: dict) -> list[np.ndarray]:
        (x,) = feed.values()
        x = np.asarray(x, dtype=np.float32)
        if (extra := -x.shape[-1] % self.width_step):
            x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, extra)])
        self._request.infer([np.ascontiguousarray(x)])
        # The request's own output buffers, valid until this session's next call: paddleocr and
        # RapidOCR decode each output before they call again. Copying them (a detector map of
        # 5 MB, a line's steps x 18,385 classes) cost ~10 ms a page.
        return [self._request.get_output_tensor(i).data for i in range(len(self._model.outputs))]

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:  # RapidOCR's session interface
        return self.run(None, {"x": x})


def describe(runtime: str, precision: str) -> dict:
    """What an engine's signature records of its runtime (results may differ in the last digits)."""
    name = chosen(runtime)
    if name == "onnxruntime":
        return {}  # the default's signature stays as it was before runtimes were a setting
    out = {"runtime": name, "openvino": version("openvino"), "precision": precision}
    if precision == "auto":
        import openvino as ov

        out["precision"] = ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name()
    return out

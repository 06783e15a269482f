"""OCR engines. Each registers under a name; ``create_engine`` builds the configured one.

Third-party engines register through the ``dangan.ocr_engines`` entry-point group, so adding
one needs no change here.
"""

from pipeline.ocr.engines.base import OcrEngine, available_engines, create_engine, engine_signature, register, shared_engine

__all__ = ["OcrEngine", "available_engines", "create_engine", "engine_signature", "register", "shared_engine"]

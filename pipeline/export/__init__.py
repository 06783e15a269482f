"""Output writers, one class per format (after whisper's ``get_writer``)."""

from pipeline.export.writers import WRITERS, get_writer

__all__ = ["WRITERS", "get_writer"]

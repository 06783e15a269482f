"""Output writers, one class per format (after whisper's ``get_writer``)."""

from pipeline.export.pdf import PdfPage
from pipeline.export.writers import FORMATS, WRITERS, WritePDF, get_writer

__all__ = ["FORMATS", "WRITERS", "PdfPage", "WritePDF", "get_writer"]

"""Identify files by their first bytes, never by extension alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import EmptyFile, UnsupportedFormat


@dataclass(frozen=True)
class FileFormat:
    name: str  # tiff, jpeg, png, jp2, pdf, wav, mp3, ...
    media: str  # "image", "document" (PDF) or "av"
    mime: str


TIFF = FileFormat("tiff", "image", "image/tiff")
JPEG = FileFormat("jpeg", "image", "image/jpeg")
PNG = FileFormat("png", "image", "image/png")
JP2 = FileFormat("jp2", "image", "image/jp2")
PDF = FileFormat("pdf", "document", "application/pdf")
WAV = FileFormat("wav", "av", "audio/wav")
MP3 = FileFormat("mp3", "av", "audio/mpeg")
FLAC = FileFormat("flac", "av", "audio/flac")
OGG = FileFormat("ogg", "av", "audio/ogg")
MP4 = FileFormat("mp4", "av", "video/mp4")
AVI = FileFormat("avi", "av", "video/x-msvideo")
MXF = FileFormat("mxf", "av", "application/mxf")

RASTER = {TIFF.name, JPEG.name, PNG.name, JP2.name}


def sniff(head: bytes) -> FileFormat | None:
    """The format a file's leading bytes announce, or None."""
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return TIFF
    if head[:3] == b"\xff\xd8\xff":
        return JPEG
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return PNG
    if head[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n" or head[:4] == b"\xffO\xffQ":
        return JP2
    # PDF readers accept the header anywhere in the first kilobyte (ISO 32000 implementation note).
    if b"%PDF-" in head[:1024]:
        return PDF
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return AVI
    if head[:4] == b"fLaC":
        return FLAC
    if head[:4] == b"OggS":
        return OGG
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free"):
        return MP4
    if head[:4] == b"\x06\x0e\x2b\x34":
        return MXF
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return MP3
    return None


def identify(path: Path) -> FileFormat:
    """Identify ``path`` or raise EmptyFile / UnsupportedFormat with a reason an operator can act on."""
    with open(path, "rb") as fh:
        head = fh.read(1024)
    if not head:
        raise EmptyFile(path, "the file is empty (0 bytes): rescan or recopy it")
    fmt = sniff(head)
    if fmt is None:
        raise UnsupportedFormat(
            path,
            f"content is not a supported scan or recording (starts with {head[:8].hex(' ')}); "
            "expected TIFF, JPEG, PNG, JPEG 2000, PDF or audio/video",
        )
    return fmt

"""Exception types and the CLI's exit codes.

Exit codes follow OCRmyPDF's numbering where the meaning is the same, so scripts written for
one behave sensibly with the other.
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    ok = 0
    bad_args = 1
    input_file = 2
    missing_dependency = 3
    file_access_error = 5
    invalid_config = 9
    other_error = 15
    fixity_failed = 16  # `dangan verify` found changed or missing files
    ctrl_c = 130


class DanganError(Exception):
    """Base of every error dangan raises on purpose."""

    exit_code = ExitCode.other_error


class ConfigError(DanganError):
    exit_code = ExitCode.invalid_config


class RefCodeError(DanganError, ValueError):
    """A 档号 that does not follow DA/T 22 / DA/T 13."""

    exit_code = ExitCode.bad_args


class ModelNotFound(DanganError):
    """A configured model is missing or fails its checksum."""

    exit_code = ExitCode.missing_dependency


class InputFileError(DanganError):
    """One input file cannot be used. Carries the file and a reason an operator can act on."""

    exit_code = ExitCode.input_file
    kind = "input-error"

    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")

    def __reduce__(self):
        # Crosses process boundaries (ingest examines files in bounded child processes).
        return (self.__class__, (self.path, self.reason))


class EmptyFile(InputFileError):
    kind = "empty-file"


class UnsupportedFormat(InputFileError):
    kind = "unsupported-format"


class CorruptFile(InputFileError):
    kind = "corrupt-file"


class CatalogueError(InputFileError):
    kind = "catalogue-error"


class FileTooSlow(InputFileError):
    """Examining the file ran past its time limit (a hostile or pathological file)."""

    kind = "timeout"


class FileTooBig(InputFileError):
    """Examining the file needed more memory than the limit allows."""

    kind = "too-big"


class DecoderCrashed(InputFileError):
    kind = "decoder-crashed"


class DuplicateFile(InputFileError):
    kind = "duplicate"


class OcrFailed(DanganError):
    """The engine failed on a page (crash, timeout): that page fails, the batch goes on."""

    kind = "ocr-failed"


class NoAudioTrack(InputFileError):
    """A recording (typically a video) that carries no audio stream to transcribe."""

    kind = "no-audio-track"


class EmptyMedia(InputFileError):
    """A recording whose audio stream holds no samples."""

    kind = "empty-media"


class TruncatedMedia(CorruptFile):
    """Decoding stopped well short of the duration the container declares."""

    kind = "truncated-media"


class SpeechModelNotConfigured(DanganError):
    """Speech recognition asked for, but ``speech.model`` names no model ("有条件的进行语音识别")."""

    exit_code = ExitCode.missing_dependency


class SpeechFailed(DanganError):
    kind = "speech-failed"

"""Walk a scan batch: identify, digest and probe each file, and link it to a catalogue row.

Every problem becomes a ``Failure`` naming the file and a reason; nothing in the batch is
written to (masters are opened read-only), and one bad file never stops the others.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import Settings
from pipeline.errors import CatalogueError, InputFileError
from pipeline.ingest.catalogue import Catalogue, CatalogueRow, find_catalogue, read_catalogue
from pipeline.ingest.fixity import digest_file
from pipeline.ingest.identify import FileFormat, identify
from pipeline.ingest.pages import PageFacts, probe_pages
from pipeline.refcode import RefCode, is_refcode

log = logging.getLogger(__name__)

# A file named by 档号 plus an optional 流水号 (page serial): J001-WS-2021-Y-BGS-0001_0002.jpg
_SERIAL = re.compile(r"^(?P<ref>.+?)(?:[_](?P<serial>\d{1,5}))?$")


@dataclass(frozen=True)
class Failure:
    path: str  # relative to the batch folder
    kind: str
    reason: str
    stage: str = "ingest"
    refcode: str | None = None
    page_no: int | None = None


@dataclass(frozen=True)
class SourceFile:
    path: Path  # absolute
    relpath: str
    size: int
    sha256: str
    sm3: str
    format: FileFormat
    refcode: str
    pages: tuple[PageFacts, ...]


@dataclass(frozen=True)
class PageRef:
    """One page to recognise: where it comes from and the key it is stored under."""

    refcode: str
    page_no: int  # 1-based within the item
    path: Path
    relpath: str
    format: FileFormat
    file_sha256: str
    index: int  # 0-based within its file
    dpi: float | None


@dataclass
class BatchInventory:
    batch_dir: Path
    catalogue: Catalogue
    files: list[SourceFile] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    @property
    def pages(self) -> list[PageRef]:
        """Pages numbered per item in file-name order, then page order within each file."""
        out: list[PageRef] = []
        counters: dict[str, int] = {}
        for f in sorted(self.files, key=lambda f: (f.refcode, f.relpath)):
            if f.format.media == "av":
                continue
            for p in f.pages:
                counters[f.refcode] = counters.get(f.refcode, 0) + 1
                out.append(
                    PageRef(f.refcode, counters[f.refcode], f.path, f.relpath, f.format, f.sha256, p.index, p.dpi)
                )
        return out


def _walk(batch_dir: Path, skip: set[Path], failures: list[Failure]) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(batch_dir, followlinks=False):
        rootp = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (rootp / d).resolve() not in skip)
        for name in sorted(files):
            if name.startswith("."):
                continue
            p = rootp / name
            if p.is_symlink():
                failures.append(Failure(_rel(p, batch_dir), "symlink", "symbolic links are not followed; copy the file into the batch"))
                continue
            found.append(p)
    return found


def _rel(p: Path, base: Path) -> str:
    # surrogateescape keeps non-UTF-8 names printable without losing them
    return os.fsdecode(os.fsencode(p.relative_to(base))).encode("utf-8", "backslashreplace").decode("utf-8")


def _link(path: Path, relpath: str, catalogue: Catalogue) -> str:
    row = catalogue.by_file().get(path.name) or catalogue.by_file().get(relpath)
    if row:
        return str(row.refcode)
    m = _SERIAL.match(path.stem)
    for candidate in (path.stem, m["ref"] if m else ""):
        if candidate and is_refcode(candidate):
            return str(RefCode.parse(candidate))
    raise InputFileError(path, "no catalogue row lists this file and its name is not a 档号; add it to the catalogue")


def scan_batch(batch_dir: Path, settings: Settings) -> BatchInventory:
    batch_dir = batch_dir.resolve()
    if not batch_dir.is_dir():
        raise InputFileError(batch_dir, "not a folder")
    failures: list[Failure] = []
    cat_path = find_catalogue(batch_dir)
    if cat_path is None:
        catalogue = Catalogue(None, [], [])
    else:
        try:
            catalogue = read_catalogue(cat_path)
        except CatalogueError as exc:
            failures.append(Failure(cat_path.name, exc.kind, exc.reason))
            catalogue = Catalogue(cat_path, [], [])
        for err in catalogue.errors:
            failures.append(Failure(cat_path.name, "catalogue-error", err))

    skip = {settings.out_dir.resolve(), settings.data_dir.resolve()}
    inventory = BatchInventory(batch_dir, catalogue, failures=failures)
    limits = settings.limits
    for path in _walk(batch_dir, skip, failures):
        if cat_path is not None and path == cat_path:
            continue
        relpath = _rel(path, batch_dir)
        try:
            size = path.stat().st_size
            if size > limits.max_file_bytes:
                raise InputFileError(path, f"{size:,} bytes, above the limit of {limits.max_file_bytes:,}")
            fmt = identify(path)
            refcode = _link(path, relpath, catalogue)
            pages = () if fmt.media == "av" else tuple(
                probe_pages(path, fmt, limits.max_image_pixels, limits.max_pages_per_file)
            )
            digests = digest_file(path)
        except InputFileError as exc:
            log.warning("ingest failed: %s", exc)
            failures.append(Failure(relpath, exc.kind, exc.reason))
            continue
        except PermissionError as exc:
            failures.append(Failure(relpath, "permission-denied", f"cannot read the file: {exc.strerror}"))
            continue
        except OSError as exc:
            failures.append(Failure(relpath, "io-error", f"cannot read the file: {exc}"))
            continue
        inventory.files.append(
            SourceFile(path, relpath, digests.size, digests.sha256, digests.sm3, fmt, refcode, pages)
        )
    return inventory


def catalogue_row(inventory: BatchInventory, refcode: str) -> CatalogueRow | None:
    return inventory.catalogue.by_refcode().get(refcode)

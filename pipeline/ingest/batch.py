"""Walk a scan batch: examine each file (bounded), and link it to a catalogue row.

Every problem becomes a ``Failure`` naming the file and a reason; nothing in the batch is
written to (masters are opened read-only), and one bad file never stops the others.
"""

from __future__ import annotations

import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import Settings
from pipeline.errors import CatalogueError, DuplicateFile, InputFileError
from pipeline.ingest.catalogue import Catalogue, find_catalogue, read_catalogue
from pipeline.ingest.examine import ExaminedFile, ExaminedPage, examine_file
from pipeline.ingest.identify import FileFormat
from pipeline.ingest.sandbox import Sandbox
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
    pages: tuple[ExaminedPage, ...]
    catalogued: bool  # linked through a catalogue row (not only by its name)


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
    text: str | None = None  # a born-digital PDF page's own text: used instead of OCR


@dataclass
class BatchInventory:
    batch_dir: Path
    catalogue: Catalogue
    files: list[SourceFile] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    def numbered_pages(self) -> list[tuple[PageRef, ExaminedPage]]:
        """Pages numbered per item in file-name order, then page order within each file."""
        out = []
        counters: dict[str, int] = {}
        for f in sorted(self.files, key=lambda f: (f.refcode, f.relpath)):
            for p in f.pages:
                counters[f.refcode] = counters.get(f.refcode, 0) + 1
                ref = PageRef(f.refcode, counters[f.refcode], f.path, f.relpath, f.format, f.sha256,
                              p.facts.index, p.facts.dpi, p.text)
                out.append((ref, p))
        return out

    @property
    def pages(self) -> list[PageRef]:
        return [ref for ref, _ in self.numbered_pages()]


def _display(p: Path, base: Path) -> str:
    """A printable relative path; bytes that are not UTF-8 show as \\xNN."""
    raw = os.fsencode(p.relative_to(base))
    return raw.decode("utf-8", "backslashreplace")


def _walk(batch_dir: Path, skip: set[Path], failures: list[Failure]) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(batch_dir, followlinks=False):
        rootp = Path(root)
        keep = []
        for d in sorted(dirs):
            full = rootp / d
            if d.startswith("."):
                continue
            if full.is_symlink():
                failures.append(Failure(_display(full, batch_dir), "symlink",
                                        "symbolic links are not followed; copy the folder into the batch"))
            elif full.resolve() not in skip:
                keep.append(d)
        dirs[:] = keep
        for name in sorted(files):
            if name.startswith("."):
                continue
            p = rootp / name
            shown = _display(p, batch_dir)
            if p.is_symlink():
                failures.append(Failure(shown, "symlink", "symbolic links are not followed; copy the file into the batch"))
            elif os.fsencode(name).decode("utf-8", "replace") != name:
                failures.append(Failure(shown, "bad-file-name",
                                        "the file name is not valid UTF-8; rename it (ideally to its 档号)"))
            else:
                found.append(p)
    return found


def _link(path: Path, relpath: str, catalogue: Catalogue) -> tuple[str, bool]:
    by_file = catalogue.by_file()
    row = by_file.get(path.name) or by_file.get(relpath)
    if row:
        return str(row.refcode), True
    m = _SERIAL.match(path.stem)
    for candidate in (path.stem, m["ref"] if m else ""):
        if candidate and is_refcode(candidate):
            ref = str(RefCode.parse(candidate))
            return ref, ref in catalogue.by_refcode()
    raise InputFileError(path, "no catalogue row lists this file and its name is not a 档号; add it to the catalogue")


def _examine(path: Path, settings: Settings, box: Sandbox) -> ExaminedFile:
    lim = settings.limits
    size = path.stat().st_size
    if size > lim.max_file_bytes:
        raise InputFileError(path, f"{size:,} bytes, above the limit of {lim.max_file_bytes:,}")
    with open(path, "rb"):
        pass  # a permission problem is reported plainly, before a worker is involved
    timeout = lim.examine_timeout_s + size / 20e6
    return box.run(examine_file, (path, lim.max_image_pixels, lim.max_pages_per_file, True), path, timeout)


def scan_batch(batch_dir: Path, settings: Settings) -> BatchInventory:
    batch_dir = batch_dir.resolve()
    if not batch_dir.is_dir():
        raise InputFileError(batch_dir, "not a folder")
    out_dirs = {settings.out_dir.resolve(), settings.data_dir.resolve()}
    if any(batch_dir == d or d in batch_dir.parents for d in out_dirs):
        raise InputFileError(batch_dir, "the batch folder is inside dangan's output folder; scan batches must live elsewhere")
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

    inventory = BatchInventory(batch_dir, catalogue, failures=failures)
    paths = [p for p in _walk(batch_dir, out_dirs, failures) if p != cat_path]

    def one(path: Path) -> SourceFile | Failure:
        relpath = _display(path, batch_dir)
        try:
            refcode, catalogued = _link(path, relpath, catalogue)
            exam = _examine(path, settings, box)
        except InputFileError as exc:
            log.warning("ingest failed: %s", exc)
            return Failure(relpath, exc.kind, exc.reason)
        except PermissionError as exc:
            return Failure(relpath, "permission-denied", f"cannot read the file ({exc.strerror}); fix its permissions")
        except OSError as exc:
            return Failure(relpath, "io-error", f"cannot read the file: {exc}")
        d = exam.digests
        return SourceFile(path, relpath, d.size, d.sha256, d.sm3, exam.format, refcode, exam.pages, catalogued)

    workers = min(settings.limits.ingest_workers or os.cpu_count() or 1, max(1, len(paths)))
    with Sandbox(workers, settings.limits.examine_memory_mb) as box, ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one, paths))  # map keeps the walk's order: reproducible reports

    seen: dict[str, str] = {}
    for r in results:
        if isinstance(r, Failure):
            failures.append(r)
        elif r.sha256 in seen:
            exc = DuplicateFile(r.path, f"identical to {seen[r.sha256]} (same SHA-256); remove one copy")
            failures.append(Failure(r.relpath, exc.kind, exc.reason, refcode=r.refcode))
        else:
            seen[r.sha256] = r.relpath
            inventory.files.append(r)
    return inventory

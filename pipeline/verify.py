"""Fixity check: re-hash masters and derivatives and compare with the digests recorded at creation.

Reports files that changed, went missing, or sit in a batch folder without being recorded
(Archivematica's fixity-check semantics). Each check is a run with one ``fixity check`` event
per file, so the audit trail shows when every file was last proven intact.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.ingest.catalogue import CATALOGUE_NAMES
from pipeline.ingest.fixity import digest_file
from pipeline.store import SQLiteStore


@dataclass(frozen=True)
class Problem:
    kind: str  # changed | missing | untracked
    path: str
    refcode: str | None
    detail: str


@dataclass
class FixityReport:
    run_id: str
    checked: int = 0
    ok: int = 0
    problems: list[Problem] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(p.kind == kind for p in self.problems)

    @property
    def intact(self) -> bool:
        return not any(p.kind in ("changed", "missing") for p in self.problems)


def _check(path: str, sha256: str, sm3: str) -> tuple[str, str]:
    p = Path(path)
    if not p.exists():
        return "missing", "the file is gone"
    try:
        d = digest_file(p)
    except OSError as exc:
        return "missing", f"cannot be read: {exc}"
    if d.sha256 != sha256 or d.sm3 != sm3:
        return "changed", f"SHA-256 now {d.sha256[:16]}…, recorded {sha256[:16]}…"
    return "ok", ""


def verify(store: SQLiteStore, batch: str | None = None, skip_dirs: tuple[Path, ...] = (),
           workers: int | None = None) -> FixityReport:
    """Re-hash the masters (and their derivatives) of one batch, or of every batch.

    ``skip_dirs``: dangan's own output folders, not reported as untracked when inside a batch.
    """
    args: tuple = (batch,) if batch else ()
    masters = store.db.execute(
        "SELECT path, refcode, sha256, sm3, batch FROM files" + (" WHERE batch=?" if batch else ""), args).fetchall()
    derivs = store.db.execute(
        "SELECT d.path, d.refcode, d.sha256, d.sm3 FROM derivatives d"
        + (" WHERE d.refcode IN (SELECT refcode FROM files WHERE batch=?)" if batch else ""), args).fetchall()
    run_id = store.start_run(batch or "*", kind="fixity")
    report = FixityReport(run_id)
    rows = [(r, "master") for r in masters] + [(r, "derivative") for r in derivs]
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:  # hashlib releases the GIL
        results = list(pool.map(lambda rk: _check(rk[0]["path"], rk[0]["sha256"], rk[0]["sm3"]), rows))
    for (row, role), (state, detail) in zip(rows, results, strict=True):
        report.checked += 1
        if state == "ok":
            report.ok += 1
        else:
            report.problems.append(Problem(state, row["path"], row["refcode"], detail))
        store.log_event(run_id, "fixity check", row["refcode"], row["path"], "success" if state == "ok" else "failure",
                        {"role": role, "result": state, "detail": detail, "sha256": row["sha256"]})
    known = {r["path"] for r in masters}
    skip = {d.resolve() for d in skip_dirs}
    for folder in sorted({r["batch"] for r in masters}):
        for root, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if not d.startswith(".") and (Path(root) / d).resolve() not in skip]
            for name in files:
                p = str(Path(root) / name)
                if name.startswith(".") or name in CATALOGUE_NAMES or p in known:
                    continue
                report.problems.append(Problem("untracked", p, None, "in the batch folder but not ingested"))
    store.finish_run(run_id, "completed" if report.intact else "fixity_failed",
                     {"checked": report.checked, "ok": report.ok, "changed": report.count("changed"),
                      "missing": report.count("missing"), "untracked": report.count("untracked")})
    return report

"""A private PostgreSQL server from Debian's package for the tests: its own cluster in a temporary
folder, reachable only through a unix socket there (no TCP), stopped and removed at the end.

PostgreSQL refuses to run as root, so under root the cluster belongs to the ``postgres`` user (made by
the Debian package) and its programs run as that user.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path


def _bin_dir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: ./scripts/dev.sh setup installs Debian's postgresql")
    return found[-1].parent


class PostgresServer:
    def __init__(self, durable: bool = False, keep: Path | None = None) -> None:
        """``keep``: the cluster lives in that folder and outlives ``stop()`` (benchmarks reuse it)."""
        self.bin = _bin_dir()
        self.kept = keep is not None
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
        self.dir = keep.resolve() if keep is not None else Path(tempfile.mkdtemp(prefix="dangan-pg-"))
        self.data = self.dir / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._names = itertools.count(1)
        if not (self.data / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data), "-U", "dangan", "--auth=trust", "-E", "UTF8",
                      "--locale=C.UTF-8", "--no-sync")
        opts = f"-k {self.dir} -c listen_addresses='' -c max_connections=200"
        if not durable:  # a test cluster, thrown away at the end
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.dir / "server.log"), "-w", "start")

    def _run(self, prog: str, *args: str) -> None:
        r = subprocess.run([*self._as, str(self.bin / prog), *args], cwd=self.dir, capture_output=True, text=True,
                           timeout=120)
        if r.returncode:
            raise RuntimeError(f"{prog} failed ({r.returncode}): {r.stderr.strip() or r.stdout.strip()}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://dangan@/{database}?host={self.dir}"

    def has_database(self, name: str) -> bool:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast" if self.kept else "immediate", "-w", "stop")
        finally:
            if not self.kept:
                shutil.rmtree(self.dir, ignore_errors=True)

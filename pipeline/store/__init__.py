"""The archive store: items, files, pages, lines, runs, failures and the full-text index.

``open_store(url)`` picks the backend from the URL; the embedded default is one SQLite file,
``postgresql://…`` the PostgreSQL backend (``pip install dangan[postgres]``).
"""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import ConfigError
from pipeline.store.sqlite import SQLiteStore


def open_store(url: str) -> SQLiteStore:
    if url.startswith("sqlite:///"):
        return SQLiteStore(Path(url.removeprefix("sqlite:///")))
    if url.startswith(("postgresql://", "postgres://")):
        from pipeline.store.postgres import PostgresStore

        return PostgresStore(url)
    raise ConfigError(f"unsupported store URL {url!r}: use sqlite:///PATH or postgresql://…")


__all__ = ["SQLiteStore", "open_store"]

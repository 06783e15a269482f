"""The archive store: items, files, pages, lines, runs, failures and the full-text index.

``open_store(url)`` picks the backend from the URL; the embedded default is one SQLite file.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import ConfigError
from pipeline.store.sqlite import SQLiteStore


def open_store(url: str) -> SQLiteStore:
    if url.startswith("sqlite:///"):
        return SQLiteStore(Path(url.removeprefix("sqlite:///")))
    raise ConfigError(f"unsupported store URL {url!r}: use sqlite:///PATH")


__all__ = ["SQLiteStore", "open_store"]

"""Shared fixtures. Test data is generated here or taken from ``samples/`` (made by its script)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.config import Settings, load_settings
from pipeline.ocr.engines import create_engine
from pipeline.ocr.accuracy import cer  # noqa: F401  (tests import it from here)
from pipeline.ocr.models import fetch

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "batch"
TRUTH = ROOT / "samples" / "truth"


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The real model cache (filled by the setup script); fetched here if it is empty."""
    s = load_settings()
    fetch(s.ocr.models, s.model_dir)
    d = s.model_dir
    return d


def make_settings(data_dir: Path, model_dir: Path, **kw) -> Settings:
    return load_settings(data_dir=data_dir, model_dir=model_dir, **kw)


@pytest.fixture
def settings(tmp_path: Path, model_dir: Path) -> Settings:
    return make_settings(tmp_path / "data", model_dir)


class CountingEngine:
    """Wraps a real engine and counts its calls (plumbing double; the OCR itself is real)."""

    def __init__(self, engine):
        self.engine = engine
        self.calls = 0
        self.name = engine.name

    def recognise(self, image, vertical=False, boxes=None, rows=None):
        self.calls += 1
        return self.engine.recognise(image, vertical, boxes)

    def __getattr__(self, name):  # get_orientation, settings, reads_cleaned, signature: the real engine's
        return getattr(self.engine, name)

    def describe(self, settings):
        return self.engine.describe(settings)


@pytest.fixture(scope="session")
def engine(model_dir: Path):
    return create_engine(make_settings(Path("/nonexistent"), model_dir))


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """One private PostgreSQL server (Debian's) for the session; see tests/postgres_server.py. The
    stores' search indexes go to a folder of the session too (one per database, named by its id)."""
    import os

    from .postgres_server import PostgresServer

    os.environ["DANGAN_PG_INDEX_DIR"] = str(tmp_path_factory.mktemp("pg-index"))
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh, empty PostgreSQL database."""
    return pg_server.new_database()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path: Path) -> str:
    """An empty store on each backend: tests taking it run once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite'}"
    return request.getfixturevalue("pg_url")


def _digitise_samples(base: Path, model_dir: Path, engine, **kw) -> dict:
    from pipeline.digitise import ingest_batch, recognise_pages
    from pipeline.speech.stage import process_recordings
    from pipeline.store import open_store

    batch = base / "batch"
    shutil.copytree(SAMPLES, batch)
    settings = make_settings(base / "data", model_dir, **kw)
    counting = CountingEngine(engine)
    with open_store(settings.db_url) as store:
        ing = ingest_batch(batch, settings, store)
        ocr = recognise_pages(ing.pages, settings, store, counting, ing.batch)
        process_recordings(ing.recordings, settings, store, None)  # no speech model: detection only
    return {"settings": settings, "batch": batch, "ingest": ing, "ocr": ocr, "engine": counting}


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory, model_dir: Path, engine):
    """The sample batch digitised once (without Prefect) into a fresh store, for read-only tests."""
    return _digitise_samples(tmp_path_factory.mktemp("sample_run"), model_dir, engine)


@pytest.fixture(scope="session")
def sample_run_pg(tmp_path_factory, model_dir: Path, engine, pg_server):
    """The same, into a PostgreSQL store: the whole pipeline on the second backend."""
    return _digitise_samples(tmp_path_factory.mktemp("sample_run_pg"), model_dir, engine, db=pg_server.new_database())

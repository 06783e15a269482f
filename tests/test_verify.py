import json
import os
import shutil

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.digitise import ingest_batch, recognise_pages
from pipeline.store import open_store
from pipeline.verify import verify

from .conftest import SAMPLES


@pytest.fixture
def digitised(tmp_path, settings, engine):
    batch = tmp_path / "batch"
    batch.mkdir()
    for name in ("J002-WS-2022-Y-ZHC-0001.png", "J001-WS-2021-Y-BGS-0002.jpg"):
        shutil.copy(SAMPLES / name, batch)
    with open_store(settings.db_url) as store:
        ing = ingest_batch(batch, settings, store)
        recognise_pages(ing.pages[:1], settings, store, engine, ing.batch)
    return batch, settings


@pytest.mark.slow
def test_intact_then_changed_missing_untracked(digitised):
    batch, settings = digitised
    with open_store(settings.db_url) as store:
        report = verify(store, str(batch))
        assert report.intact and report.problems == []
        assert report.checked == 2 + 5  # two masters; access copy, JSON, TXT, hOCR and ALTO of the recognised page
        derivative = store.db.execute("SELECT path FROM derivatives WHERE kind='txt'").fetchone()["path"]

        data = bytearray((batch / "J001-WS-2021-Y-BGS-0002.jpg").read_bytes())
        data[5000] ^= 0xFF  # one flipped bit in a master
        (batch / "J001-WS-2021-Y-BGS-0002.jpg").write_bytes(bytes(data))
        os.remove(derivative)
        (batch / "J002-WS-2022-Y-ZHC-0009.png").write_bytes(b"new")
        report = verify(store, str(batch))
        got = sorted((p.kind, os.path.basename(p.path)) for p in report.problems)
        assert got == [("changed", "J001-WS-2021-Y-BGS-0002.jpg"), ("missing", "page-0001.txt"),
                       ("untracked", "J002-WS-2022-Y-ZHC-0009.png")]
        assert not report.intact
        checks = store.events(type_="fixity check")
        assert len(checks) == 14 and {e["outcome"] for e in checks} == {"success", "failure"}
        runs = store.db.execute("SELECT state FROM runs WHERE kind='fixity' ORDER BY started_at").fetchall()
        assert [r["state"] for r in runs] == ["completed", "fixity_failed"]


@pytest.mark.slow
def test_verify_cli_exit_code(digitised):
    batch, settings = digitised
    env = {"DANGAN_DATA_DIR": str(settings.data_dir), "DANGAN_MODEL_DIR": str(settings.model_dir)}
    ok = CliRunner().invoke(cli, ["verify", str(batch), "--json"], env=env)
    assert ok.exit_code == 0 and json.loads(ok.output)["intact"] is True
    (batch / "J002-WS-2022-Y-ZHC-0001.png").unlink()
    bad = CliRunner().invoke(cli, ["verify", "--all"], env=env)
    assert bad.exit_code == 16 and "MISSING" in bad.output
    assert CliRunner().invoke(cli, ["verify"], env=env).exit_code != 0  # neither a batch nor --all

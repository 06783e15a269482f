import json

import pytest
from click.testing import CliRunner

from pipeline.cli import cli


@pytest.mark.slow
def test_event_log_per_refcode_and_json_export(sample_run):
    s = sample_run["settings"]
    env = {"DANGAN_DATA_DIR": str(s.data_dir), "DANGAN_MODEL_DIR": str(s.model_dir)}
    res = CliRunner().invoke(cli, ["events", "J001-WS.2021-Y-BGS-0001", "--json"], env=env)  # ASCII variant
    assert res.exit_code == 0, res.output
    events = json.loads(res.output)
    types = [e["type"] for e in events]
    assert types[:2] == ["ingestion", "message digest calculation"]
    # 2 pages x (access jpg, json, txt, hOCR, ALTO)
    assert types.count("ocr") == 2 and types.count("derivative creation") == 10
    digest = events[1]["detail"]
    assert len(digest["sha256"]) == 64 and len(digest["sm3"]) == 64
    assert {e["refcode"] for e in events} == {"J001-WS·2021-Y-BGS-0001"}
    text = CliRunner().invoke(cli, ["events", "--type", "ingestion"], env=env).output
    assert text.count("ingestion") == 6  # four scans and two recordings

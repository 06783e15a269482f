"""The digitize-batch flow against a real (temporary) Prefect server, as the UI sees it."""

import shutil

import pytest

from .conftest import SAMPLES


@pytest.fixture(scope="module")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.mark.slow
def test_flow_shows_batched_tasks_and_reruns_skip(prefect_server, tmp_path, model_dir, monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import ArtifactSort, TaskRunSort

    from flows.digitize import digitize_batch
    from pipeline.config import load_settings
    from pipeline.store import open_store

    monkeypatch.setenv("DANGAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DANGAN_MODEL_DIR", str(model_dir))
    batch = tmp_path / "batch"
    shutil.copytree(SAMPLES, batch)

    first = digitize_batch(str(batch))
    assert first["pages"] == 6 and first["pages_recognised"] == 6 and first["failures"] == []
    # No speech model configured: the recordings are detected and wait, the flow does not fail.
    assert first["recordings"] == 2 and first["recordings_awaiting"] == 2 and first["speech_minutes"] > 0
    assert "speech model not configured" in first["speech_message"]
    assert "数字化率" in first["progress"]
    with open_store(load_settings().db_url) as store:
        rows = store.counts()

    second = digitize_batch(str(batch))
    assert second["pages_recognised"] == 0 and second["pages_skipped"] == 6
    assert second["recordings_skipped"] == 2 and second["recordings_awaiting"] == 0
    with open_store(load_settings().db_url) as store:
        again = store.counts()
        runs = store.db.execute("SELECT state, flow_run_id FROM runs ORDER BY started_at").fetchall()
    assert {k: v for k, v in again.items() if k != "runs"} == {k: v for k, v in rows.items() if k != "runs"}
    assert [r["state"] for r in runs] == ["completed", "completed"]

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(first["flow_run_id"])
        assert flow_run.state.is_completed()
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id])),
                                      limit=100, sort=TaskRunSort.EXPECTED_START_TIME_ASC)
        names = sorted(t.name.rsplit("-", 1)[0] if not t.name.startswith(("ocr-pages", "speech-")) else
                       t.name.split("-")[0] + ("-pages" if t.name.startswith("ocr") else "") for t in tasks)
        # 6 pages at 8 pages per task: one OCR task, not one per page; 2 recordings, one speech task.
        assert names == ["export-items", "ingest", "ocr-pages", "plan-ocr", "plan-speech", "progress", "speech"]
        assert all(t.state.is_completed() for t in tasks)
        artifacts = client.read_artifacts(limit=100, sort=ArtifactSort.CREATED_DESC)
        assert any(a.key == "progress-tianjin-2021-2025" for a in artifacts)

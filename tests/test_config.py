import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError


def test_default_profile_loads_with_embedded_defaults():
    s = load_settings()
    assert s.ocr.engine == "paddleocr"
    assert s.db_url.startswith("sqlite:///") and s.db_url.endswith("dangan.sqlite")
    assert s.search.roles["public"] == ["开放"]


def test_environment_overrides_profile(monkeypatch, tmp_path):
    monkeypatch.setenv("DANGAN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DANGAN_OCR_MODELS", "/models/mine")
    s = load_settings()
    assert s.data_dir == tmp_path and s.out_dir == tmp_path / "output"
    assert s.ocr.models == "/models/mine"


def test_profile_from_path_and_unknown_key(tmp_path):
    good = tmp_path / "p.yaml"
    good.write_text("ocr:\n  threads: 2\n", encoding="utf-8")
    assert load_settings(str(good)).ocr.threads == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("ocr:\n  thread: 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="thread"):
        load_settings(str(bad))


def test_broken_yaml_and_missing_profile(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("ocr: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(str(broken))
    with pytest.raises(ConfigError, match="no such profile"):
        load_settings("no-such-profile")


def test_ocr_workers_zero_means_one_per_core_within_memory(monkeypatch):
    import os

    from pipeline.config import WORKER_MEMORY, OcrSettings

    assert OcrSettings(workers=3).page_workers() == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    memory = {"bytes": 0}

    def sysconf(name):
        return {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": memory["bytes"] // 4096}[name]

    monkeypatch.setattr(os, "sysconf", sysconf)
    memory["bytes"] = 64 * WORKER_MEMORY
    assert OcrSettings().page_workers() == 8  # the cores bound it
    memory["bytes"] = 3 * WORKER_MEMORY
    assert OcrSettings().page_workers() == 3  # the memory bounds it
    memory["bytes"] = WORKER_MEMORY // 2
    assert OcrSettings().page_workers() == 1

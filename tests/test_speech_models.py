import pytest

from pipeline.config import SpeechSettings
from pipeline.errors import ModelNotFound, SpeechModelNotConfigured
from pipeline.speech.models import NOT_CONFIGURED, require_model, resolve_model


def test_no_model_is_a_named_state_not_a_crash():
    assert resolve_model(SpeechSettings()) is None
    with pytest.raises(SpeechModelNotConfigured) as exc:
        require_model(SpeechSettings())
    assert exc.value.exit_code == 3 and str(exc.value) == NOT_CONFIGURED


def test_names_are_looked_up_in_the_whisper_cache(tmp_path):
    s = SpeechSettings(model="archive-small", whisper_cache=tmp_path)
    with pytest.raises(ModelNotFound, match="not in the whisper cache"):
        resolve_model(s)
    (tmp_path / "archive-small.pt").write_bytes(b"weights")
    m = resolve_model(s)
    assert m.path == tmp_path / "archive-small.pt" and m.kind == "whisper-checkpoint" and len(m.sha256) == 64


def test_an_official_name_must_match_whispers_published_digest(tmp_path):
    (tmp_path / "small.pt").write_bytes(b"not the real small model")
    with pytest.raises(ModelNotFound, match="fails its checksum"):
        resolve_model(SpeechSettings(model="small", whisper_cache=tmp_path))


def test_paths_and_ctranslate2_folders(tmp_path):
    with pytest.raises(ModelNotFound, match="not found"):
        resolve_model(SpeechSettings(model=str(tmp_path / "missing.pt")))
    folder = tmp_path / "ct2"
    folder.mkdir()
    with pytest.raises(ModelNotFound, match="model.bin"):
        resolve_model(SpeechSettings(model=str(folder)))
    (folder / "model.bin").write_bytes(b"x")
    assert resolve_model(SpeechSettings(model=str(folder))).kind == "ctranslate2"

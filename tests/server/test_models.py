"""GET /v1/models: local ids and their OpenAI aliases, through the real SDK."""

from __future__ import annotations

import httpx
import openai
import pytest

from audiolab.server.registry import ALIASES, MODELS
from tests.spec import validate


@pytest.fixture(scope="module")
def lab():
    import audiolab

    return audiolab.connect("local", environ={})


def test_models_list_has_local_ids_and_aliases_with_targets(lab):
    raw = httpx.get(f"{lab.base_url}/models").json()
    validate(raw, "ListModelsResponse")
    by_id = {m["id"]: m for m in raw["data"]}
    for local in ("whisper-base", "pocketsphinx", "piper-joe", "smollm2-135m-instruct"):
        assert by_id[local]["owned_by"] == f"audiolab:{MODELS[local].engine}"
    for alias in ("gpt-4o-mini-tts", "tts-1", "tts-1-hd", "whisper-1", "gpt-4o-transcribe",
                  "gpt-4o-mini-transcribe", "gpt-transcribe"):
        assert by_id[alias]["alias_of"] == ALIASES[alias].target
    sdk_ids = {m.id for m in lab.client.models.list()}
    assert sdk_ids == set(by_id)


def test_model_retrieve_names_the_engine(lab):
    model = lab.client.models.retrieve("whisper-1")
    assert model.owned_by == "audiolab:whisper"
    raw = lab.client.models.with_raw_response.retrieve("tts-1")
    assert raw.headers["x-audiolab-engine"] == "piper/piper-joe"
    validate(raw.parse().model_dump(), "Model")


def test_unknown_model_is_an_openai_shaped_404(lab):
    with pytest.raises(openai.NotFoundError) as exc:
        lab.client.models.retrieve("gpt-9-imaginary")
    body = exc.value.body
    assert body["code"] == "model_not_found" and body["param"] == "model"


def test_unknown_path_and_method_are_openai_shaped(lab):
    r = httpx.post(f"{lab.base_url}/audio/nothing")
    assert r.status_code == 404 and r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.delete(f"{lab.base_url}/models")
    assert r.status_code == 405 and "error" in r.json()

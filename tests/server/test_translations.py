"""POST /v1/audio/translations: Spanish speech (eSpeak NG) comes back as English text, in every
format OpenAI offers, through the real SDK; JSON bodies are validated against the spec."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
from openai.types.audio import Translation, TranslationVerbose

from audiolab.eval.metrics import normalize
from tests.spec import validate

SPANISH = "Buenos días. ¿Dónde está la estación de tren? Quiero comprar un billete para Madrid."
# Words of its English meaning ("Good morning. Where is the train station? I want to buy a ticket
# to Madrid."). whisper-base on robotic eSpeak Spanish gets the gist, not every word.
MEANING = {"good", "morning", "day", "where", "is", "station", "train", "want", "buy", "ticket", "madrid"}
SPANISH_WORDS = {"buenos", "días", "dias", "dónde", "donde", "está", "esta", "estación", "estacion", "tren",
                 "quiero", "comprar", "un", "billete", "para"}


@pytest.fixture(scope="module")
def english_lexicon() -> frozenset[str]:
    """The CMU pronouncing dictionary's 130k English words (shipped with pocketsphinx)."""
    import importlib.util
    from pathlib import Path

    root = Path(next(iter(importlib.util.find_spec("pocketsphinx").submodule_search_locations)))
    lines = (root / "model" / "en-us" / "cmudict-en-us.dict").read_text(encoding="utf-8").splitlines()
    return frozenset(line.split()[0].split("(")[0] for line in lines if line.strip())


@pytest.fixture(scope="module")
def spanish(spoken):
    return spoken(SPANISH, "espeak-es")


def _file(audio):
    return ("pregunta.wav", audio.to_wav_bytes(), "audio/wav")


def _words(text: str) -> set[str]:
    return set(normalize(text).split())


def test_spanish_speech_translates_to_english_words(lab, spanish, english_lexicon):
    raw = lab.client.audio.translations.with_raw_response.create(model="whisper-1", file=_file(spanish))
    assert raw.headers["x-audiolab-engine"] == "whisper/whisper-base"
    body = json.loads(raw.http_response.text)
    validate(body, "CreateTranslationResponseJson")
    text = Translation.model_validate(body).text
    words = _words(text)
    print(f"translation of {SPANISH!r}: {text!r}")
    tokens = normalize(text).split()
    assert len(tokens) >= 5
    assert sum(t in english_lexicon for t in tokens) / len(tokens) >= 0.9
    assert len(words & MEANING) >= 3
    assert not words & SPANISH_WORDS


def test_translation_verbose_json_reports_english_and_segments(lab, spanish):
    raw = lab.client.audio.translations.with_raw_response.create(model="whisper-1", file=_file(spanish),
                                                                 response_format="verbose_json")
    body = json.loads(raw.http_response.text)
    validate(body, "CreateTranslationResponseVerboseJson")
    verbose = TranslationVerbose.model_validate(body)
    assert set(body) - set(TranslationVerbose.model_fields) == {"task"} and body["task"] == "translate"
    assert verbose.language == "english" and verbose.duration == pytest.approx(spanish.duration, abs=0.01)
    assert verbose.segments and all(0 <= s.start < s.end <= spanish.duration + 0.01 for s in verbose.segments)
    assert "".join(s.text for s in verbose.segments).strip() == verbose.text


@pytest.mark.parametrize("fmt", ["text", "srt", "vtt"])
def test_translation_text_formats(lab, spanish, fmt):
    out = lab.client.audio.translations.create(model="whisper-1", file=_file(spanish), response_format=fmt)
    assert isinstance(out, str) and len(_words(out) & MEANING) >= 3
    if fmt == "srt":
        assert out.startswith("1\n00:00:00,000 --> ")
    elif fmt == "vtt":
        assert out.startswith("WEBVTT\n\n00:00:00.000 --> ")
    else:
        assert out.endswith("\n") and "-->" not in out


def test_async_client_translates(lab, spanish):
    async def translate():
        # A fresh AsyncOpenAI per event loop: lab.aclient's pool belongs to the first loop that used it.
        async with openai.AsyncOpenAI(base_url=lab.base_url, api_key=lab.aclient.api_key) as client:
            return await client.audio.translations.create(model="whisper-base", file=_file(spanish))

    out = asyncio.run(translate())
    assert isinstance(out, Translation) and len(_words(out.text) & MEANING) >= 3


@pytest.mark.parametrize("model", ["gpt-4o-transcribe", "pocketsphinx"])
def test_models_that_cannot_translate_are_refused(lab, spanish, model):
    with pytest.raises(openai.BadRequestError) as exc:
        lab.client.with_options(max_retries=0).audio.translations.create(model=model, file=_file(spanish))
    validate(exc.value.response.json(), "ErrorResponse")
    assert exc.value.body["param"] == "model"


def test_translation_rejects_a_diarized_format(lab, spanish):
    with pytest.raises(openai.BadRequestError) as exc:
        lab.client.with_options(max_retries=0).audio.translations.create(
            model="whisper-1", file=_file(spanish), response_format="diarized_json")
    assert (exc.value.body["param"], exc.value.body["code"]) == ("response_format", "invalid_value")

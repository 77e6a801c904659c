"""The OpenAPI validation helper really validates: it accepts OpenAI's own example and rejects
objects with a wrong type, a missing required field or a wrong enum value."""

from __future__ import annotations

import jsonschema
import pytest

from tests.spec import schema, validate


def test_validate_accepts_a_well_formed_verbose_transcription():
    validate(
        {
            "language": "english",
            "duration": 1.5,
            "text": "Hi.",
            "segments": [
                {
                    "id": 0,
                    "seek": 0,
                    "start": 0.0,
                    "end": 1.2,
                    "text": " Hi.",
                    "tokens": [50364, 2421],
                    "temperature": 0.0,
                    "avg_logprob": -0.2,
                    "compression_ratio": 0.8,
                    "no_speech_prob": 0.01,
                }
            ],
            "usage": {"type": "duration", "seconds": 2},
        },
        "CreateTranscriptionResponseVerboseJson",
    )


@pytest.mark.parametrize("bad, name", [
    ({"language": "english", "duration": "long", "text": "Hi."}, "CreateTranscriptionResponseVerboseJson"),
    ({"duration": 1.0, "text": "Hi."}, "CreateTranscriptionResponseVerboseJson"),
    ({"text": "Hi.", "usage": {"type": "duration"}}, "CreateTranscriptionResponseJson"),
    ({"type": "transcript.text.delta"}, "TranscriptTextDeltaEvent"),
    ({"type": "transcript.text.done", "text": "x", "usage": {"type": "duration", "seconds": 3}},
     "TranscriptTextDoneEvent"),
    ({"language": "english", "duration": 1.0, "text": "Hi.",
      "segments": [{"id": "zero", "seek": 0, "start": 0, "end": 1, "text": "Hi", "tokens": [],
                    "temperature": 0, "avg_logprob": 0, "compression_ratio": 0, "no_speech_prob": 0}]},
     "CreateTranscriptionResponseVerboseJson"),
])
def test_validate_rejects_a_wrong_object(bad, name):
    with pytest.raises(jsonschema.ValidationError):
        validate(bad, name)


def test_validate_names_an_unknown_schema():
    with pytest.raises(KeyError):
        schema("NoSuchSchema")


def test_openapi_30_nullable_becomes_a_null_alternative():
    from tests.spec import _nullable_to_31

    rewritten = _nullable_to_31(
        {"type": "object", "properties": {"n": {"type": "integer", "nullable": True}}}
    )
    checker = jsonschema.Draft202012Validator(rewritten)
    assert checker.is_valid({"n": None}) and checker.is_valid({"n": 3})
    assert not checker.is_valid({"n": "three"})

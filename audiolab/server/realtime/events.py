"""Builders of Realtime server events, in the GA shapes of the ``openai`` SDK's
``openai.types.realtime`` models, plus ids and the token estimates behind ``usage``.

Every builder returns a plain ``dict`` ready for ``json.dumps``; :func:`event` stamps the
``event_id``. Nothing here knows about sockets or engines.

Example:
    >>> from audiolab.errors import InvalidRequest
    >>> e = error_event(InvalidRequest("Bad.", param="session.voice", code="invalid_value"))
    >>> e["type"], e["error"]["param"], e["event_id"].startswith("event_")
    ('error', 'session.voice', True)
"""

from __future__ import annotations

import math
import secrets
import string

from audiolab.errors import AudiolabError

__all__ = [
    "new_id",
    "event",
    "error_event",
    "error_details",
    "response_object",
    "usage",
    "transcription_usage",
    "audio_tokens",
    "text_tokens",
    "INPUT_AUDIO_TOKENS_PER_S",
    "OUTPUT_AUDIO_TOKENS_PER_S",
]

_ALPHABET = string.ascii_letters + string.digits
#: OpenAI documents about 10 tokens per second of input audio and 20 per second of output audio.
INPUT_AUDIO_TOKENS_PER_S = 10
OUTPUT_AUDIO_TOKENS_PER_S = 20


def new_id(prefix: str) -> str:
    """An OpenAI-style id: ``prefix_`` plus 21 random letters and digits (``item_Bx3...``)."""
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(21))


def event(type_: str, **fields) -> dict:
    """A server event of ``type_`` with a fresh ``event_id``, fields in OpenAI's order."""
    return {"type": type_, "event_id": new_id("event"), **fields}


def error_event(exc: AudiolabError, *, client_event_id: str | None = None) -> dict:
    """The ``error`` event for ``exc``; ``client_event_id`` names the client event at fault."""
    return event(
        "error",
        error={
            "type": exc.error_type,
            "code": exc.code,
            "message": exc.message,
            "param": exc.param,
            "event_id": client_event_id,
        },
    )


def audio_tokens(seconds: float, *, output: bool = False) -> int:
    """Estimated audio tokens for ``seconds`` of audio (10/s in, 20/s out, as OpenAI documents)."""
    rate = OUTPUT_AUDIO_TOKENS_PER_S if output else INPUT_AUDIO_TOKENS_PER_S
    return int(math.ceil(max(seconds, 0.0) * rate))


def text_tokens(text: str | None) -> int:
    """Estimated text tokens: about four characters per token, as OpenAI's rule of thumb."""
    return int(math.ceil(len(text or "") / 4))


def usage(*, input_text: int, input_audio: int, output_text: int, output_audio: int) -> dict:
    """A ``RealtimeResponseUsage`` from token counts."""
    inp, out = input_text + input_audio, output_text + output_audio
    return {
        "total_tokens": inp + out,
        "input_tokens": inp,
        "output_tokens": out,
        "input_token_details": {
            "text_tokens": input_text,
            "audio_tokens": input_audio,
            "image_tokens": 0,
            "cached_tokens": 0,
            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": output_text, "audio_tokens": output_audio},
    }


def transcription_usage(model: str, *, seconds: float, transcript: str) -> dict:
    """``usage`` of an input transcription: seconds for ``whisper-1``, tokens for the GPT models."""
    if model == "whisper-1":
        return {"type": "duration", "seconds": round(seconds, 3)}
    audio, text = audio_tokens(seconds), text_tokens(transcript)
    return {
        "type": "tokens",
        "total_tokens": audio + text,
        "input_tokens": audio,
        "input_token_details": {"text_tokens": 0, "audio_tokens": audio},
        "output_tokens": text,
    }


def response_object(
    response_id: str,
    *,
    status: str = "in_progress",
    status_details: dict | None = None,
    output: list | None = None,
    conversation_id: str | None,
    output_modalities: list[str],
    max_output_tokens,
    voice: str | dict | None,
    output_format: dict,
    usage: dict | None = None,
    metadata: dict | None = None,
) -> dict:
    """A ``RealtimeResponse`` object, as ``response.created`` and ``response.done`` carry it.

    Unset ``status_details``, ``usage`` and ``conversation_id`` are left out rather than sent as
    ``null``, which OpenAI's published schema does not allow for them.
    """
    out = {
        "object": "realtime.response",
        "id": response_id,
        "status": status,
        "status_details": status_details,
        "output": output or [],
        "conversation_id": conversation_id,
        "output_modalities": output_modalities,
        "max_output_tokens": max_output_tokens,
        "audio": {"output": {"format": output_format, "voice": voice}},
        "usage": usage,
        "metadata": metadata,
    }
    return {k: v for k, v in out.items() if v is not None or k not in ("status_details", "usage", "conversation_id")}


def error_details(exc: AudiolabError, *, param: bool = False) -> dict:
    """``{type, code, message[, param]}`` of a failed response or transcription, without null fields."""
    out = {"type": exc.error_type, "code": exc.code, "message": exc.message}
    if param:
        out["param"] = exc.param
    return {k: v for k, v in out.items() if v is not None}

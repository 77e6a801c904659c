"""One router per OpenAI resource, each included explicitly by :func:`audiolab.server.app.create_app`.

Routes validate (:mod:`audiolab.server.validation`), pick an engine, and shape the response; they
read the app's settings, registry and jobs from ``request.app.state`` and never import the app.
"""

from __future__ import annotations

import datetime
import email.utils

from fastapi import Request

__all__ = ["ENGINE_HEADER", "engine_headers", "deprecation_headers", "state", "decode_audio", "MAX_DECODED_SAMPLES",
           "MAX_AUDIO_SECONDS"]

ENGINE_HEADER = "x-audiolab-engine"

#: Where OpenAI lists retired models and their replacements (the ``Link`` of a retired id).
DEPRECATIONS_URL = "https://developers.openai.com/api/docs/deprecations"


def engine_headers(spec, alias=None) -> dict[str, str]:
    """The response header that names the engine (and local model) that served a request, plus
    :func:`deprecation_headers` when the request named a retired OpenAI id."""
    return {ENGINE_HEADER: f"{spec.engine}/{spec.id}", **deprecation_headers(alias)}


def deprecation_headers(alias) -> dict[str, str]:
    """``Deprecation`` (RFC 9745), ``Sunset`` (RFC 8594), ``Link`` and ``Warning`` headers for a
    retired OpenAI id, which the local backend still serves so that old tutorials run; ``{}``
    for any other id."""
    if alias is None or not getattr(alias, "retired", False):
        return {}
    headers = {"deprecation": "true"}
    if alias.shutdown:
        when = datetime.datetime.fromisoformat(alias.shutdown).replace(tzinfo=datetime.UTC)
        headers["deprecation"] = f"@{int(when.timestamp())}"
        headers["sunset"] = email.utils.format_datetime(when, usegmt=True)
    headers["link"] = f'<{DEPRECATIONS_URL}>; rel="deprecation"; type="text/html"'
    headers["warning"] = (f'299 audiolab "{alias.id} is retired: OpenAI no longer serves it. The local backend '
                          f'answers it with {alias.target}; use {alias.replacement}."')
    return headers


#: Bounds on one decoded upload, so that a small file cannot become gigabytes of samples (a FLAC
#: of silence is ~700x smaller than its samples) or hours of audio (a wav header saying 1 Hz).
MAX_DECODED_SAMPLES = 2**27  # frames x channels: 512 MiB as float32, ~70 min of 16 kHz stereo
MAX_AUDIO_SECONDS = 2 * 3600


def decode_audio(data: bytes, format: str | None = None, *, source: str | None = None, param: str = "file"):
    """Decode uploaded bytes as :class:`~audiolab.audio.Audio` within the bounds above (blocking).

    Raises:
        AudioDecodeError: bytes that are not decodable audio.
        InvalidRequest: audio over :data:`MAX_DECODED_SAMPLES` or :data:`MAX_AUDIO_SECONDS`
            (code ``audio_too_long``).
    """
    from audiolab.audio import Audio
    from audiolab.errors import InvalidRequest

    try:
        audio = Audio.from_bytes(data, format, source=source, max_samples=MAX_DECODED_SAMPLES)
    except InvalidRequest as exc:
        if exc.code == "audio_too_long":
            exc.param = param
        raise
    if audio.duration > MAX_AUDIO_SECONDS:
        raise InvalidRequest(f"The audio lasts {audio.duration:.0f} s (at {audio.sr} Hz); this server accepts at "
                             f"most {MAX_AUDIO_SECONDS} s in one request. Send a shorter clip, or split it.",
                             param=param, code="audio_too_long")
    return audio


def state(request: Request):
    """The app state (settings, registry, jobs) of the app serving ``request``."""
    return request.app.state


"""Fixtures for the local backend's wire tests: one in-process server per session, real clips.

Append new fixtures at the end; keep each one small.
"""

from __future__ import annotations

import pytest

import audiolab
from audiolab.audio import Audio
from tests.conftest import speech_clip_path


@pytest.fixture(scope="session")
def lab():
    """``audiolab.connect("local")``: the real server on 127.0.0.1, driven by the real SDK."""
    return audiolab.connect("local")


@pytest.fixture(scope="session")
def speech_clip():
    """``speech_clip(name)`` -> :class:`Audio` of a bundled real recording (``beckett.wav``...)."""
    cache: dict[str, Audio] = {}

    def load(name: str) -> Audio:
        if name not in cache:
            path = speech_clip_path(name)
            cache[name] = Audio.from_file(path)
        return cache[name]

    return load


@pytest.fixture(scope="session")
def two_cities(speech_clip) -> Audio:
    """The opening paragraph of A Tale of Two Cities, read by a person (44 s, 48 kHz)."""
    return speech_clip("two_cities.wav")


@pytest.fixture(scope="session")
def spoken(lab):
    """``spoken(text, voice)`` -> :class:`Audio` synthesized by the local TTS voices.

    Uses ``POST /v1/audio/speech`` when the server has it, else the engine directly (the TTS
    route is built separately and may not be there yet).
    """
    import openai

    from audiolab.server.registry import VOICES

    def synth(text: str, voice: str = "piper-joe") -> Audio:
        try:
            body = lab.client.audio.speech.create(model="gpt-4o-mini-tts", voice=voice, input=text,
                                                  response_format="wav")
            return Audio.from_bytes(body.read(), text=text)
        except openai.NotFoundError:
            pass
        spec = VOICES[voice]
        if spec.engine == "piper":
            from audiolab.server.engines.piper import PiperEngine as Engine
        else:
            from audiolab.server.engines.espeak import EspeakEngine as Engine
        return Audio.concat(list(Engine().synthesize(text, voice=spec)), gap_s=0.2).replace(text=text)

    return synth

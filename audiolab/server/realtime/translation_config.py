"""The configuration of a Realtime translation session, as ``session.update`` and client secrets set it.

The wire object is OpenAI's ``RealtimeTranslationSession``: ``{id, type: "translation",
expires_at, model, audio: {input: {transcription, noise_reduction}, output: {language}}}``.
``model`` and ``type`` are fixed when the session starts; an update may change the input
transcription model, the noise reduction and the output language. An update is checked whole
before anything changes, so a bad one leaves the session as it was.

Locally the output languages are those of :data:`~audiolab.server.registry.TRANSLATION_VOICES`
(English from whisper's translate task, the others through the chat model). ``noise_reduction``
is accepted and reported back but has no effect, as in speech-to-speech sessions.

Example:
    >>> from audiolab.server.registry import Registry
    >>> from audiolab.server.settings import Settings
    >>> cfg = TranslationConfig("gpt-realtime-translate")
    >>> cfg.update({"audio": {"output": {"language": "en"}}}, Registry(Settings()))
    >>> cfg.wire()["type"], cfg.language
    ('translation', 'en')
"""

from __future__ import annotations

import copy
import time

from audiolab.server.realtime.events import new_id
from audiolab.server.registry import CHAT_MODEL, TRANSLATION_VOICES
from audiolab.server.validation import expect, invalid, missing, number, one_of, unknown

__all__ = ["TranslationConfig", "DEFAULT_MODEL", "SESSION_S", "supported_languages"]

DEFAULT_MODEL = "gpt-realtime-translate"
SESSION_S = 3600  # a session's lifetime, as reported in expires_at
_NOISE_TYPES = ("near_field", "far_field")


def supported_languages() -> str:
    """The output languages served locally, for error messages (``de, en, es, fr``)."""
    return ", ".join(sorted(TRANSLATION_VOICES))


def _object(value, param: str, allowed: set[str]) -> dict:
    expect(value, dict, param, "an object")
    for key in value:
        if key not in allowed:
            raise unknown(f"{param}.{key}")
    return value


class TranslationConfig:
    """A translation session's settings (see the module doc). ``language`` is the output language."""

    def __init__(self, model: str = DEFAULT_MODEL):
        self.id = new_id("sess")
        self.model = model
        self.expires_at = int(time.time()) + SESSION_S
        self.transcription: dict | None = None
        self.noise_reduction: dict | None = None
        self.language = "en"

    def wire(self) -> dict:
        """The ``RealtimeTranslationSession`` object."""
        return {
            "id": self.id,
            "type": "translation",
            "expires_at": self.expires_at,
            "model": self.model,
            "audio": {
                "input": {"transcription": copy.deepcopy(self.transcription),
                          "noise_reduction": copy.deepcopy(self.noise_reduction)},
                "output": {"language": self.language},
            },
        }

    def update(self, patch, registry) -> None:
        """Apply a ``session`` patch (``session.update``, or a client secret's session).

        Raises:
            InvalidRequest: an unknown field, a changed ``type`` or ``model``, an output language
                that cannot be served locally (the message lists those that can), or an unknown
                transcription model.
        """
        patch = _object(patch, "session", {"type", "model", "audio", "id", "expires_at"})
        if patch.get("type", "translation") != "translation":
            raise invalid(f"Invalid value for 'session.type': {patch['type']!r}. A translation session's type is "
                          "'translation'.", "session.type")
        if "model" in patch and patch["model"] != self.model:
            raise invalid("The session 'model' is set when a translation session starts and cannot be changed "
                          "with session.update.", "session.model")
        audio = _object(patch.get("audio", {}), "session.audio", {"input", "output"})
        inp = _object(audio.get("input", {}), "session.audio.input", {"transcription", "noise_reduction"})
        out = _object(audio.get("output", {}), "session.audio.output", {"language"})
        transcription, noise, language = self.transcription, self.noise_reduction, self.language
        if "transcription" in inp:
            transcription = self._transcription(inp["transcription"], registry)
        if "noise_reduction" in inp:
            noise = self._noise(inp["noise_reduction"])
        if "language" in out:
            language = self._language(out["language"], registry)
        self.transcription, self.noise_reduction, self.language = transcription, noise, language

    @staticmethod
    def _transcription(value, registry) -> dict | None:
        param = "session.audio.input.transcription"
        if value is None:
            return None
        value = _object(value, param, {"model", "language", "prompt"})
        if "model" not in value:
            raise missing(f"{param}.model")
        registry.resolve(value["model"], "stt", param=f"{param}.model")
        return {"model": value["model"]}

    @staticmethod
    def _noise(value) -> dict | None:
        param = "session.audio.input.noise_reduction"
        if value is None:
            return None
        value = _object(value, param, {"type", "strength"})
        one_of(value.get("type"), _NOISE_TYPES, f"{param}.type")
        if value.get("strength") is not None:
            number(value["strength"], f"{param}.strength", lo=0)
        return {k: v for k, v in value.items() if v is not None}

    @staticmethod
    def _language(value, registry) -> str:
        param = "session.audio.output.language"
        expect(value, str, param, "a language code such as 'en'")
        code = value.strip().lower().replace("_", "-").split("-")[0]
        if code not in TRANSLATION_VOICES:
            raise invalid(f"Unsupported output language {value!r}: the local server translates into "
                          f"{supported_languages()} (English with Whisper, the others with the chat model).",
                          param, "unsupported_language")
        if code != "en":  # English into other languages goes through the chat model: it must be there
            registry.resolve(CHAT_MODEL, "chat", param=param)
        return code

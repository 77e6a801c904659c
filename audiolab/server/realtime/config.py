"""A Realtime session's configuration: OpenAI's defaults, ``session.update`` validation, the wire shape.

Two kinds of session share this object: ``realtime`` (speech-to-speech) and ``transcription``.
An update is validated completely before any of it applies, so a bad field leaves the session as
it was and becomes one ``error`` event whose ``param`` names the field
(``session.audio.input.turn_detection.threshold``).

Turn detection:

- ``server_vad`` runs Silero VAD with the given ``threshold``, ``prefix_padding_ms`` and
  ``silence_duration_ms``;
- ``semantic_vad`` is approximated by ``server_vad`` (threshold 0.5, 300 ms prefix padding) whose
  silence duration follows ``eagerness``: ``high`` 400 ms, ``medium``/``auto`` 800 ms, ``low``
  1500 ms (OpenAI's semantic model waits up to 2, 4 and 8 s when it judges the turn unfinished;
  there is no such model here);
- ``null`` means the client commits turns itself.

Accepted but without effect locally: ``noise_reduction``, ``tools`` (the local model calls none),
``tracing``, ``truncation``, ``prompt``, ``idle_timeout_ms``, ``include``.

Example:
    >>> cfg = SessionConfig("realtime", "gpt-realtime", registry=None)
    >>> cfg.vad_options()
    {'threshold': 0.5, 'prefix_padding_ms': 300, 'silence_duration_ms': 500}
"""

from __future__ import annotations

import copy
import time

from audiolab.audio import PCM_RATE
from audiolab.errors import AudiolabError
from audiolab.server.realtime import g711
from audiolab.server.realtime.events import new_id
from audiolab.server.validation import expect, invalid, number, unknown

__all__ = ["SessionConfig", "DEFAULT_INSTRUCTIONS", "SEMANTIC_SILENCE_MS"]

DEFAULT_INSTRUCTIONS = (
    "You are a helpful, friendly voice assistant. Answer in one or two short, plain sentences."
)
DEFAULT_VOICE = "marin"
DEFAULT_TRANSCRIPTION_MODEL = "gpt-4o-transcribe"
SEMANTIC_SILENCE_MS = {"high": 400, "medium": 800, "auto": 800, "low": 1500}
_LEGACY_FORMATS = {"pcm16": "audio/pcm", "g711_ulaw": "audio/pcmu", "g711_alaw": "audio/pcma"}
_OMIT_IF_NULL = {"include", "transcription", "noise_reduction", "language", "prompt_cache_key"}
_READ_ONLY = {"id", "object", "expires_at", "client_secret"}
_REALTIME_KEYS = {"type", "model", "instructions", "output_modalities", "max_output_tokens", "audio", "include",
                  "tools", "tool_choice", "tracing", "truncation", "prompt", "reasoning", "parallel_tool_calls"}
_TRANSCRIPTION_KEYS = {"type", "audio", "include"}
_SERVER_VAD = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500,
               "idle_timeout_ms": None, "create_response": True, "interrupt_response": True}
_SEMANTIC_VAD = {"type": "semantic_vad", "eagerness": "auto", "create_response": True, "interrupt_response": True}


def _keys(obj: dict, allowed: set, param: str) -> None:
    for key in obj:
        if key not in allowed:
            raise unknown(f"{param}.{key}")


def _number(obj: dict, key: str, param: str, lo: float, hi: float | None, *, integer: bool = False):
    return number(obj[key], f"{param}.{key}", lo=lo, hi=hi, integer=integer)


def audio_format(value, param: str) -> dict:
    if isinstance(value, str) and value in _LEGACY_FORMATS:
        value = {"type": _LEGACY_FORMATS[value]}
    expect(value, (dict,), param, "an object such as {'type': 'audio/pcm', 'rate': 24000}")
    _keys(value, {"type", "rate"}, param)
    kind = value.get("type")
    if kind == "audio/pcm":
        if value.get("rate", PCM_RATE) != PCM_RATE:
            raise invalid(f"Invalid '{param}.rate': only {PCM_RATE} is supported for audio/pcm.", f"{param}.rate")
        return {"type": "audio/pcm", "rate": PCM_RATE}
    if kind in g711.FORMATS:
        if "rate" in value and value["rate"] != g711.SAMPLE_RATE:
            raise invalid(f"Invalid '{param}.rate': {kind} is 8000 Hz.", f"{param}.rate")
        return {"type": kind}
    raise invalid(f"Invalid value for '{param}.type': {kind!r}. Supported values are: 'audio/pcm', "
               "'audio/pcmu' and 'audio/pcma'.", f"{param}.type")


def _without_nulls(node):
    """Drop unset optional fields the published schema does not allow as null (null means "off")."""
    if isinstance(node, dict):
        return {k: _without_nulls(v) for k, v in node.items() if not (v is None and k in _OMIT_IF_NULL)}
    return node


class SessionConfig:
    """The effective configuration of one Realtime session.

    Args:
        kind: ``"realtime"`` or ``"transcription"``.
        model: the model id of the connection URL (realtime sessions).
        registry: the server's registry, to check voices and transcription models (``None``
            skips those checks, for doctests).
    """

    def __init__(self, kind: str, model: str | None, *, registry):
        self.kind = kind
        self.registry = registry
        self.id = new_id("sess")
        self.expires_at = int(time.time()) + 3600
        self.voice_locked = False  # OpenAI: the voice is fixed once audio has been produced
        audio_input = {"format": {"type": "audio/pcm", "rate": PCM_RATE}, "transcription": None,
                       "noise_reduction": None, "turn_detection": dict(_SERVER_VAD)}
        if kind == "transcription":
            audio_input["transcription"] = {"model": DEFAULT_TRANSCRIPTION_MODEL, "language": None, "prompt": ""}
            self.data = {"type": "transcription", "audio": {"input": audio_input}, "include": None}
        else:
            self.data = {
                "type": "realtime", "model": model, "output_modalities": ["audio"],
                "instructions": DEFAULT_INSTRUCTIONS, "tools": [], "tool_choice": "auto",
                "max_output_tokens": "inf", "tracing": None, "truncation": "auto", "prompt": None,
                "audio": {"input": audio_input,
                          "output": {"format": {"type": "audio/pcm", "rate": PCM_RATE}, "voice": DEFAULT_VOICE,
                                     "speed": 1.0}},
                "include": None,
            }

    # --- the wire shape ----------------------------------------------------------------------
    def wire(self) -> dict:
        """The session object of ``session.created`` / ``session.updated``."""
        obj = "realtime.transcription_session" if self.kind == "transcription" else "realtime.session"
        head = {"type": self.kind, "object": obj, "id": self.id}
        body = _without_nulls(copy.deepcopy(self.data))
        body.pop("type")
        return {**head, **body, "expires_at": self.expires_at}

    # --- accessors ---------------------------------------------------------------------------
    @property
    def audio_input(self) -> dict:
        return self.data["audio"]["input"]

    @property
    def audio_output(self) -> dict:
        return self.data["audio"].get("output") or {}

    @property
    def turn_detection(self) -> dict | None:
        return self.audio_input["turn_detection"]

    @property
    def transcription(self) -> dict | None:
        return self.audio_input["transcription"]

    @property
    def input_format(self) -> str:
        return self.audio_input["format"]["type"]

    def vad_options(self) -> dict | None:
        """Options for :meth:`VadEngine.stream`, or ``None`` when turns are committed manually."""
        td = self.turn_detection
        if td is None:
            return None
        if td["type"] == "semantic_vad":
            return {"threshold": 0.5, "prefix_padding_ms": 300,
                    "silence_duration_ms": SEMANTIC_SILENCE_MS[td.get("eagerness") or "auto"]}
        return {k: td[k] for k in ("threshold", "prefix_padding_ms", "silence_duration_ms")}

    def stt_model(self) -> tuple[str, dict]:
        """The transcription model id (as the client named it) and options for input audio.

        Without ``audio.input.transcription`` the server still transcribes user audio, as the
        local chat model's input: with whisper-1's model, in English (the chat model's language,
        and it spares Whisper's language detection, a third of the time of a short turn).
        """
        t = self.transcription
        if t is None:
            return "whisper-1", {"language": "en", "prompt": None}
        return t.get("model") or "whisper-1", {"language": t.get("language") or None, "prompt": t.get("prompt") or None}

    # --- session.update ----------------------------------------------------------------------
    def update(self, patch) -> None:
        """Validate ``patch`` (the ``session`` of a ``session.update``) and apply it, all or nothing.

        Raises:
            InvalidRequest: an unknown field, a wrong type or value; ``param`` names the field.
        """
        expect(patch, (dict,), "session", "an object")
        if "type" not in patch:
            raise invalid("Missing required parameter: 'session.type'.", "session.type", "missing_required_parameter")
        if patch["type"] == "transcription" and self.kind == "realtime":  # OpenAI's own words and code
            raise invalid("Passing a transcription session update event to a realtime session is not allowed.",
                       "session.type", "invalid_parameter")
        if patch["type"] != self.kind:
            raise invalid(f"Invalid value for 'session.type': this is a {self.kind} session and cannot become "
                       f"{patch['type']!r}.", "session.type")
        allowed = (_TRANSCRIPTION_KEYS if self.kind == "transcription" else _REALTIME_KEYS) | _READ_ONLY
        _keys(patch, allowed, "session")
        new = copy.deepcopy(self.data)
        for key, value in patch.items():
            if key in _READ_ONLY or key == "type":
                continue
            p = f"session.{key}"
            if key == "audio":
                self._audio(new["audio"], value, p)
            elif key == "model":
                expect(value, (str,), p, "a string")
                self._check(lambda model=value: self.registry.resolve(model, ("realtime", "chat")), p)
                new[key] = value
            elif key == "instructions":
                new[key] = expect(value, (str,), p, "a string")
            elif key == "output_modalities":
                expect(value, (list,), p, "an array")
                if value not in (["audio"], ["text"]):
                    raise invalid(f"Invalid '{p}': use ['audio'] or ['text'] (not both).", p)
                new[key] = list(value)
            elif key == "max_output_tokens":
                new[key] = "inf" if value == "inf" else _number(patch, key, "session", 1, 4096, integer=True)
            elif key == "include":
                if value is not None:
                    expect(value, (list,), p, "an array")
                    for v in value:
                        if v != "item.input_audio_transcription.logprobs":
                            raise invalid(f"Invalid value in '{p}': {v!r}.", p)
                new[key] = value
            elif key == "tools":
                new[key] = expect(value, (list,), p, "an array")
            else:  # tool_choice, tracing, truncation, prompt, reasoning, parallel_tool_calls: kept, no effect
                new[key] = value
        self.data = new

    def _check(self, fn, param: str):
        if self.registry is None:
            return None
        try:
            return fn()
        except AudiolabError as exc:
            exc.param = param
            raise

    def _audio(self, audio: dict, value, param: str) -> None:
        expect(value, (dict,), param, "an object")
        _keys(value, {"input"} if self.kind == "transcription" else {"input", "output"}, param)
        if "input" in value:
            self._input(audio["input"], value["input"], f"{param}.input")
        if "output" in value:
            self._output(audio["output"], value["output"], f"{param}.output")

    def _input(self, inp: dict, value, param: str) -> None:
        expect(value, (dict,), param, "an object")
        _keys(value, {"format", "transcription", "noise_reduction", "turn_detection"}, param)
        if "format" in value:
            inp["format"] = audio_format(value["format"], f"{param}.format")
        if "noise_reduction" in value:
            nr, p = value["noise_reduction"], f"{param}.noise_reduction"
            if nr is not None:
                expect(nr, (dict,), p, "an object or null")
                _keys(nr, {"type", "strength"}, p)
                if nr.get("type") not in ("near_field", "far_field"):
                    raise invalid(f"Invalid value for '{p}.type': use 'near_field' or 'far_field'.", f"{p}.type")
            inp["noise_reduction"] = nr
        if "transcription" in value:
            inp["transcription"] = self._transcription(value["transcription"], f"{param}.transcription")
        if "turn_detection" in value:
            inp["turn_detection"] = self._turn_detection(inp["turn_detection"], value["turn_detection"],
                                                         f"{param}.turn_detection")

    def _transcription(self, value, param: str) -> dict | None:
        if value is None:
            if self.kind == "transcription":
                raise invalid(f"'{param}' cannot be null in a transcription session.", param)
            return None
        expect(value, (dict,), param, "an object or null")
        _keys(value, {"model", "language", "prompt", "delay", "keywords", "languages"}, param)
        model = value.get("model", DEFAULT_TRANSCRIPTION_MODEL)
        expect(model, (str,), f"{param}.model", "a string")
        self._check(lambda: self.registry.resolve(model, "stt"), f"{param}.model")
        for key in ("language", "prompt"):
            if value.get(key) is not None:
                expect(value[key], (str,), f"{param}.{key}", "a string")
        return {"model": model, "language": value.get("language"), "prompt": value.get("prompt") or "",
                **{k: value[k] for k in ("delay", "keywords", "languages") if k in value}}

    def _turn_detection(self, current: dict | None, value, param: str) -> dict | None:
        if value is None:
            return None
        expect(value, (dict,), param, "an object or null")
        kind = value.get("type", current["type"] if current else None)
        if kind not in ("server_vad", "semantic_vad"):
            raise invalid(f"Invalid value for '{param}.type': {kind!r}. Supported values are: 'server_vad' and "
                       "'semantic_vad' (or turn_detection null for manual commits).", f"{param}.type")
        base = _SERVER_VAD if kind == "server_vad" else _SEMANTIC_VAD
        _keys(value, set(base), param)
        out = dict(current) if current and current["type"] == kind else dict(base)
        out.update(value)
        for key in ("create_response", "interrupt_response"):
            expect(out[key], (bool,), f"{param}.{key}", "a boolean")
        if kind == "server_vad":
            _number(out, "threshold", param, 0.0, 1.0)
            _number(out, "prefix_padding_ms", param, 0, 10_000, integer=True)
            _number(out, "silence_duration_ms", param, 0, 10_000, integer=True)
            if out["idle_timeout_ms"] is not None:
                _number(out, "idle_timeout_ms", param, 5_000, 30_000, integer=True)
        elif out["eagerness"] not in SEMANTIC_SILENCE_MS:
            raise invalid(f"Invalid value for '{param}.eagerness': use 'low', 'medium', 'high' or 'auto'.",
                       f"{param}.eagerness")
        return out

    def _output(self, out: dict, value, param: str) -> None:
        expect(value, (dict,), param, "an object")
        _keys(value, {"format", "voice", "speed"}, param)
        if "format" in value:
            out["format"] = audio_format(value["format"], f"{param}.format")
        if "speed" in value:
            out["speed"] = _number(value, "speed", param, 0.25, 1.5)
        if "voice" in value:
            voice, p = value["voice"], f"{param}.voice"
            expect(voice, (str, dict), p, "a voice name or {'id': ...}")
            self._check(lambda: self.registry.voice(voice), p)
            if self.voice_locked and voice != out["voice"]:
                raise invalid("Cannot update a session's voice once the model has responded with audio.", p,
                           "cannot_update_voice")
            out["voice"] = voice

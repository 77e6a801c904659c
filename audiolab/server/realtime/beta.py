"""The beta Realtime dialect (``OpenAI-Beta: realtime=v1``), translated to and from the GA one.

Clients written for the Realtime beta (``client.beta.realtime.connect()``, old tutorials and
cookbooks) send that header and speak older names and shapes. OpenAI no longer serves the beta;
the local backend still does, by translating at the edge of the socket, so that the session
itself only knows the GA protocol:

- client events, beta -> GA: ``session.update`` with ``modalities``, ``voice``,
  ``input_audio_format``, ``output_audio_format``, ``turn_detection``,
  ``input_audio_transcription`` and ``max_response_output_tokens`` becomes the GA ``session``
  (``type: "realtime"``, ``audio.input`` / ``audio.output``); ``response.create`` likewise;
  content parts of type ``text`` (assistant messages) become ``output_text``.
- server events, GA -> beta: ``response.output_audio.delta`` is ``response.audio.delta``,
  ``response.output_audio_transcript.*`` is ``response.audio_transcript.*``,
  ``response.output_text.*`` is ``response.text.*``, ``conversation.item.added`` is
  ``conversation.item.created``; GA-only events (``conversation.item.done``) are dropped;
  session and response objects and content parts take their beta shapes.

Example:
    >>> from_beta({"type": "session.update", "session": {"modalities": ["text"], "voice": "ash"}})["session"]
    {'type': 'realtime', 'output_modalities': ['text'], 'audio': {'output': {'voice': 'ash'}}}
    >>> [e["type"] for e in to_beta({"type": "response.output_audio.delta", "delta": ""})]
    ['response.audio.delta']
"""

from __future__ import annotations

import copy

__all__ = ["BETA_HEADER", "BETA_SUBPROTOCOL", "is_beta", "from_beta", "to_beta", "EVENT_NAMES"]

#: The request header of a beta client (``OpenAI-Beta: realtime=v1``).
BETA_HEADER = ("openai-beta", "realtime=v1")

#: GA server event name -> beta name, where they differ.
EVENT_NAMES = {
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "conversation.item.added": "conversation.item.created",
}
_GA_ONLY = {"conversation.item.done"}
_FORMATS = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}
_PART_TYPES = {"output_audio": "audio", "output_text": "text"}
#: Beta config key -> (where it goes in the GA config: ``audio.in``, ``audio.out`` or the top, GA key).
_GA_KEYS = {
    "voice": ("out", "voice"),
    "speed": ("out", "speed"),
    "output_audio_format": ("out", "format"),
    "input_audio_format": ("in", "format"),
    "turn_detection": ("in", "turn_detection"),
    "input_audio_transcription": ("in", "transcription"),
    "input_audio_noise_reduction": ("in", "noise_reduction"),
    "max_response_output_tokens": ("", "max_output_tokens"),
}


#: What browsers, which cannot set headers on a WebSocket, offered as a subprotocol instead.
BETA_SUBPROTOCOL = "openai-beta.realtime-v1"


def is_beta(headers) -> bool:
    """Whether a WebSocket handshake's headers (a Starlette ``Headers``) ask for the beta dialect:
    the ``OpenAI-Beta: realtime=v1`` header, or the ``openai-beta.realtime-v1`` subprotocol.

    Example:
        >>> is_beta({"openai-beta": "realtime=v1"}), is_beta({"sec-websocket-protocol": "realtime"})
        (True, False)
    """
    values = [v.strip().lower() for v in headers.get(BETA_HEADER[0], "").split(",")]
    offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
    return BETA_HEADER[1] in values or BETA_SUBPROTOCOL in offered


# --- client events: beta -> GA -----------------------------------------------------------------
def _ga_config(beta: dict, *, session: bool) -> dict:
    """A beta session (or response) config as its GA counterpart; unknown keys pass through so
    that the session's own validation names them."""
    out = {"type": "realtime"} if session else {}
    audio_in: dict = {}
    audio_out: dict = {}
    for key, value in beta.items():
        if key == "modalities":  # beta ["text", "audio"] is GA ["audio"] (a transcript comes with it)
            if isinstance(value, list):
                value = ["audio"] if "audio" in value else ["text"]
            out["output_modalities"] = value
        elif key in _GA_KEYS:
            section, ga_key = _GA_KEYS[key]
            {"in": audio_in, "out": audio_out, "": out}[section][ga_key] = value
        elif key == "temperature":
            continue  # GA has no temperature; the beta's default sampling is what the local model does
        else:
            out[key] = value
    audio = {}
    if audio_in and session:
        audio["input"] = audio_in
    if audio_out:
        audio["output"] = audio_out
    if audio:
        out["audio"] = audio
    return out


def _ga_item(item):
    if not isinstance(item, dict) or not isinstance(item.get("content"), list):
        return item
    item = dict(item)
    if item.get("role") == "assistant":
        item["content"] = [
            {**c, "type": "output_text"} if isinstance(c, dict) and c.get("type") == "text" else c
            for c in item["content"]
        ]
    return item


def from_beta(event):
    """A beta client event as the GA event the session understands (anything else unchanged)."""
    if not isinstance(event, dict):
        return event
    etype = event.get("type")
    if etype == "session.update" and isinstance(event.get("session"), dict):
        return {**event, "session": _ga_config(event["session"], session=True)}
    if etype == "response.create" and isinstance(event.get("response"), dict):
        return {**event, "response": _ga_config(event["response"], session=False)}
    if etype == "conversation.item.create":
        return {**event, "item": _ga_item(event.get("item"))}
    return event


# --- server events: GA -> beta -----------------------------------------------------------------
def _beta_format(fmt) -> str | None:
    if isinstance(fmt, dict):
        return _FORMATS.get(fmt.get("type"))
    return fmt


def _beta_session(s: dict) -> dict:
    audio = s.get("audio") or {}
    inp, outp = audio.get("input") or {}, audio.get("output") or {}
    modalities = s.get("output_modalities") or ["audio"]
    beta = {
        "id": s.get("id"),
        "object": "realtime.session",
        "model": s.get("model"),
        "modalities": ["text", "audio"] if "audio" in modalities else ["text"],
        "instructions": s.get("instructions"),
        "voice": outp.get("voice"),
        "input_audio_format": _beta_format(inp.get("format")),
        "output_audio_format": _beta_format(outp.get("format")),
        "input_audio_transcription": inp.get("transcription"),
        "turn_detection": inp.get("turn_detection"),
        "input_audio_noise_reduction": inp.get("noise_reduction"),
        "speed": outp.get("speed"),
        "tools": s.get("tools", []),
        "tool_choice": s.get("tool_choice", "auto"),
        "max_response_output_tokens": s.get("max_output_tokens", "inf"),
        "expires_at": s.get("expires_at"),
    }
    return {
        k: v for k, v in beta.items() if v is not None or k in ("input_audio_transcription", "turn_detection")
    }


def _beta_parts(value):
    """Content parts and items with the beta part types (``audio``/``text``), recursively."""
    if isinstance(value, list):
        return [_beta_parts(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _beta_parts(v) for k, v in value.items()}
    if out.get("type") in _PART_TYPES and ("transcript" in out or "text" in out or "audio" in out):
        out["type"] = _PART_TYPES[out["type"]]
    return out


def _beta_response(r: dict) -> dict:
    r = _beta_parts(copy.deepcopy(r))
    audio = r.pop("audio", None) or {}
    outp = audio.get("output") or {}
    modalities = r.pop("output_modalities", None) or ["audio"]
    r["modalities"] = ["text", "audio"] if "audio" in modalities else ["text"]
    if outp.get("voice") is not None:
        r["voice"] = outp["voice"]
    if outp.get("format") is not None:
        r["output_audio_format"] = _beta_format(outp["format"])
    return r


def to_beta(event: dict) -> list[dict]:
    """A GA server event as the beta events a beta client expects (none for GA-only events)."""
    etype = event.get("type")
    if etype in _GA_ONLY:
        return []
    out = dict(event)
    out["type"] = EVENT_NAMES.get(etype, etype)
    if etype in ("session.created", "session.updated") and isinstance(out.get("session"), dict):
        out["session"] = _beta_session(out["session"])
    if isinstance(out.get("response"), dict):
        out["response"] = _beta_response(out["response"])
    for key in ("item", "part"):
        if isinstance(out.get(key), dict):
            out[key] = _beta_parts(out[key])
    return [out]

"""What one request and one response on the OpenAI wire say: endpoint, params, uploads, usage.

The instrumented transport (``audiolab.client.transport``) reads requests and responses through these
functions to key the cache and to fill history rows. Request headers are never read here, so
the API key cannot leak into anything built from a :class:`WireRequest`.

Example:
    >>> req = WireRequest.from_parts("POST", "/v1/audio/speech", "application/json",
    ...                              b'{"model": "tts-1", "voice": "alloy", "input": "Hi"}', base_path="/v1")
    >>> req.endpoint, req.model, req.voice
    ('audio/speech', 'tts-1', 'alloy')
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["Upload", "WireRequest", "WireResult", "parse_response", "sse_events", "audio_seconds"]

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.I)
_DISPOSITION = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
#: Request params worth a column, per endpoint family (the rest stay in the cache key only).
_KEY_PARAMS = {
    "audio/speech": ("response_format", "speed", "instructions", "stream_format"),
    "audio/transcriptions": ("response_format", "language", "prompt", "temperature", "stream",
                             "timestamp_granularities[]", "include[]", "chunking_strategy"),
    "audio/translations": ("response_format", "prompt", "temperature"),
    "chat/completions": ("modalities", "audio", "stream", "temperature", "max_tokens",
                         "max_completion_tokens"),
}


@dataclass(frozen=True)
class Upload:
    """A file sent in a multipart request: its name, type, size and hash (bytes kept, not shown)."""

    filename: str | None
    content_type: str | None
    sha256: str
    size: int
    data: bytes = field(default=b"", repr=False, compare=False)


def _short(value, limit: int = 60):
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 1] + "…"
    return value


@dataclass(frozen=True)
class WireRequest:
    """One HTTP request, read as OpenAI API parameters.

    Attributes:
        method: ``GET``, ``POST``, …
        endpoint: the path under the API root, e.g. ``audio/speech``.
        params: JSON body, multipart text fields, or query parameters.
        uploads: multipart files by field name.
        body_sha256: hash of a body that is neither JSON nor multipart (else None).
    """

    method: str
    endpoint: str
    params: Mapping
    uploads: Mapping[str, Upload] = field(default_factory=dict)
    body_sha256: str | None = None

    @classmethod
    def from_parts(cls, method: str, path: str, content_type: str | None, body: bytes, *,
                   base_path: str = "", query: Mapping | None = None) -> WireRequest:
        """Parse a request from its method, URL path, content type and body bytes."""
        base = base_path.rstrip("/")
        endpoint = path[len(base):] if base and path.startswith(base + "/") else path
        endpoint = endpoint.strip("/")
        ctype = (content_type or "").lower()
        params: dict = dict(query or {})
        uploads: dict[str, Upload] = {}
        body_hash = None
        if body:
            if "multipart/form-data" in ctype:
                fields, uploads = _parse_multipart(body, content_type or "")
                params.update(fields)
            else:
                try:
                    parsed = json.loads(body)
                except (ValueError, UnicodeDecodeError):
                    parsed = None
                if isinstance(parsed, dict):
                    params.update(parsed)
                else:
                    body_hash = hashlib.sha256(body).hexdigest()
        return cls(method.upper(), endpoint, MappingProxyType(params), MappingProxyType(uploads), body_hash)

    # --- what a row or a key needs -------------------------------------------------------
    @property
    def model(self) -> str | None:
        m = self.params.get("model")
        return m if isinstance(m, str) else None

    @property
    def voice(self) -> str | None:
        v = self.params.get("voice")
        if v is None and isinstance(self.params.get("audio"), Mapping):
            v = self.params["audio"].get("voice")
        if isinstance(v, Mapping):
            v = v.get("id")
        return v if isinstance(v, str) else None

    @property
    def stream(self) -> bool:
        s = self.params.get("stream")
        return s is True or (isinstance(s, str) and s.lower() == "true") \
            or self.params.get("stream_format") == "sse"

    @property
    def input_chars(self) -> int | None:
        text = self.params.get("input")
        return len(text) if isinstance(text, str) else None

    def key_params(self) -> dict:
        """The params worth showing in a history row (long text shortened, no file bytes)."""
        names = _KEY_PARAMS.get(self.endpoint)
        if names is None:
            names = [k for k, v in self.params.items()
                     if k not in ("model", "voice", "input", "messages") and not isinstance(v, (dict, list))]
        out = {k: _short(self.params[k]) for k in names if k in self.params}
        if self.endpoint == "chat/completions" and isinstance(self.params.get("messages"), list):
            out["n_messages"] = len(self.params["messages"])
        return out

    def canonical(self) -> str:
        """A canonical JSON text of everything that identifies the request (for the cache key)."""
        doc = {
            "method": self.method,
            "endpoint": self.endpoint,
            "params": dict(self.params),
            "uploads": {k: {"sha256": u.sha256, "size": u.size} for k, u in sorted(self.uploads.items())},
            "body_sha256": self.body_sha256,
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)

    def summary(self) -> str:
        """A one-line description for messages: ``POST audio/speech model='tts-1' voice='alloy' …``."""
        parts = [self.method, self.endpoint]
        if self.model:
            parts.append(f"model={self.model!r}")
        if self.voice:
            parts.append(f"voice={self.voice!r}")
        if self.input_chars is not None:
            parts.append(f"input={_short(self.params['input'], 40)!r} ({self.input_chars} chars)")
        for k, v in self.key_params().items():
            parts.append(f"{k}={v!r}")
        for name, up in self.uploads.items():
            parts.append(f"{name}={up.filename or 'upload'} ({up.size} bytes, sha256 {up.sha256[:12]})")
        return " ".join(parts)

    def input_audio_seconds(self) -> float:
        """Seconds of audio sent: uploaded files, or ``input_audio`` parts of chat messages."""
        total, seen = 0.0, False
        for up in self.uploads.values():
            if up.data:
                total += audio_seconds(up.data, None)
                seen = True
        for part in _input_audio_parts(self.params.get("messages")):
            try:
                data = base64.b64decode(part.get("data") or "", validate=False)
            except (binascii.Error, ValueError):
                continue
            total += audio_seconds(data, part.get("format"))
            seen = True
        return total if seen else math.nan


def _input_audio_parts(messages):
    if not isinstance(messages, list):
        return
    for msg in messages:
        content = msg.get("content") if isinstance(msg, Mapping) else None
        if isinstance(content, list):
            for part in content:
                if isinstance(part, Mapping) and part.get("type") == "input_audio":
                    audio = part.get("input_audio")
                    if isinstance(audio, Mapping):
                        yield audio


def _parse_multipart(body: bytes, content_type: str) -> tuple[dict, dict[str, Upload]]:
    m = _BOUNDARY.search(content_type)
    if not m:
        return {"_body_sha256": hashlib.sha256(body).hexdigest()}, {}
    boundary = b"--" + m.group(1).encode("latin-1")
    fields: dict = {}
    uploads: dict[str, Upload] = {}
    for part in body.split(boundary)[1:]:
        if part.startswith(b"--"):
            break
        if part.startswith(b"\r\n"):
            part = part[2:]
        head, sep, data = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        if data.endswith(b"\r\n"):
            data = data[:-2]
        name = filename = ctype = None
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            if key.strip().lower() == "content-disposition":
                attrs = dict(_DISPOSITION.findall(value))
                name, filename = attrs.get("name"), attrs.get("filename")
            elif key.strip().lower() == "content-type":
                ctype = value.strip()
        if name is None:
            continue
        if filename is not None:
            uploads[name] = Upload(filename, ctype, hashlib.sha256(data).hexdigest(), len(data), data)
            continue
        value = data.decode("utf-8", "replace")
        if name in fields:  # repeated fields (``include[]``) become lists
            prev = fields[name]
            fields[name] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            fields[name] = [value] if name.endswith("[]") else value
    return fields, uploads


def sse_events(body: bytes) -> list[dict]:
    """The JSON ``data:`` payloads of a server-sent-events body (``[DONE]`` and junk skipped)."""
    events = []
    for block in re.split(rb"\r?\n\r?\n", body):
        data = b"\n".join(line[5:].lstrip() for line in block.splitlines() if line.startswith(b"data:"))
        if not data or data.strip() == b"[DONE]":
            continue
        try:
            ev = json.loads(data)
        except ValueError:
            continue
        if isinstance(ev, dict):
            events.append(ev)
    return events


def audio_seconds(data: bytes, fmt: str | None) -> float:
    """Duration of encoded audio bytes; raw ``pcm``/``pcm16`` is 24 kHz s16le mono. NaN if undecodable.

    Small payloads are decoded (exact); large uploads are only probed (container headers), so
    measuring a 25 MB file does not cost a full decode.
    """
    if not data:
        return math.nan
    if fmt in ("pcm", "pcm16"):
        from audiolab.audio import PCM_RATE

        return len(data) / 2 / PCM_RATE
    if len(data) > _DECODE_LIMIT:
        seconds = _probe_seconds(data)
        if not math.isnan(seconds) and 0 < seconds < len(data) / 500:  # < 4 kbit/s: a bogus header
            return seconds
    from audiolab.audio import Audio
    from audiolab.errors import AudiolabError

    try:
        return Audio.from_bytes(data).duration
    except (AudiolabError, ValueError, RuntimeError, OSError):
        return math.nan


_DECODE_LIMIT = 256_000


def _probe_seconds(data: bytes) -> float:
    import io

    try:
        import av

        with av.open(io.BytesIO(data), mode="r") as container:
            if container.duration:
                return container.duration / 1_000_000
            stream = container.streams.audio[0]
            if stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
    except Exception:  # any probe failure falls back to decoding
        pass
    return math.nan


@dataclass(frozen=True)
class WireResult:
    """What a response says about the call: usage, tokens by modality, audio out, error."""

    usage: Mapping | None = None
    text_in: int | None = None
    text_out: int | None = None
    audio_in: int | None = None
    audio_out: int | None = None
    billed_seconds: float | None = None
    output_audio_s: float = math.nan
    error: str | None = None


def _b64(s) -> bytes:
    try:
        return base64.b64decode(s or "", validate=False)
    except (binascii.Error, ValueError):
        return b""


def _tokens(usage: Mapping | None, endpoint: str | None = None) -> dict:
    """Tokens by modality from any OpenAI usage object (chat, audio, realtime).

    Speech usage has no details: its input tokens are text and its output tokens are audio.
    """
    if not isinstance(usage, Mapping):
        return {}
    out: dict = {}
    if usage.get("type") == "duration":
        return {"billed_seconds": usage.get("seconds")}
    tin = usage.get("input_tokens", usage.get("prompt_tokens"))
    tout = usage.get("output_tokens", usage.get("completion_tokens"))
    din = usage.get("input_token_details") or usage.get("prompt_tokens_details") or {}
    dout = usage.get("output_token_details") or usage.get("completion_tokens_details") or {}
    a_in, a_out = din.get("audio_tokens"), dout.get("audio_tokens")
    if endpoint == "audio/speech" and not dout and isinstance(tout, int):
        a_out = tout
    t_in = din.get("text_tokens", (tin - (a_in or 0)) if isinstance(tin, int) else None)
    t_out = dout.get("text_tokens", (tout - (a_out or 0)) if isinstance(tout, int) else None)
    out.update(text_in=t_in, audio_in=a_in, text_out=t_out, audio_out=a_out)
    return {k: v for k, v in out.items() if isinstance(v, (int, float))}


def parse_response(request: WireRequest, status: int, content_type: str | None, body: bytes) -> WireResult:
    """Read usage, output audio and errors from a (decoded) response body.

    Never raises: a body it cannot read gives an empty result.
    """
    ctype = (content_type or "").lower()
    try:
        if status >= 400:
            try:
                err = json.loads(body).get("error") or {}
                message = err.get("message") if isinstance(err, Mapping) else str(err)
            except (ValueError, AttributeError):
                message = body[:200].decode("utf-8", "replace")
            return WireResult(error=f"{status}: {_short(message or '', 200)}")
        ep = request.endpoint
        fmt = request.params.get("response_format")
        if "text/event-stream" in ctype:
            return _parse_sse(request, sse_events(body))
        if ep == "audio/speech":
            return WireResult(output_audio_s=audio_seconds(body, fmt or "mp3"))
        if "json" in ctype:
            doc = json.loads(body)
            if not isinstance(doc, Mapping):
                return WireResult()
            usage = doc.get("usage")
            audio_s = math.nan
            if ep == "chat/completions":
                fmt = (request.params.get("audio") or {}).get("format") if isinstance(
                    request.params.get("audio"), Mapping) else None
                chunks = [_b64(((c.get("message") or {}).get("audio") or {}).get("data"))
                          for c in doc.get("choices") or [] if isinstance(c, Mapping)]
                data = b"".join(chunks)
                audio_s = audio_seconds(data, fmt) if data else math.nan
            return WireResult(usage=usage, output_audio_s=audio_s, **_tokens(usage, ep))
        return WireResult()
    except (ValueError, TypeError, AttributeError, KeyError):
        return WireResult()


def _parse_sse(request: WireRequest, events: list[dict]) -> WireResult:
    usage = None
    audio = bytearray()
    fmt = request.params.get("response_format")
    if request.endpoint == "chat/completions":
        fmt = "pcm16"  # streamed chat audio arrives as raw pcm16 deltas
    for ev in events:
        if isinstance(ev.get("usage"), Mapping):
            usage = ev["usage"]
        kind = ev.get("type", "")
        if kind == "speech.audio.delta":
            audio += _b64(ev.get("audio"))
        for choice in ev.get("choices") or []:
            delta = choice.get("delta") if isinstance(choice, Mapping) else None
            data = ((delta or {}).get("audio") or {}).get("data") if isinstance(delta, Mapping) else None
            if data:
                audio += _b64(data)
    out_s = audio_seconds(bytes(audio), fmt) if audio else math.nan
    if audio and math.isnan(out_s):
        out_s = audio_seconds(bytes(audio), "pcm")
    return WireResult(usage=usage, output_audio_s=out_s, **_tokens(usage, request.endpoint))

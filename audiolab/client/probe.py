"""``lab.probe()``: which parameters a backend honours, ignores or rejects, found by asking it.

OpenAI-compatible servers differ: many accept ``instructions`` and drop it, return mp3 whatever
``response_format`` says, or answer ``stream=true`` with one JSON body. The probe sends tiny
requests (a one-sentence speech, its own audio back for transcription) and compares what comes
back. Every probe call bypasses the response cache, so it always measures the live backend, and
is recorded in ``lab.history`` like any call.

Statuses: ``honoured`` (the parameter changed the response as documented), ``ignored``
(accepted, no effect), ``rejected`` (a 4xx), ``error`` (5xx or no connection) and
``inconclusive`` (a non-deterministic backend whose outputs differ anyway, with no clear effect).
Voices are compared by their bytes, so on a non-deterministic backend every voice looks distinct:
listen to be sure.

Example:
    >>> report = audiolab.connect("local").probe(features=("formats",))    # doctest: +SKIP
    >>> report.frame                                                        # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass

from audiolab.client.transport import BYPASS_HEADER

__all__ = ["probe", "ProbeResult", "ProbeReport", "FEATURES", "TTS_FORMATS", "STT_FORMATS"]

FEATURES = ("instructions", "timestamps", "streaming", "voices", "formats")
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer",
                 "verse", "marin", "cedar")
TTS_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
STT_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
_TEXT = "The quick brown fox jumps over the lazy dog."
_SLOW = "Speak very slowly, with long pauses between words."
_SNIFFED = {"mp3": "mp3", "opus": "opus", "aac": "aac", "flac": "flac", "wav": "wav"}
_BYPASS = {BYPASS_HEADER: "1"}


@dataclass(frozen=True)
class ProbeResult:
    """One finding: ``param`` on ``model`` was ``status`` (with the evidence in ``detail``)."""

    feature: str
    param: str
    model: str
    status: str
    detail: str = ""


@dataclass(frozen=True)
class ProbeReport:
    """What :func:`probe` found on one backend."""

    backend: str
    results: tuple[ProbeResult, ...]

    def status(self, param: str, model: str | None = None) -> str | None:
        """The status of ``param`` (on ``model`` if given), or None if it was not probed."""
        for r in self.results:
            if r.param == param and (model is None or r.model == model):
                return r.status
        return None

    def with_status(self, status: str) -> list[str]:
        return [r.param for r in self.results if r.status == status]

    @property
    def frame(self):
        import pandas as pd

        return pd.DataFrame([r.__dict__ for r in self.results],
                            columns=["feature", "param", "model", "status", "detail"])

    def __repr__(self) -> str:
        counts = {
            s: len(self.with_status(s)) for s in ("honoured", "ignored", "rejected", "error", "inconclusive")
        }
        return f"<ProbeReport {self.backend}: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v) + ">"

    def _repr_html_(self) -> str:
        colours = {"honoured": "#1a7f37", "ignored": "#b35900", "rejected": "#cf222e", "error": "#cf222e"}
        rows = "".join(
            f"<tr><td>{html.escape(r.feature)}</td><td><code>{html.escape(r.param)}</code></td>"
            f"<td>{html.escape(r.model)}</td><td style='color:{colours.get(r.status, '#57606a')}'>"
            f"{html.escape(r.status)}</td><td>{html.escape(r.detail)}</td></tr>" for r in self.results)
        return (f"<b>Capabilities of {html.escape(self.backend)}</b><table><tr><th>feature</th><th>param</th>"
                f"<th>model</th><th>status</th><th>detail</th></tr>{rows}</table>")


def _failure(exc: Exception) -> tuple[str, str]:
    import openai

    from audiolab.errors import CacheMiss

    if isinstance(exc, CacheMiss):
        raise exc
    if isinstance(exc, openai.APIStatusError):
        status = "rejected" if 400 <= exc.status_code < 500 else "error"
        message = getattr(exc, "message", str(exc))
        return status, f"HTTP {exc.status_code}: {str(message)[:160]}"
    return "error", f"{type(exc).__name__}: {str(exc)[:160]}"


class _Prober:
    def __init__(self, lab, *, tts_model: str, stt_model: str, stream_stt_model: str, voice: str):
        self.client = lab.client
        self.tts, self.stt, self.stream_stt, self.voice = tts_model, stt_model, stream_stt_model, voice
        self.results: list[ProbeResult] = []
        self._sample: bytes | None = None

    def add(self, feature, param, model, status, detail=""):
        self.results.append(ProbeResult(feature, param, model, status, detail))

    def speech(self, **kw) -> bytes:
        kw = {"model": self.tts, "voice": self.voice, "input": _TEXT, "response_format": "wav", **kw}
        return self.client.audio.speech.create(extra_headers=_BYPASS, **kw).content

    def sample(self) -> bytes:
        if self._sample is None:
            self._sample = self.speech()
        return self._sample

    def transcribe_raw(self, **kw):
        kw = {"model": self.stt, "file": ("probe.wav", self.sample(), "audio/wav"), **kw}
        return self.client.audio.transcriptions.with_raw_response.create(extra_headers=_BYPASS, **kw)

    # --- features ---------------------------------------------------------------------------
    def instructions(self):
        from audiolab.audio import Audio

        try:
            control = self.sample()
            slow = self.speech(instructions=_SLOW)
        except Exception as exc:  # any failure is a finding
            return self.add("instructions", "instructions", self.tts, *_failure(exc))
        if slow == control:
            return self.add(
                "instructions", "instructions", self.tts, "ignored", "audio identical with and without"
            )
        d0, d1 = Audio.from_bytes(control).duration, Audio.from_bytes(slow).duration
        again = self.speech()
        if again == control:
            return self.add("instructions", "instructions", self.tts, "honoured",
                            f"audio changed ({d0:.2f} s -> {d1:.2f} s); the backend is deterministic")
        ratio = d1 / max(d0, Audio.from_bytes(again).duration, 1e-6)
        status = "honoured" if ratio > 1.15 else "inconclusive"
        self.add(
            "instructions",
            "instructions",
            self.tts,
            status,
            f"'speak slowly' made the audio {ratio:.2f}x as long; outputs vary between identical requests",
        )

    def timestamps(self):
        try:
            raw = self.transcribe_raw(response_format="verbose_json", timestamp_granularities=["word"])
            doc = json.loads(raw.text)
        except Exception as exc:  # any failure is a finding
            return self.add("timestamps", "timestamp_granularities=word", self.stt, *_failure(exc))
        words = doc.get("words") if isinstance(doc, dict) else None
        if words:
            self.add("timestamps", "timestamp_granularities=word", self.stt, "honoured",
                     f"{len(words)} words with start/end times")
        else:
            self.add(
                "timestamps",
                "timestamp_granularities=word",
                self.stt,
                "ignored",
                "no words[] in verbose_json",
            )

    def streaming(self):
        try:
            with self.client.audio.speech.with_streaming_response.create(
                model=self.tts, voice=self.voice, input=_TEXT, stream_format="sse", extra_headers=_BYPASS
            ) as r:
                ctype, body = r.headers.get("content-type", ""), r.read()
            deltas = body.count(b"speech.audio.delta")
            if "text/event-stream" in ctype and deltas:
                self.add(
                    "streaming",
                    "stream_format=sse",
                    self.tts,
                    "honoured",
                    f"{deltas} speech.audio.delta events",
                )
            else:
                self.add(
                    "streaming", "stream_format=sse", self.tts, "ignored", f"got {ctype or 'no content type'}"
                )
        except Exception as exc:  # any failure is a finding
            self.add("streaming", "stream_format=sse", self.tts, *_failure(exc))
        try:
            with self.client.audio.transcriptions.with_streaming_response.create(
                    model=self.stream_stt, file=("probe.wav", self.sample(), "audio/wav"), stream=True,
                    extra_headers=_BYPASS) as r:
                ctype, body = r.headers.get("content-type", ""), r.read()
            deltas = body.count(b"transcript.text.delta")
            if "text/event-stream" in ctype and deltas:
                self.add("streaming", "stream=true", self.stream_stt, "honoured",
                         f"{deltas} transcript.text.delta events")
            else:
                self.add("streaming", "stream=true", self.stream_stt, "ignored",
                         f"one {ctype or 'untyped'} body instead of events")
        except Exception as exc:  # any failure is a finding
            self.add("streaming", "stream=true", self.stream_stt, *_failure(exc))

    def voices(self, voices):
        seen: dict[bytes, str] = {}
        for v in voices:
            try:
                audio = self.speech(voice=v, input="Hello.")
            except Exception as exc:  # any failure is a finding
                self.add("voices", f"voice={v}", self.tts, *_failure(exc))
                continue
            if audio in seen:
                self.add("voices", f"voice={v}", self.tts, "ignored", f"same audio as voice {seen[audio]!r}")
            else:
                seen[audio] = v
                self.add("voices", f"voice={v}", self.tts, "honoured", "distinct audio")

    def formats(self, tts_formats, stt_formats):
        from audiolab._codecs import sniff

        wav_s = None
        for fmt in (*(f for f in tts_formats if f == "wav"), *(f for f in tts_formats if f != "wav")):
            try:
                data = self.speech(input="Hello.", response_format=fmt)
            except Exception as exc:  # any failure is a finding
                self.add("formats", f"response_format={fmt}", self.tts, *_failure(exc))
                continue
            got = sniff(data)
            if fmt == "wav" and got == "wav":
                from audiolab.audio import Audio

                wav_s = Audio.from_bytes(data).duration
            ok = _looks_like_pcm(data, got, wav_s) if fmt == "pcm" else got == _SNIFFED[fmt]
            self.add("formats", f"response_format={fmt}", self.tts, "honoured" if ok else "ignored",
                     f"{len(data)} bytes of {got or 'raw/unknown'}" if fmt != "pcm" or not ok
                     else f"{len(data)} bytes of raw pcm ({len(data) / 48_000:.2f} s at 24 kHz)")
        checks = {
            "json": lambda t: isinstance(_json(t), dict) and "text" in _json(t),
            "text": lambda t: _json(t) is None and "-->" not in t,
            "srt": lambda t: "-->" in t and not t.lstrip().startswith("WEBVTT"),
            "vtt": lambda t: t.lstrip().startswith("WEBVTT"),
            "verbose_json": lambda t: isinstance(_json(t), dict) and "segments" in _json(t),
        }
        for fmt in stt_formats:
            check = checks[fmt]
            try:
                text = self.transcribe_raw(response_format=fmt).text
            except Exception as exc:  # any failure is a finding
                self.add("formats", f"response_format={fmt}", self.stt, *_failure(exc))
                continue
            self.add("formats", f"response_format={fmt}", self.stt, "honoured" if check(text) else "ignored",
                     f"{len(text)} characters: {text.strip()[:40]!r}")


def _looks_like_pcm(data: bytes, sniffed: str | None, wav_s: float | None) -> bool:
    """Raw pcm has no header; an MPEG frame sync can still appear by chance in its first bytes."""
    if len(data) % 2 or data[:1] in (b"{", b"<"):
        return False
    weak = sniffed in (None, "aac") or (sniffed == "mp3" and not data.startswith(b"ID3"))
    if not weak:
        return False
    if wav_s:  # the same words as wav: raw 24 kHz s16le must last about as long
        return abs(len(data) / 48_000 - wav_s) < 0.5 * wav_s
    return sniffed is None


def _json(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return None


def probe(lab, *, features=FEATURES, tts_model: str | None = None, stt_model: str = "whisper-1",
          stream_stt_model: str | None = None, voices=OPENAI_VOICES, voice: str = "alloy",
          tts_formats=TTS_FORMATS, stt_formats=STT_FORMATS) -> ProbeReport:
    """Send tiny requests and report which parameters the backend honours or ignores.

    Args:
        lab: a connected :class:`audiolab.Lab` (not in replay mode: the probe needs the backend).
        features: any of ``instructions``, ``timestamps``, ``streaming``, ``voices``, ``formats``.
        tts_model: the speech model (default: the catalog's pick, ``gpt-4o-mini-tts`` first).
        stt_model: the transcription model for timestamps and formats (``whisper-1`` documents both).
        stream_stt_model: the model for ``stream=true`` (whisper-1 ignores it by design; default
            the catalog's pick of a gpt-4o transcription model).
        voices: the voices to compare.
        voice: the voice of the other probes.
        tts_formats: speech ``response_format`` values to try.
        stt_formats: transcription ``response_format`` values to try.

    Returns:
        A :class:`ProbeReport`; ``report.frame`` is a DataFrame.

    Raises:
        InvalidRequest: an unknown feature.
        CacheMiss: the lab replays a cache (nothing may leave the process).
    """
    from audiolab.client.catalog import pick_model
    from audiolab.errors import CacheMiss, InvalidRequest

    if getattr(lab, "cache", None) is not None and lab.cache.mode == "replay":
        raise CacheMiss("lab.probe() asks the live backend, and this lab replays its cache: "
                        "connect with cache='off' or 'readwrite' to probe.", code="cache_miss")
    for name, given, known in (("features", features, FEATURES), ("tts_formats", tts_formats, TTS_FORMATS),
                               ("stt_formats", stt_formats, STT_FORMATS)):
        unknown = set(given) - set(known)
        if unknown:
            raise InvalidRequest(f"Unknown {name} {sorted(unknown)}; use {', '.join(known)}.", param=name)
    if tts_model is None:
        tts_model = pick_model(lab, "tts", prefer=("gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-12-15", "tts-1"))
    if stream_stt_model is None:
        stream_stt_model = pick_model(lab, "stt", prefer=("gpt-4o-mini-transcribe", "gpt-4o-transcribe",
                                                          "gpt-transcribe"))
    p = _Prober(lab, tts_model=tts_model, stt_model=stt_model, stream_stt_model=stream_stt_model, voice=voice)
    for feature in FEATURES:
        if feature in features:
            if feature == "voices":
                p.voices(voices)
            elif feature == "formats":
                p.formats(tts_formats, stt_formats)
            else:
                getattr(p, feature)()
    return ProbeReport(lab.backend, tuple(p.results))

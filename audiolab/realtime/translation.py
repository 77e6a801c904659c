"""Live translation from the client side: stream a clip into a Realtime translation session and
keep what came back, with the time each piece arrived.

:func:`translate_live` opens ``client.realtime.translations.connect()``, streams the clip in
200 ms chunks (in real time with ``pace=1``, as a microphone would), then ``session.close``, and
returns a :class:`TranslationRun`: the two transcripts, the translated speech, every delta with
its arrival time (``t = 0`` is the first audio chunk sent) and the delay to the first
translated text. :meth:`TranslationRun.plot` draws the two transcripts on a timeline under the
input waveform.

Example:
    >>> run = TranslationRun(deltas=(TranslationDelta(1.8, "output", "Good"),), output=None,
    ...                      input_audio=None, language="en")
    >>> run.output_transcript, run.first_output_s
    ('Good', 1.8)
"""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass

import numpy as np

from audiolab.audio import PCM_RATE, Audio, float_to_pcm16, pcm16_to_float

__all__ = ["TranslationDelta", "TranslationRun", "translate_live", "MODEL"]

MODEL = "gpt-realtime-translate"
_KIND = {"session.input_transcript.delta": "input", "session.output_transcript.delta": "output"}


@dataclass(frozen=True)
class TranslationDelta:
    """One transcript delta: arrival time ``t`` (s since the first audio sent), ``stream`` and text."""

    t: float
    stream: str  # "input" (what was said) or "output" (the translation)
    text: str


@dataclass(frozen=True)
class TranslationRun:
    """What a live translation returned (see :func:`translate_live`)."""

    deltas: tuple[TranslationDelta, ...]
    output: Audio | None  # the translated speech
    input_audio: Audio | None
    language: str
    errors: tuple[dict, ...] = ()
    first_audio_s: float | None = None  # first translated audio, s after the first audio sent

    def _text(self, stream: str) -> str:
        return "".join(d.text for d in self.deltas if d.stream == stream).strip()

    @property
    def input_transcript(self) -> str:
        return self._text("input")

    @property
    def output_transcript(self) -> str:
        return self._text("output")

    @property
    def first_output_s(self) -> float | None:
        """Delay from the first audio sent to the first translated text."""
        return next((d.t for d in self.deltas if d.stream == "output"), None)

    def to_frame(self):
        """The deltas as a table (``t``, ``stream``, ``text``)."""
        import pandas as pd

        return pd.DataFrame([{"t": round(d.t, 2), "stream": d.stream, "text": d.text} for d in self.deltas])

    def plot(self, *, ax=None):
        """The input waveform with each transcript delta placed at the time it arrived; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(11, 3.2), layout="constrained")
        if self.input_audio is not None:
            x = self.input_audio.to_mono().samples
            t = np.arange(x.size) / self.input_audio.sr
            ax.plot(t, 0.4 * x / (np.abs(x).max() or 1.0) + 2.0, color="0.6", lw=0.5)
        rows = {"input": (1.0, "tab:blue", "said"), "output": (0.0, "tab:orange", "translated")}
        for d in self.deltas:
            y, color, _ = rows[d.stream]
            ax.plot([d.t], [y], "|", color=color, ms=14)
            ax.annotate(d.text.strip()[:40], (d.t, y), xytext=(2, 6), textcoords="offset points", fontsize=7,
                        rotation=20, color=color)
        if self.first_output_s is not None:
            ax.axvline(self.first_output_s, color="tab:red", ls="--", lw=1)
            ax.annotate(f"first translation {self.first_output_s:.1f} s", (self.first_output_s, -0.45),
                        fontsize=8, color="tab:red")
        ax.set_yticks([2.0, 1.0, 0.0], ["input audio", rows["input"][2], rows["output"][2]])
        ax.set_ylim(-0.6, 2.6)
        ax.set_xlabel("seconds since the first audio chunk was sent")
        return ax


def translate_live(lab, audio: Audio, *, language: str = "en", pace: float = 1.0, chunk_ms: int = 200,
                   transcription_model: str | None = "gpt-realtime-whisper", model: str = MODEL,
                   timeout: float = 120.0) -> TranslationRun:
    """Translate ``audio`` through a Realtime translation session and time what comes back.

    Args:
        lab: an :func:`audiolab.connect` lab.
        audio: the speech to translate (any rate; sent as 24 kHz PCM16).
        language: the output language (``en``; locally also ``es``, ``fr``, ``de``).
        pace: 1.0 sends in real time; 0 as fast as possible.
        chunk_ms: audio per ``session.input_audio_buffer.append`` (OpenAI advises 200 ms).
        transcription_model: also transcribe what was said (``None``: translation only).
        timeout: seconds to wait for ``session.closed`` after the last chunk.

    Raises:
        TimeoutError: the session did not close in time.
    """
    pcm = float_to_pcm16(audio.to_mono().resample(PCM_RATE).samples).astype("<i2").tobytes()
    step = PCM_RATE * chunk_ms // 1000 * 2
    deltas, speech, errors, first_audio = [], [], [], []
    t0 = [None]
    closed = threading.Event()
    with lab.client.realtime.translations.connect(model=model) as conn:

        def receive():
            try:
                for ev in conn:
                    t = time.perf_counter() - t0[0] if t0[0] is not None else 0.0
                    if ev.type in _KIND:
                        deltas.append(TranslationDelta(t, _KIND[ev.type], ev.delta))
                    elif ev.type == "session.output_audio.delta":
                        first_audio[:1] = first_audio[:1] or [t]
                        speech.append(base64.b64decode(ev.delta))
                    elif ev.type == "error":
                        errors.append(ev.error.model_dump())
                    elif ev.type == "session.closed":
                        break
            finally:
                closed.set()

        transcription = {"model": transcription_model} if transcription_model else None
        conn.send({"type": "session.update", "session": {"audio": {"input": {"transcription": transcription},
                                                                   "output": {"language": language}}}})
        reader = threading.Thread(target=receive, daemon=True)
        reader.start()
        t0[0] = time.perf_counter()
        for i in range(0, len(pcm), step):
            conn.send({"type": "session.input_audio_buffer.append",
                       "audio": base64.b64encode(pcm[i:i + step]).decode()})
            wait = t0[0] + pace * (i + step) / 2 / PCM_RATE - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        conn.send({"type": "session.close"})
        if not closed.wait(timeout):
            raise TimeoutError(f"The translation session did not close within {timeout:.0f} s.")
    samples = np.frombuffer(b"".join(speech), dtype="<i2")
    output = Audio.from_array(pcm16_to_float(samples), PCM_RATE) if samples.size else None
    return TranslationRun(deltas=tuple(deltas), output=output, input_audio=audio, language=language,
                          errors=tuple(errors), first_audio_s=first_audio[0] if first_audio else None)

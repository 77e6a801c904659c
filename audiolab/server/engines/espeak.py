"""eSpeak NG formant synthesis, through ctypes on the library shipped by ``espeakng-loader``.

No system package is needed: ``espeakng-loader`` ships ``libespeak-ng`` and its data (over 100
languages), and this module drives it in synchronous mode with a sample callback. The library
keeps global state, so calls are serialised with a lock; each sentence takes a few milliseconds.

Voices are eSpeak voice names from the registry's voice table (``en-us``, ``fr``, ``en+m3``...,
``+variant`` picks a speaker variant). A name is validated by the library itself
(``espeak_SetVoiceByName``): an unknown one is an error, never a path.

How a :class:`~audiolab.server.registry.VoiceSpec` and a :class:`ProsodyRequest` become sound:

- **rate**, **speed**: words per minute (175 × voice × prosody × speed), natively between
  :data:`MIN_WPM` and :data:`MAX_WPM`; what is beyond is done by PSOLA time-stretching.
- **pitch**: the pitch parameter (50 = voice default, about +66.7 per octave, measured).
- **pitch range**: the range parameter (50 × factor, 0-100).
- **breathy**: the voice's ``whisper`` variant (``whisperf`` for female variants).
- **volume**, **pauses**: :func:`prosody.finish_sentence`.

Example:
    >>> from audiolab.server.engines.espeak import EspeakEngine
    >>> from audiolab.server.registry import VOICES
    >>> eng = EspeakEngine()                                             # doctest: +SKIP
    >>> clip = next(eng.synthesize("Bonjour.", voice=VOICES["espeak-fr"]))  # doctest: +SKIP
"""

from __future__ import annotations

import ctypes
import math
import re
import threading
from collections.abc import Iterator
from functools import lru_cache

import numpy as np

from audiolab.audio import Audio, pcm16_to_float
from audiolab.errors import EngineFailure, EngineUnavailable
from audiolab.server import text_pieces
from audiolab.server.engines import NEUTRAL_PROSODY, ProsodyRequest
from audiolab.server.engines import prosody as P

__all__ = ["EspeakEngine", "available", "DEFAULT_WPM", "MIN_WPM", "MAX_WPM"]

DEFAULT_WPM = 175
MIN_WPM = 120  # below this eSpeak stops slowing down proportionally (measured)
MAX_WPM = 900
_PITCH_PER_OCTAVE = 66.7  # pitch parameter units per doubling of F0 (measured on en-us)

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_VOICE_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}(\+[A-Za-z0-9_-]{1,40})?")

_lib_lock = threading.Lock()  # the library is a process-wide singleton, not thread-safe


def _paths() -> tuple[str, str]:
    import espeakng_loader

    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


def available() -> bool:
    """Whether eSpeak NG can run here (the ``espeakng-loader`` package with its library and data)."""
    try:
        _library()
    except EngineUnavailable:
        return False
    return True


@lru_cache(maxsize=1)
def _library():
    """Load and initialise libespeak-ng once per process; returns (lib, sample_rate, holder)."""
    try:
        lib_path, data_path = _paths()
        lib = ctypes.CDLL(lib_path)
    except (ImportError, OSError, RuntimeError) as exc:
        raise EngineUnavailable(f"eSpeak NG is not available ({exc}): pip install espeakng-loader "
                                "(or run `make lab`).", package="espeakng-loader") from exc
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                 ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    sr = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), _INITIALIZE_DONT_EXIT)
    if sr <= 0:
        raise EngineUnavailable(f"eSpeak NG failed to initialise with data at {data_path}.",
                                package="espeakng-loader")
    holder: dict = {"chunks": None}

    def on_samples(wav, n, events):
        if n > 0 and holder["chunks"] is not None:
            holder["chunks"].append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    callback = _CALLBACK(on_samples)
    holder["callback"] = callback  # keep a reference: the library calls it later
    lib.espeak_SetSynthCallback(callback)
    return lib, int(sr), holder


def _whisper_variant(name: str) -> str:
    base, _, variant = name.partition("+")
    return f"{base}+{'whisperf' if variant.startswith('f') else 'whisper'}"


class EspeakEngine:
    """Text to speech with eSpeak NG, any of its languages.

    Args:
        settings: the server settings (unused; part of the engine constructor contract).

    Raises:
        EngineUnavailable: ``espeakng-loader`` (library or data) is missing.
    """

    name = "espeak"

    def __init__(self, settings=None):
        self._lib, self.sample_rate, self._holder = _library()

    def _synth(self, text: str, *, voice_name: str, wpm: int, pitch: int, range_: int) -> np.ndarray:
        if not _VOICE_NAME.fullmatch(voice_name):
            raise EngineFailure(f"Invalid eSpeak voice name {voice_name!r} in the voice table.")
        data = text.encode("utf-8")
        with _lib_lock:
            if self._lib.espeak_SetVoiceByName(voice_name.encode()) != 0:
                raise EngineFailure(f"eSpeak NG has no voice {voice_name!r} (check the voice table).")
            for param, value in ((_RATE, wpm), (_PITCH, pitch), (_RANGE, range_), (_VOLUME, 100)):
                self._lib.espeak_SetParameter(param, int(value), 0)
            self._holder["chunks"] = chunks = []
            try:
                err = self._lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
                self._lib.espeak_Synchronize()
            finally:
                self._holder["chunks"] = None
        if err != 0:
            raise EngineFailure(f"eSpeak NG failed on {text[:40]!r} (error {err}).")
        if not chunks:
            return np.zeros(0, np.float32)
        return pcm16_to_float(np.concatenate(chunks))

    def synthesize_sentence(self, text: str, *, voice, speed: float = 1.0,
                            prosody: ProsodyRequest = NEUTRAL_PROSODY,
                            gap_s: float = 0.0) -> np.ndarray:
        """One sentence as float32 samples at :attr:`sample_rate`, prosody applied."""
        params = dict(getattr(voice, "params", {}) or {})
        name = str(params.get("voice", "en-us"))
        if prosody.breathy:
            name = _whisper_variant(name)
        want = DEFAULT_WPM * float(voice.rate) * prosody.rate * speed
        wpm = min(max(want, MIN_WPM), MAX_WPM)
        pitch = 50 + _PITCH_PER_OCTAVE * math.log2(float(voice.pitch) * prosody.pitch)
        range_ = 50 * prosody.pitch_range * float(params.get("range", 1.0))
        x = self._synth(text, voice_name=name, wpm=round(wpm), pitch=round(min(max(pitch, 0), 100)),
                        range_=round(min(max(range_, 0), 100)))
        if x.size == 0:
            return P.silence(self.sample_rate, 0.1)
        return P.finish_sentence(x, self.sample_rate, prosody=prosody, speed=speed, stretch=wpm / want,
                                 gap_s=gap_s)

    def synthesize(self, text: str, *, voice, speed: float = 1.0,
                   prosody: ProsodyRequest = NEUTRAL_PROSODY) -> Iterator[Audio]:
        """Yield one :class:`Audio` per sentence of ``text``, in order, each as soon as it is ready.

        A long first sentence comes as two pieces (a phrase, then the rest), so that the first
        audio is ready sooner; see :func:`~audiolab.server.text_pieces.split_pieces`.

        Args:
            text: what to say, in the voice's language.
            voice: a :class:`~audiolab.server.registry.VoiceSpec` whose ``params["voice"]`` is an
                eSpeak voice name (``"fr"``, ``"en-us+f3"``).
            speed: duration factor as in OpenAI's API: 2.0 takes half as long.
            prosody: rate, pitch, volume, pauses, pitch range, breathiness.
        """
        for i, sentence, gap in text_pieces.pieces(text):
            samples = self.synthesize_sentence(text_pieces.speakable(sentence), voice=voice, speed=speed,
                                               prosody=prosody, gap_s=gap)
            yield Audio.from_array(samples, self.sample_rate, source=f"espeak:{voice.params.get('voice', 'en-us')}",
                                   text=sentence, meta={"engine": "espeak", "voice": voice.id, "sentence": i})

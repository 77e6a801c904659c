"""Controlled degradations for robustness curves: additive noise at a set SNR, speed, codecs.

* **Noise**: ``y = x + a·n`` with ``a = sqrt(P_x / (P_n · 10^(SNR/10)))``, where ``P`` is the
  mean power (mean of squared samples) over the whole clip. Then ``10·log10(P_x / P_{a·n})`` is
  exactly the asked SNR. White (Gaussian), pink (1/f power, shaped in the frequency domain) and
  babble (several overlapping stretches of the bundled *real* speech recordings, summed at equal
  level) noise, all seeded. The usual grid is :data:`SNR_GRID`: clean, 30, 20, 10, 5, 0 dB.
  Nothing is clipped: at low SNR samples may exceed ±1 (a wav upload then clips them).
* **Speed**: ``mode="resample"`` plays the clip faster or slower (pitch moves with it), like a
  tape; ``mode="tempo"`` keeps the pitch (phase vocoder, ``librosa.effects.time_stretch``).
* **Codecs**: an encode/decode round trip through FFmpeg (PyAV): ``mp3_32k``, ``mp3_64k``,
  ``opus_8k``, ``opus_16k`` and ``mulaw_8k`` (G.711 telephone: 8 kHz, 8-bit μ-law). The result
  is resampled back to the clip's rate and length, so only the codec's damage remains.

A :class:`Condition` names one of these with its parameters; :func:`conditions` builds grids for
:func:`audiolab.eval.runner.evaluate`.

Example:
    >>> from audiolab.eval.datasets import real_speech
    >>> clip = real_speech()[0].audio
    >>> noisy = add_noise(clip, snr_db=10, kind="pink")
    >>> round(measure_snr(clip, noisy), 1)
    10.0
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audiolab.audio import Audio, float_to_pcm16
from audiolab.errors import InvalidRequest

__all__ = [
    "SNR_GRID",
    "NOISE_KINDS",
    "CODECS",
    "add_noise",
    "measure_snr",
    "make_noise",
    "change_speed",
    "codec",
    "encode_codec",
    "Condition",
    "CLEAN",
    "conditions",
    "noise_conditions",
    "speed_conditions",
    "codec_conditions",
]

#: Clean (``None``) then 30, 20, 10, 5 and 0 dB.
SNR_GRID = (None, 30, 20, 10, 5, 0)
NOISE_KINDS = ("white", "pink", "babble")
#: name -> (format, bits per second, encoding sample rate)
CODECS: Mapping[str, tuple[str, int, int]] = {
    "mp3_32k": ("mp3", 32_000, 24_000),
    "mp3_64k": ("mp3", 64_000, 48_000),
    "opus_8k": ("opus", 8_000, 16_000),
    "opus_16k": ("opus", 16_000, 16_000),
    "mulaw_8k": ("mulaw", 64_000, 8_000),
}
BABBLE_TALKERS = 6
_BABBLE_RECORDINGS = ("two_cities.wav", "beckett.wav")


def _power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spec = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.arange(n // 2 + 1, dtype=float)
    f[0] = 1.0
    return np.fft.irfft(spec / np.sqrt(f), n)


@functools.lru_cache(maxsize=4)
def _babble_pool(sr: int) -> tuple[np.ndarray, ...]:
    from audiolab.eval.datasets import moonshine_asset

    return tuple(Audio.from_file(moonshine_asset(name)).to_mono().resample(sr).samples
                 for name in _BABBLE_RECORDINGS)


def _babble(n: int, sr: int, rng: np.random.Generator, sources: Sequence[Audio] | None) -> np.ndarray:
    pool = _babble_pool(sr) if sources is None else tuple(s.to_mono().resample(sr).samples for s in sources)
    out = np.zeros(n)
    for k in range(BABBLE_TALKERS):
        src = pool[k % len(pool)]
        start = int(rng.integers(0, len(src)))
        seg = np.resize(np.roll(src, -start), n).astype(np.float64)  # loops when the source is short
        p = _power(seg)
        out += seg / np.sqrt(p) if p > 0 else seg
    return out


def make_noise(n: int, *, kind: str = "white", sr: int = 16_000, seed: int = 0,
               babble_sources: Sequence[Audio] | None = None) -> np.ndarray:
    """``n`` samples of white, pink or babble noise (float64, not scaled).

    Raises:
        InvalidRequest: unknown ``kind``.
    """
    rng = np.random.default_rng(seed)
    if kind == "white":
        return rng.standard_normal(n)
    if kind == "pink":
        return _pink(n, rng)
    if kind == "babble":
        return _babble(n, sr, rng, babble_sources)
    raise InvalidRequest(
        f"Unknown noise kind {kind!r}; choose one of {', '.join(NOISE_KINDS)}.", param="kind"
    )


def add_noise(audio: Audio, *, snr_db: float | None, kind: str = "white", seed: int = 0,
              babble_sources: Sequence[Audio] | None = None) -> Audio:
    """Add noise at a signal-to-noise ratio: ``y = x + a·n``, ``a = sqrt(P_x / (P_n·10^(snr_db/10)))``.

    ``P`` is mean power over the whole clip (pauses included). Every channel gets its own
    noise. ``snr_db=None`` returns the clip unchanged (the "clean" point of a grid).

    Args:
        audio: the clean clip.
        snr_db: target SNR in dB, or ``None``.
        kind: ``"white"``, ``"pink"`` or ``"babble"`` (real speech of the bundled recordings,
            or of ``babble_sources``).
        seed: noise seed; the same seed gives the same noise.

    Raises:
        InvalidRequest: unknown kind, or a silent clip (its SNR is undefined).

    Example:
        >>> clip = real_speech()[0].audio                 # doctest: +SKIP
        >>> add_noise(clip, snr_db=0, kind="babble").meta["snr_db"]   # doctest: +SKIP
        0
    """
    if snr_db is None:
        return audio
    x = np.asarray(audio.samples, dtype=np.float64)
    px = _power(x)
    if px == 0.0:
        raise InvalidRequest("Cannot set an SNR on a silent clip (signal power is 0).", param="audio")
    cols = [
        make_noise(audio.num_samples, kind=kind, sr=audio.sr, seed=seed + c, babble_sources=babble_sources)
        for c in range(audio.channels)
    ]
    n = cols[0] if audio.channels == 1 else np.stack(cols, axis=1)
    a = np.sqrt(px / (_power(n) * 10.0 ** (snr_db / 10.0)))
    return audio.replace(samples=(x + a * n).astype(np.float32)).with_meta(
        noise=kind, snr_db=snr_db, noise_seed=seed
    )


def measure_snr(clean: Audio, noisy: Audio) -> float:
    """SNR in dB of ``noisy`` against ``clean`` (same length and rate): ``10·log10(P_x / P_{y-x})``."""
    x = np.asarray(clean.samples, np.float64)
    y = np.asarray(noisy.samples, np.float64)
    if x.shape != y.shape:
        raise InvalidRequest(f"clips differ in shape: {x.shape} vs {y.shape}", param="noisy")
    pn = _power(y - x)
    return float("inf") if pn == 0 else float(10 * np.log10(_power(x) / pn))


def change_speed(audio: Audio, factor: float, *, mode: str = "resample") -> Audio:
    """Speed a clip up (``factor > 1``) or slow it down; the duration becomes ``duration / factor``.

    Args:
        factor: speed ratio, 0.25..4.
        mode: ``"resample"`` (pitch follows, like a tape) or ``"tempo"`` (pitch kept, via
            ``librosa.effects.time_stretch``, imported on first use).

    Example:
        >>> clip = real_speech()[0].audio                                  # doctest: +SKIP
        >>> round(change_speed(clip, 1.25, mode="tempo").duration / clip.duration, 2)  # doctest: +SKIP
        0.8
    """
    if not isinstance(factor, (int, float)) or not 0.25 <= factor <= 4.0:
        raise InvalidRequest(f"speed factor must be between 0.25 and 4, got {factor!r}.", param="factor")
    if factor == 1.0:
        return audio
    x = audio.samples
    if mode == "resample":
        import soxr

        y = soxr.resample(x, audio.sr * factor, audio.sr)
    elif mode == "tempo":
        import librosa

        y = librosa.effects.time_stretch(np.ascontiguousarray(x.T), rate=factor).T
    else:
        raise InvalidRequest(f"mode must be 'resample' or 'tempo', got {mode!r}.", param="mode")
    return audio.replace(samples=np.ascontiguousarray(y, dtype=np.float32)).with_meta(
        speed=factor, speed_mode=mode
    )


def _mulaw_wav(clip: Audio) -> bytes:
    import io

    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="wav") as out:
        stream = out.add_stream("pcm_mulaw", rate=clip.sr, layout="mono")
        frame = av.AudioFrame.from_ndarray(float_to_pcm16(clip.samples).reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = clip.sr
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


def encode_codec(audio: Audio, name: str) -> bytes:
    """The encoded file (mp3, Ogg/Opus, or μ-law wav) that :func:`codec` decodes again.

    Raises:
        InvalidRequest: unknown codec name.
    """
    if name not in CODECS:
        raise InvalidRequest(f"Unknown codec {name!r}; choose one of {', '.join(CODECS)}.", param="name")
    fmt, bitrate, rate = CODECS[name]
    mono = audio.to_mono()
    low = mono.resample(min(rate, mono.sr) if fmt == "mp3" else rate)
    return _mulaw_wav(low) if fmt == "mulaw" else low.encode(fmt, bitrate=bitrate)


def codec(audio: Audio, name: str) -> Audio:
    """Round-trip a clip through a lossy codec and back to its own rate and length.

    Args:
        name: one of :data:`CODECS`: ``mp3_32k``, ``mp3_64k``, ``opus_8k``, ``opus_16k``,
            ``mulaw_8k``.

    Returns:
        The decoded clip, mono, with ``meta["codec"]`` and ``meta["codec_bytes"]`` (encoded size).

    Example:
        >>> clip = real_speech()[0].audio            # doctest: +SKIP
        >>> codec(clip, "opus_8k").meta["codec_bytes"] < 6000   # doctest: +SKIP
        True
    """
    data = encode_codec(audio, name)
    mono = audio.to_mono()
    back = Audio.from_bytes(data).to_mono().resample(audio.sr).samples
    n = mono.num_samples
    y = back[:n] if len(back) >= n else np.pad(back, (0, n - len(back)))
    return mono.replace(samples=y).with_meta(codec=name, codec_bytes=len(data), codec_bitrate=CODECS[name][1])


@dataclass(frozen=True)
class Condition:
    """A named degradation: ``fn(audio, **params)``; ``fn=None`` is the clean condition.

    ``key`` is a stable string (name plus sorted parameters) that the runner's cache uses.

    Example:
        >>> Condition("white@10dB", add_noise, {"snr_db": 10, "kind": "white", "seed": 0}).key
        'white@10dB|{"kind": "white", "seed": 0, "snr_db": 10}'
    """

    name: str
    fn: Callable[..., Audio] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, audio: Audio) -> Audio:
        return audio if self.fn is None else self.fn(audio, **self.params)

    @property
    def key(self) -> str:
        return f"{self.name}|{json.dumps(dict(self.params), sort_keys=True, default=str)}"


CLEAN = Condition("clean")


def noise_conditions(kinds: Sequence[str] = ("white",), snrs: Sequence[float | None] = SNR_GRID, *,
                     seed: int = 0) -> list[Condition]:
    """``clean`` (if ``None`` is in ``snrs``) then one condition per noise kind and SNR, e.g. ``pink@5dB``."""
    out = [CLEAN] if None in snrs else []
    for kind in kinds:
        if kind not in NOISE_KINDS:
            raise InvalidRequest(f"Unknown noise kind {kind!r}.", param="kinds")
        out += [Condition(f"{kind}@{s:g}dB", add_noise, {"snr_db": s, "kind": kind, "seed": seed})
                for s in snrs if s is not None]
    return out


def speed_conditions(factors: Sequence[float] = (0.8, 1.25), *, mode: str = "tempo") -> list[Condition]:
    """One condition per speed factor, e.g. ``tempo×1.25``."""
    return [Condition(f"{mode}×{f:g}", change_speed, {"factor": f, "mode": mode}) for f in factors]


def codec_conditions(names: Sequence[str] = tuple(CODECS)) -> list[Condition]:
    """One condition per codec name, e.g. ``opus_8k``."""
    unknown = [n for n in names if n not in CODECS]
    if unknown:
        raise InvalidRequest(f"Unknown codec(s) {', '.join(unknown)}; choose from {', '.join(CODECS)}.",
                             param="codecs")
    return [Condition(n, codec, {"name": n}) for n in names]


def conditions(*, noise: Sequence[str] = ("white",), snrs: Sequence[float | None] = SNR_GRID,
               speeds: Sequence[float] = (), speed_mode: str = "tempo", codecs: Sequence[str] = (),
               seed: int = 0) -> list[Condition]:
    """A grid of conditions: clean once, then noise × SNR, speeds and codecs.

    Example:
        >>> [c.name for c in conditions(noise=("white",), snrs=(None, 10), codecs=("mp3_32k",))]
        ['clean', 'white@10dB', 'mp3_32k']
    """
    out = noise_conditions(noise, snrs, seed=seed) if noise else []
    if CLEAN not in out:
        out.insert(0, CLEAN)
    return out + speed_conditions(speeds, mode=speed_mode) + codec_conditions(codecs)

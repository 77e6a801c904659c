"""The one audio value type of the kit: :class:`Audio`.

An :class:`Audio` is an immutable pair of float32 samples and a sample rate, plus what the kit
knows about where it came from (``source``), what is said in it (``text``) and free ``meta``.
Every layer passes it around: widgets return it, engines take and yield it, metrics read it.

It decodes every format the OpenAI audio endpoints return (mp3, opus, aac, flac, wav, raw 24 kHz
``pcm``) and what browsers and phones record (webm, ogg, m4a/mp4), and encodes back to the six
OpenAI formats. soundfile handles wav/flac/ogg-vorbis, PyAV (FFmpeg) everything else, soxr
resamples. Those three load lazily, on first use.

Example:
    >>> from audiolab.audio import Audio
    >>> clip = Audio.from_file("two_cities.wav")          # doctest: +SKIP
    >>> clip.duration, clip.sr, clip.channels              # doctest: +SKIP
    (44.374, 48000, 1)
    >>> mp3 = clip.slice(0, 3).encode("mp3")               # doctest: +SKIP
    >>> Audio.from_bytes(mp3).sr                           # doctest: +SKIP
    48000
"""

from __future__ import annotations

import base64
import dataclasses
import html
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from audiolab import _codecs
from audiolab._codecs import ENCODE_FORMATS, MAX_CHANNELS, sniff
from audiolab.errors import InvalidRequest

__all__ = ["Audio", "sniff", "ENCODE_FORMATS", "PCM_RATE", "float_to_pcm16", "pcm16_to_float"]

#: Sample rate of OpenAI's raw 16-bit audio, in every API that sends or takes it: speech
#: ``response_format="pcm"``, Chat Completions ``pcm16`` and the Realtime API's ``audio/pcm``.
PCM_RATE = 24_000


def float_to_pcm16(samples: Any) -> np.ndarray:
    """Float samples in [-1, 1] as int16: scaled by 32768, rounded, clipped to the int16 range.

    The inverse of :func:`pcm16_to_float`: int16 -> float -> int16 gives back the same samples.

    Example:
        >>> float_to_pcm16(np.array([0.0, 0.5, -1.0, 1.0, -0.00002, 2.0])).tolist()
        [0, 16384, -32768, 32767, -1, 32767]
    """
    return np.clip(np.round(np.asarray(samples, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def pcm16_to_float(pcm: Any) -> np.ndarray:
    """int16 samples, or raw s16le bytes, as float32 in [-1, 1): divided by 32768.

    Example:
        >>> pcm16_to_float(np.array([0, 16384, -32768], dtype=np.int16)).tolist()
        [0.0, 0.5, -1.0]
        >>> pcm16_to_float(b"\\x00\\x40\\x00\\xc0").tolist()
        [0.5, -0.5]
        >>> bool((float_to_pcm16(pcm16_to_float(np.arange(-32768, 32768, 7, dtype=np.int16)))
        ...       == np.arange(-32768, 32768, 7)).all())
        True
    """
    if isinstance(pcm, bytes | bytearray | memoryview):
        pcm = np.frombuffer(pcm, dtype="<i2")
    return np.asarray(pcm, dtype=np.int16).astype(np.float32) / np.float32(32768.0)

_SUFFIX_FORMAT = {".mp3": "mp3", ".opus": "opus", ".ogg": "opus", ".aac": "aac", ".flac": "flac",
                  ".wav": "wav", ".pcm": "pcm", ".raw": "pcm"}
_HTML_MAX_SECONDS = 600.0


def _readonly_float32(samples: Any) -> np.ndarray:
    """A float32 read-only array nobody else can write to, converting integer PCM to [-1, 1)."""
    arr = np.asarray(samples)
    if arr.dtype == np.float32 and not arr.flags.writeable and _base_is_frozen(arr):
        return arr  # already ours (a slice of another Audio, say): no copy
    if arr.dtype.kind == "f":
        out = arr.astype(np.float32, copy=True)
    elif arr.dtype.kind == "i":
        out = (arr.astype(np.float64) / float(2 ** (8 * arr.dtype.itemsize - 1))).astype(np.float32)
    elif arr.dtype.kind == "u":
        half = 2 ** (8 * arr.dtype.itemsize - 1)
        out = ((arr.astype(np.float64) - half) / half).astype(np.float32)
    else:
        raise InvalidRequest(f"Audio samples must be float or integer PCM, got dtype {arr.dtype}.",
                             param="samples")
    out.flags.writeable = False
    return out


def _base_is_frozen(arr: np.ndarray) -> bool:
    base = arr.base
    while isinstance(base, np.ndarray):
        if base.flags.writeable:
            return False
        base = base.base
    return base is None or isinstance(base, bytes)


@dataclass(frozen=True, eq=False)
class Audio:
    """An immutable clip: float32 samples, a sample rate, and what is known about it.

    Construct with :meth:`from_file`, :meth:`from_bytes` or :meth:`from_array` (the plain
    constructor validates the same way). Derived clips (``resample``, ``slice``...) are new
    objects; the samples array is read-only, so a clip never changes once made.

    Attributes:
        samples: float32, shape ``(n,)`` for mono or ``(n, channels)`` (channels last),
            nominally in [-1, 1]. Read-only. A ``(n, 1)`` input is stored as ``(n,)``.
        sr: sample rate in Hz.
        source: where the clip came from (a path, a URL, "openai:tts-1"...), if known.
        text: what is said in it (a transcript or the text that was synthesised), if known.
        meta: free read-only metadata (model, voice, latency...).

    Example:
        >>> import numpy as np
        >>> tone = Audio.from_array(np.sin(np.arange(16000) / 5), 16000, text="a hum")
        >>> tone.duration, tone.channels, tone.samples.dtype
        (1.0, 1, dtype('float32'))
    """

    samples: np.ndarray
    sr: int
    source: str | None = None
    text: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        sr = _codecs.check_sr(self.sr)
        arr = _readonly_float32(self.samples)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim not in (1, 2):
            raise InvalidRequest(f"Audio samples must be 1-D or (n, channels), got shape {arr.shape}.",
                                 param="samples")
        if arr.ndim == 2 and not 1 <= arr.shape[1] <= MAX_CHANNELS:
            raise InvalidRequest(f"Audio samples of shape {arr.shape} have {arr.shape[1]} channels "
                                 f"(max {MAX_CHANNELS}); channels go last: pass samples.T?",
                                 param="samples")
        if arr.size and not np.isfinite(arr).all():
            raise InvalidRequest("Audio samples contain NaN or infinity.", param="samples")
        meta = self.meta if self.meta is not None else {}
        if not isinstance(meta, Mapping):
            raise InvalidRequest(f"Audio meta must be a mapping, got {type(meta).__name__}.", param="meta")
        object.__setattr__(self, "samples", arr)
        object.__setattr__(self, "sr", sr)
        object.__setattr__(self, "source", None if self.source is None else os.fspath(self.source))
        object.__setattr__(self, "meta", MappingProxyType(dict(meta)))

    # ---- constructors -------------------------------------------------------------------

    @classmethod
    def from_array(cls, samples: Any, sr: int, *, source: str | None = None, text: str | None = None,
                   meta: Mapping[str, Any] | None = None) -> Audio:
        """Wrap an array: float (kept), or int16/int32/uint8 PCM (scaled to [-1, 1)).

        The array is copied, so later changes to ``samples`` do not reach the clip.

        Raises:
            InvalidRequest: bad dtype, shape, channel count, sample rate, or NaN samples.

        Example:
            >>> import numpy as np
            >>> Audio.from_array(np.array([0, 16384, -32768], dtype=np.int16), 8000).samples
            array([ 0. ,  0.5, -1. ], dtype=float32)
        """
        return cls(samples, sr, source=source, text=text, meta=meta or {})

    @classmethod
    def from_file(cls, path: str | os.PathLike, *, text: str | None = None,
                  meta: Mapping[str, Any] | None = None) -> Audio:
        """Read and decode an audio file; a ``.pcm``/``.raw`` suffix means OpenAI's raw pcm.

        Raises:
            FileNotFoundError: no such file.
            AudioDecodeError: the file is not decodable audio.

        Example:
            >>> clip = Audio.from_file("two_cities.wav")   # doctest: +SKIP
        """
        path = Path(path)
        fmt = "pcm" if path.suffix.lower() in (".pcm", ".raw") else None
        return cls.from_bytes(path.read_bytes(), fmt, source=str(path), text=text, meta=meta)

    @classmethod
    def from_bytes(cls, data: bytes, format: str | None = None, *, sr: int | None = None,
                   source: str | None = None, text: str | None = None,
                   meta: Mapping[str, Any] | None = None, max_samples: int | None = None) -> Audio:
        """Decode an encoded file held in memory (an upload, an OpenAI response body).

        The container is sniffed from the bytes, so ``format`` is only a hint, except
        ``format="pcm"``: headerless signed 16-bit little-endian mono, at ``sr`` Hz
        (default 24000, as OpenAI sends it).

        Args:
            data: the encoded bytes.
            format: ``"pcm"`` for raw PCM; otherwise an optional hint such as ``"mp3"``.
            sr: sample rate of raw ``pcm`` data; only valid with ``format="pcm"``.
            max_samples: refuse audio that decodes to more samples (frames x channels) than
                this, checked while decoding (the server bounds uploads with it).

        Raises:
            AudioDecodeError: empty, truncated, corrupt or non-audio bytes. The message says
                how many bytes arrived and what they look like.
            InvalidRequest: an unknown ``format`` name, ``sr`` without ``format="pcm"``, or
                more than ``max_samples`` samples (code ``audio_too_long``).

        Example:
            >>> clip = Audio.from_bytes(open("speech.mp3", "rb").read())        # doctest: +SKIP
            >>> raw = Audio.from_bytes(pcm_body, "pcm")  # 24 kHz s16le mono    # doctest: +SKIP
        """
        fmt = format.lower().lstrip(".") if format else None
        if fmt is not None and fmt not in _codecs.DECODE_FORMATS:
            raise InvalidRequest(f"Unknown audio format {format!r}; expected one of "
                                 f"{', '.join(sorted(_codecs.DECODE_FORMATS))}.", param="format")
        if sr is not None and fmt != "pcm":
            raise InvalidRequest("sr= only applies to format='pcm' (other formats carry their rate).",
                                 param="sr")
        if fmt == "pcm" and sr is None:
            sr = PCM_RATE
        samples, rate = _codecs.decode(bytes(data), fmt, sr=sr, max_samples=max_samples)
        return cls(samples, rate, source=source, text=text, meta=meta or {})

    # ---- properties ---------------------------------------------------------------------

    @property
    def num_samples(self) -> int:
        """Number of sample frames (per channel)."""
        return int(self.samples.shape[0])

    @property
    def channels(self) -> int:
        """Number of channels: 1 for a ``(n,)`` array."""
        return 1 if self.samples.ndim == 1 else int(self.samples.shape[1])

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.num_samples / self.sr

    @property
    def peak(self) -> float:
        """Largest absolute sample value (0.0 for an empty clip); above 1.0 means clipping."""
        return float(np.abs(self.samples).max()) if self.samples.size else 0.0

    @property
    def rms_db(self) -> float:
        """Root-mean-square level in dB relative to full scale; ``-inf`` for silence."""
        if not self.samples.size:
            return float("-inf")
        rms = float(np.sqrt(np.mean(np.square(self.samples, dtype=np.float64))))
        return 20.0 * np.log10(rms) if rms > 0 else float("-inf")

    # ---- derived clips ------------------------------------------------------------------

    def replace(self, **changes: Any) -> Audio:
        """A copy with some fields changed, e.g. ``clip.replace(text="hello")``."""
        return dataclasses.replace(self, **changes)

    def with_meta(self, **items: Any) -> Audio:
        """A copy whose ``meta`` has ``items`` added (or overridden).

        Example:
            >>> Audio.from_array([0.0, 0.1], 8000).with_meta(voice="alloy").meta["voice"]
            'alloy'
        """
        return self.replace(meta={**self.meta, **items})

    def resample(self, sr: int, *, quality: str = "HQ") -> Audio:
        """The clip at another sample rate (soxr; ``quality`` is soxr's: QQ, LQ, MQ, HQ, VHQ).

        Example:
            >>> Audio.from_array(np.zeros(48000), 48000).resample(16000).num_samples
            16000
        """
        sr = _codecs.check_sr(sr)
        if sr == self.sr:
            return self
        if self.num_samples == 0:
            return self.replace(sr=sr)
        import soxr

        return self.replace(samples=soxr.resample(self.samples, self.sr, sr, quality=quality), sr=sr)

    def to_mono(self) -> Audio:
        """The average of the channels (the clip itself when already mono)."""
        if self.channels == 1:
            return self
        return self.replace(samples=self.samples.mean(axis=1, dtype=np.float32))

    def slice(self, start_s: float = 0.0, end_s: float | None = None) -> Audio:
        """The part between ``start_s`` and ``end_s`` seconds (clamped to the clip).

        Raises:
            InvalidRequest: ``end_s`` before ``start_s``.

        Example:
            >>> Audio.from_array(np.zeros(8000), 8000).slice(0.25, 0.5).duration
            0.25
        """
        end_s = self.duration if end_s is None else end_s
        if end_s < start_s:
            raise InvalidRequest(f"slice end {end_s} s is before its start {start_s} s.", param="end_s")
        a = min(max(int(round(start_s * self.sr)), 0), self.num_samples)
        b = min(max(int(round(end_s * self.sr)), a), self.num_samples)
        return self.replace(samples=self.samples[a:b])

    @classmethod
    def concat(cls, clips: Iterable[Audio], *, gap_s: float = 0.0) -> Audio:
        """Join clips end to end (with ``gap_s`` of silence between), at the first clip's rate.

        Texts are joined with spaces; source and meta are dropped.

        Raises:
            InvalidRequest: no clips, or clips with different channel counts.

        Example:
            >>> a = Audio.from_array(np.zeros(800), 8000, text="one")
            >>> Audio.concat([a, a], gap_s=0.1).duration, Audio.concat([a, a]).text
            (0.3, 'one one')
        """
        clips = list(clips)
        if not clips:
            raise InvalidRequest("Audio.concat needs at least one clip.", param="clips")
        sr, ch = clips[0].sr, clips[0].channels
        if any(c.channels != ch for c in clips):
            raise InvalidRequest("Audio.concat needs clips with the same number of channels; "
                                 "call .to_mono() first.", param="clips")
        gap = np.zeros((int(round(gap_s * sr)),) + clips[0].samples.shape[1:], dtype=np.float32)
        parts = []
        for i, clip in enumerate(clips):
            parts += ([gap] if i and gap.size else []) + [clip.resample(sr).samples]
        texts = [c.text for c in clips if c.text]
        return cls(np.concatenate(parts), sr, text=" ".join(texts) if texts else None)

    # ---- encoding -----------------------------------------------------------------------

    def to_pcm16(self) -> bytes:
        """Mono signed 16-bit little-endian bytes at the clip's own rate (no header)."""
        return float_to_pcm16(self.to_mono().samples).astype("<i2").tobytes()

    def to_wav_bytes(self) -> bytes:
        """A 16-bit PCM wav file, at the clip's rate and channel count."""
        return _codecs.encode_soundfile(float_to_pcm16(self.samples), self.sr, "WAV")

    def encode(self, format: str, *, sr: int | None = None, bitrate: int | None = None) -> bytes:
        """Encode to one of OpenAI's ``response_format`` values.

        ``mp3`` (libmp3lame), ``opus`` (libopus in Ogg), ``aac`` (ADTS), ``flac`` and ``wav``
        (16-bit) keep the clip's rate when the codec allows it, else use the next allowed rate
        up; ``pcm`` is raw s16le mono at 24 kHz like OpenAI's. Lossy formats carry at most two
        channels (more are mixed to mono).

        Args:
            format: one of :data:`ENCODE_FORMATS`.
            sr: output sample rate (must be one the codec accepts).
            bitrate: bits per second for mp3/opus/aac (default 64k/32k/64k per channel).

        Raises:
            InvalidRequest: unknown format, or a rate/bitrate the codec cannot take.

        Example:
            >>> body = Audio.from_array(np.zeros(24000), 24000).encode("opus")
            >>> body[:4]
            b'OggS'
        """
        fmt = format.lower().lstrip(".")
        if fmt not in ENCODE_FORMATS:
            raise InvalidRequest(f"Cannot encode to {format!r}; choose one of {', '.join(ENCODE_FORMATS)}.",
                                 param="response_format")
        if bitrate is not None and (isinstance(bitrate, bool) or not isinstance(bitrate, (int, np.integer))
                                    or bitrate <= 0):
            raise InvalidRequest(f"bitrate must be a positive number of bits/s, got {bitrate!r}.",
                                 param="bitrate")
        if fmt == "pcm":
            return self.resample(PCM_RATE if sr is None else sr).to_pcm16()
        if fmt in ("wav", "flac"):
            clip = self.resample(sr) if sr is not None else self
            return _codecs.encode_soundfile(float_to_pcm16(clip.samples), clip.sr, fmt.upper())
        _, _, rates, per_channel = _codecs.AV_ENCODERS[fmt]
        if sr is not None and sr not in rates:
            raise InvalidRequest(f"{fmt} cannot be encoded at {sr} Hz; allowed: {rates}.", param="sr")
        rate = sr or next((r for r in rates if r >= self.sr), rates[-1])
        clip = (self if self.channels <= 2 else self.to_mono()).resample(rate)
        return _codecs.encode_av(clip.samples, clip.sr, fmt, bitrate=bitrate or per_channel * clip.channels)

    def write(self, path: str | os.PathLike, *, format: str | None = None, **options: Any) -> Path:
        """Encode and save; the format comes from the suffix (.ogg means Ogg/Opus, .raw pcm).

        Returns:
            The path written.

        Example:
            >>> clip.write("out/answer.mp3")   # doctest: +SKIP
        """
        path = Path(path)
        fmt = format or _SUFFIX_FORMAT.get(path.suffix.lower())
        if fmt is None:
            raise InvalidRequest(f"Cannot tell the audio format from {path.name!r}; use a suffix "
                                 f"among {', '.join(_SUFFIX_FORMAT)} or pass format=.", param="path")
        path.write_bytes(self.encode(fmt, **options))
        return path

    # ---- display ------------------------------------------------------------------------

    def __repr__(self) -> str:
        layout = "mono" if self.channels == 1 else f"{self.channels} ch"
        extra = "".join(f", {k}={v!r}" for k, v in (("source", self.source), ("text", self.text)) if v)
        return f"Audio({self.duration:.2f} s, {self.sr} Hz, {layout}{extra})"

    def _repr_html_(self) -> str:
        """A notebook player: ``<audio controls>`` with an embedded wav, plus a caption."""
        clip, note = self.to_mono(), ""
        if self.duration > _HTML_MAX_SECONDS:
            clip = clip.slice(0, _HTML_MAX_SECONDS)
            note = f" (player holds the first {_clock(_HTML_MAX_SECONDS)} of {_clock(self.duration)})"
        # 24 kHz keeps speech intact; long clips drop to 16 kHz to keep the notebook light.
        clip = clip.resample(min(clip.sr, 24000 if clip.duration <= 120 else 16000))
        b64 = base64.b64encode(clip.to_wav_bytes()).decode("ascii")
        layout = "mono" if self.channels == 1 else f"{self.channels} channels"
        caption = f"{self.duration:.2f} s · {self.sr} Hz · {layout}{note}"
        if self.source:
            caption += f" · {html.escape(self.source)}"
        text = f'<div style="font-style:italic">{html.escape(self.text)}</div>' if self.text else ""
        return (f'<div class="audiolab-audio"><audio controls preload="metadata" '
                f'src="data:audio/wav;base64,{b64}"></audio>'
                f'<div style="font-size:smaller">{caption}</div>{text}</div>')

    def plot(self, *, ax: Any = None, **options: Any) -> Any:
        """Draw the waveform with :func:`audiolab.plots.plot_audio` (imports matplotlib)."""
        from audiolab.plots.audio import plot_audio

        return plot_audio(self, ax=ax, **options)


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"

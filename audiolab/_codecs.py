"""The byte layer under :class:`audiolab.audio.Audio`: sniff, decode and encode containers.

Private on purpose: the rest of the kit goes through ``Audio.from_bytes`` / ``Audio.encode`` and
never handles these (samples, rate) pairs. soundfile reads wav/flac/ogg-vorbis/aiff; PyAV
(FFmpeg) reads everything else and writes mp3 (libmp3lame), opus (libopus in Ogg) and aac (ADTS).
Both load lazily.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from audiolab.errors import AudioDecodeError, InvalidRequest

#: Formats ``Audio.encode`` writes: OpenAI's ``response_format`` values.
ENCODE_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
#: Names ``Audio.from_bytes`` accepts as a hint: OpenAI's upload list plus what recorders make.
DECODE_FORMATS = frozenset({"pcm", "wav", "flac", "mp3", "mpga", "mpeg", "opus", "ogg", "oga",
                            "aac", "webm", "mkv", "m4a", "mp4", "aiff"})
MAX_SAMPLE_RATE = 384_000
MAX_CHANNELS = 64

_SOUNDFILE_KINDS = {"wav", "flac", "ogg", "aiff"}
_AV_DEMUXER = {"mp3": "mp3", "aac": "aac", "opus": "ogg", "ogg": "ogg", "webm": "matroska",
               "mkv": "matroska", "m4a": "mp4", "mp4": "mp4", "mpga": "mp3", "mpeg": "mp3",
               "oga": "ogg"}
#: format -> (FFmpeg encoder, muxer, sample rates the codec takes, default bits/s per channel)
AV_ENCODERS = {
    "mp3": ("libmp3lame", "mp3", (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000), 64000),
    "opus": ("libopus", "ogg", (8000, 12000, 16000, 24000, 48000), 32000),
    "aac": ("aac", "adts", (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000,
                            64000, 88200, 96000), 64000),
}
_NOT_AUDIO = ((b"\x89PNG", "PNG image"), (b"\xff\xd8\xff", "JPEG image"), (b"GIF8", "GIF image"),
              (b"%PDF", "PDF document"), (b"PK\x03\x04", "ZIP archive"), (b"\x7fELF", "ELF binary"),
              (b"\x1f\x8b", "gzip archive"))


def sniff(data: bytes) -> str | None:
    """Guess the audio container of ``data`` from its first bytes.

    Args:
        data: the start of a file (a few dozen bytes are enough).

    Returns:
        One of ``"wav"``, ``"flac"``, ``"aiff"``, ``"opus"`` (Ogg/Opus), ``"ogg"`` (other Ogg,
        e.g. Vorbis), ``"mp3"``, ``"aac"`` (ADTS), ``"webm"``, ``"mkv"``, ``"m4a"``, ``"mp4"``,
        or ``None`` when the bytes match no known audio format. Raw ``pcm`` has no header and
        is never sniffed.

    Example:
        >>> sniff(b"RIFF\\x24\\x00\\x00\\x00WAVEfmt ")
        'wav'
        >>> sniff(b'{"error": "nope"}') is None
        True
    """
    head = bytes(data[:64])
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[:4] == b"OggS":
        return "opus" if b"OpusHead" in head else "ogg"
    if head[:3] == b"ID3":
        return "mp3"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: the DocType says webm or matroska
        return "webm" if b"webm" in head else "mkv"
    if head[4:8] == b"ftyp":
        return "m4a" if head[8:11] == b"M4A" else "mp4"
    if len(head) >= 3 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # MPEG frame sync
        layer = (head[1] >> 1) & 3
        if layer == 0:  # ADTS: 0xFFF1 (MPEG-4) or 0xFFF9 (MPEG-2)
            return "aac" if head[1] & 0xF6 == 0xF0 else None
        version, bitrate, rate = (head[1] >> 3) & 3, head[2] >> 4, (head[2] >> 2) & 3
        if version != 1 and bitrate != 15 and rate != 3:  # reserved values: not a real frame
            return "mp3"
    return None


def describe(data: bytes) -> tuple[str, bool]:
    """What ``data`` looks like, for messages, and whether it may be audio.

    Example:
        >>> describe(b"\\x89PNG\\r\\n\\x1a\\n")
        ('PNG image', False)
    """
    kind = sniff(data)
    if kind:
        return kind, True
    for magic, name in _NOT_AUDIO:
        if data.startswith(magic):
            return name, False
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP image", False
    sample = bytes(data[:512])
    for cut in (0, 1, 2, 3):  # a multi-byte character may be cut at the edge
        try:
            text = sample[:len(sample) - cut].decode("utf-8")
            break
        except UnicodeDecodeError:
            continue
    else:
        return "unknown", True
    if text and all(c.isprintable() or c in "\t\r\n" for c in text):
        first = text.lstrip()[:1]
        return {"{": "JSON text", "[": "JSON text", "<": "HTML/XML text"}.get(first, "text"), False
    return "unknown", True


def check_sr(sr: Any, *, error: Any = InvalidRequest) -> int:
    """``sr`` as an int, or ``error`` (an exception class) when it is not a sane rate."""
    number = isinstance(sr, (int, np.integer, float, np.floating)) and not isinstance(sr, (bool, np.bool_))
    if not (number and np.isfinite(sr) and sr == int(sr) and 0 < sr <= MAX_SAMPLE_RATE):
        raise error(f"Sample rate must be a whole number of Hz in 1..{MAX_SAMPLE_RATE}, got {sr!r}.",
                    param="sr")
    return int(sr)


def decode(data: bytes, fmt: str | None = None, *, sr: int | None = None,
           max_samples: int | None = None) -> tuple[np.ndarray, int]:
    """Decode ``data`` to (float32 or int16 samples, rate); ``fmt="pcm"`` means raw s16le mono.

    ``max_samples`` bounds the decoded size (frames x channels) while decoding, so that a small
    compressed file cannot expand into gigabytes (a FLAC of silence is ~700 times smaller than
    its samples).

    Raises:
        AudioDecodeError: empty, truncated, corrupt or non-audio bytes; the message gives the
            size and what the bytes look like.
        InvalidRequest: more than ``max_samples`` decoded samples (code ``audio_too_long``).
    """
    if not data:
        raise AudioDecodeError("Could not decode 0 bytes of audio: the input is empty.")
    if fmt == "pcm":
        if len(data) % 2:
            raise _error(data, "pcm", "raw 16-bit pcm needs an even number of bytes (truncated?)")
        return np.frombuffer(data, dtype="<i2"), check_sr(sr)
    kind, maybe_audio = describe(data)
    if not maybe_audio:
        raise AudioDecodeError(f"Could not decode {len(data)} bytes: this is not audio (looks like: "
                               f"{kind}). Send wav, mp3, opus, aac, flac, ogg, webm or m4a.")
    reasons: list[str] = []
    samples = None
    if kind in _SOUNDFILE_KINDS:
        try:
            samples, rate = _decode_soundfile(data, max_samples)
        except _TooLong:
            raise
        except Exception as exc:  # libsndfile refused: FFmpeg gets a try before we give up
            reasons.append(_reason(exc))
    if samples is None:
        try:
            samples, rate = _decode_av(data, _AV_DEMUXER.get(kind) or _AV_DEMUXER.get(fmt or ""), max_samples)
        except _TooLong:
            raise
        except Exception as exc:
            reasons.append(_reason(exc))
            raise _error(data, kind, "; ".join(dict.fromkeys(reasons))) from exc
    if samples.shape[0] == 0:
        raise _error(data, kind, "it holds no audio samples (truncated or empty stream?)")
    if not 0 < rate <= MAX_SAMPLE_RATE:
        raise _error(data, kind, f"its sample rate of {rate} Hz is outside 1..{MAX_SAMPLE_RATE} Hz")
    if samples.ndim == 2 and samples.shape[1] > MAX_CHANNELS:
        raise _error(data, kind, f"{samples.shape[1]} channels (max {MAX_CHANNELS})")
    return samples, rate


def encode_soundfile(int16: np.ndarray, sr: int, container: str) -> bytes:
    """16-bit ``"WAV"`` or ``"FLAC"`` bytes from int16 samples (n,) or (n, ch)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, int16, sr, format=container, subtype="PCM_16")
    return buf.getvalue()


def encode_av(samples: np.ndarray, sr: int, fmt: str, *, bitrate: int) -> bytes:
    """mp3, opus or aac bytes from float32 samples (n,) or (n, 2) at a rate the codec takes."""
    import av

    codec, muxer, _, _ = AV_ENCODERS[fmt]
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    layout = "mono" if channels == 1 else "stereo"
    packed = samples.reshape(len(samples), channels)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=muxer) as out:
        stream = out.add_stream(codec, rate=sr, layout=layout)
        stream.bit_rate = bitrate
        for i in range(0, len(packed), 8192):  # the encoder re-blocks to its own frame size
            block = np.ascontiguousarray(packed[i:i + 8192], dtype=np.float32).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(block, format="flt", layout=layout)
            frame.sample_rate = sr
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


def _error(data: bytes, kind: str, reason: str) -> AudioDecodeError:
    reason = reason.rstrip(". ")
    return AudioDecodeError(f"Could not decode {len(data)} bytes of audio (looks like: {kind}): {reason}.")


def _reason(exc: Exception) -> str:
    # FFmpeg and libsndfile errors carry a clean sentence beside a noisy str() with object reprs.
    text = getattr(exc, "strerror", None) or getattr(exc, "error_string", None) or str(exc)
    return str(text).strip().rstrip(".") or type(exc).__name__


class _TooLong(InvalidRequest):
    def __init__(self, limit: int):
        super().__init__(
            f"The audio decodes to more than {limit} samples (frames x channels), more than this "
            "server accepts in one request. Send a shorter clip, or split it.",
            param="file",
            code="audio_too_long",
        )


def _decode_soundfile(data: bytes, max_samples: int | None = None) -> tuple[np.ndarray, int]:
    import soundfile as sf

    if max_samples is None:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
        return samples, int(rate)
    with sf.SoundFile(io.BytesIO(data)) as fh:
        limit = max_samples // max(fh.channels, 1)
        samples = fh.read(frames=limit + 1, dtype="float32", always_2d=False)  # allocates <= limit + 1 frames
        if samples.shape[0] > limit:
            raise _TooLong(max_samples)
        return samples, int(fh.samplerate)


def _decode_av(data: bytes, demuxer: str | None, max_samples: int | None = None) -> tuple[np.ndarray, int]:
    """The first audio stream, through FFmpeg, as float32 (n,) or (n, ch)."""
    import av

    try:
        container = av.open(io.BytesIO(data), format=demuxer)
    except Exception:
        if demuxer is None:
            raise
        container = av.open(io.BytesIO(data))  # the sniffed kind was wrong: let FFmpeg probe
    with container:
        if not container.streams.audio:
            raise ValueError(f"the {container.format.name} file holds no audio stream")
        resampler, chunks, rate, channels, total = None, [], 0, 1, 0
        for frame in container.decode(container.streams.audio[0]):
            if resampler is None:
                rate, channels = frame.sample_rate, len(frame.layout.channels)
                resampler = av.AudioResampler(format="flt", layout=frame.layout, rate=rate)
            chunks += [out.to_ndarray().reshape(-1, channels) for out in resampler.resample(frame)]
            total += frame.samples * channels
            if max_samples is not None and total > max_samples:
                raise _TooLong(max_samples)
        if resampler is None:
            raise ValueError("no audio frames could be decoded")
        chunks += [out.to_ndarray().reshape(-1, channels) for out in resampler.resample(None)]
    samples = np.concatenate(chunks) if chunks else np.zeros((0, channels), np.float32)
    return (samples[:, 0] if channels == 1 else samples), int(rate)

"""G.711 μ-law (``audio/pcmu``) and A-law (``audio/pcma``) at 8 kHz, with numpy lookup tables.

The Realtime API accepts and produces telephone audio in these two formats. ``audioop`` did this
until Python 3.13 removed it; here each direction is one table lookup: 256 entries to decode,
65 536 (one per 16-bit sample) to encode, built once from the ITU-T G.711 reference algorithm
(Sun Microsystems' public-domain ``g711.c``).

Example:
    >>> import numpy as np
    >>> pcm = np.array([0, 1000, -1000, 32767], dtype=np.int16)
    >>> decode(encode(pcm, "audio/pcmu"), "audio/pcmu").tolist()
    [0, 988, -988, 32124]
"""

from __future__ import annotations

from functools import cache

import numpy as np

__all__ = ["SAMPLE_RATE", "FORMATS", "encode", "decode"]

SAMPLE_RATE = 8_000
FORMATS = ("audio/pcmu", "audio/pcma")


def _ulaw_to_linear(codes: np.ndarray) -> np.ndarray:
    u = ~codes.astype(np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    sample = (((u & 0x0F) << 3) + 0x84) << exponent
    sample -= 0x84
    return np.where(u & 0x80, -sample, sample)


def _alaw_to_linear(codes: np.ndarray) -> np.ndarray:
    a = codes.astype(np.int32) ^ 0x55
    exponent = (a & 0x70) >> 4
    mantissa = (a & 0x0F) << 4
    sample = np.where(exponent == 0, mantissa + 8, (mantissa + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(a & 0x80, sample, -sample)


def _linear_to_ulaw(pcm: np.ndarray) -> np.ndarray:
    x = pcm.astype(np.int32) >> 2  # 14-bit, as g711.c
    mask = np.where(x < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(x), 8159) + 33
    seg_ends = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    seg = np.searchsorted(seg_ends, mag, side="left")
    uval = (np.minimum(seg, 7) << 4) | ((mag >> (np.minimum(seg, 7) + 1)) & 0x0F)
    uval = np.where(seg >= 8, 0x7F, uval)
    return (uval ^ mask) & 0xFF


def _linear_to_alaw(pcm: np.ndarray) -> np.ndarray:
    x = pcm.astype(np.int32) >> 3
    mask = np.where(x >= 0, 0xD5, 0x55)
    x = np.where(x >= 0, x, -x - 1)
    seg_ends = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
    seg = np.searchsorted(seg_ends, x, side="left")
    shift = np.where(seg < 2, 1, seg)
    aval = (np.minimum(seg, 7) << 4) | ((x >> shift) & 0x0F)
    aval = np.where(seg >= 8, 0x7F, aval)
    return (aval ^ mask) & 0xFF


@cache
def _tables(fmt: str) -> tuple[np.ndarray, np.ndarray]:
    codes = np.arange(256, dtype=np.uint8)
    every = np.arange(-32768, 32768, dtype=np.int32)
    if fmt == "audio/pcmu":
        dec, enc = _ulaw_to_linear(codes), _linear_to_ulaw(every)
    else:
        dec, enc = _alaw_to_linear(codes), _linear_to_alaw(every)
    return dec.astype(np.int16), enc.astype(np.uint8)


def decode(data: bytes, fmt: str) -> np.ndarray:
    """G.711 bytes (one per sample, 8 kHz) to int16 samples."""
    dec, _ = _tables(fmt)
    return dec[np.frombuffer(data, dtype=np.uint8)]


def encode(pcm: np.ndarray, fmt: str) -> bytes:
    """int16 samples (8 kHz) to G.711 bytes, one per sample."""
    _, enc = _tables(fmt)
    return enc[np.asarray(pcm, dtype=np.int16).astype(np.int32) + 32768].tobytes()

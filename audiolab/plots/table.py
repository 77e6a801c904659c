"""Tables students read: every value as a person would write it, not as Python prints it.

:func:`readable` turns a DataFrame (or Series) into one of strings: tuples and lists joined with
commas (``('json',)`` -> ``json``), clip sources reduced to their file name and span
(``moonshine_voice/assets/two_cities.wav[13.12-17.11]`` -> ``two_cities.wav 13.1–17.1 s``),
missing values as a dash, and each float column with only the decimals its magnitude needs
(``152.3417`` -> ``152``, ``0.153`` -> ``0.15``, whole numbers without ``.0``). It only formats
what it is shown: the numbers stay in the original frame for computing.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"formats": [("json",), ("srt", "vtt")], "f0_mean_hz": [152.3417, 98.04],
    ...                    "wer": [0.1532, float("nan")], "n": [3.0, 12.0],
    ...                    "clip": ["moonshine_voice/assets/two_cities.wav[13.12-17.11]", "x"]})
    >>> readable(df).to_dict("records")[0]
    {'formats': 'json', 'f0_mean_hz': '152', 'wer': '0.15', 'n': '3', 'clip': 'two_cities.wav 13.1–17.1 s'}
    >>> readable(df)["wer"].tolist()
    ['0.15', '–']
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping

__all__ = ["readable", "decimals_for", "readable_value"]

_DASH = "–"
_CLIP = re.compile(r"^(?:\S*/)?([^/\s\[\]]+\.(?:wav|mp3|flac|ogg|opus|m4a|webm|aac|pcm))"
                   r"(?:\[(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)\])?$", re.IGNORECASE)


def decimals_for(values) -> int:
    """How many decimals a column of numbers needs: none for whole numbers or values of 10 and
    more, then one more per power of ten below that (1.5 -> 1, 0.15 -> 2, 0.015 -> 3, at most 6).

    Example:
        >>> decimals_for([120.5, 98.2]), decimals_for([3.42, 4.1]), decimals_for([0.153]), decimals_for([2.0, 3.0])
        (0, 1, 2, 0)
    """
    finite = [abs(float(v)) for v in values if v is not None and math.isfinite(float(v))]
    if not finite or all(v == int(v) for v in finite):
        return 0
    nonzero = sorted(v for v in finite if v > 0)
    typical = nonzero[len(nonzero) // 2] if nonzero else 0.0
    if typical == 0:
        return 0
    return int(min(6, max(0, 1 - math.floor(math.log10(typical)))))


def readable_value(value, *, decimals: int = 2) -> str:
    """One value as a student should read it (see the module docstring)."""
    if value is None:
        return _DASH
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {readable_value(v, decimals=decimals)}" for k, v in value.items())
    if isinstance(value, (tuple, list, set, frozenset)):
        return ", ".join(readable_value(v, decimals=decimals) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if isinstance(value, numbers.Real):
        x = float(value)
        if math.isnan(x):
            return _DASH
        if math.isinf(x):
            return "∞" if x > 0 else "−∞"
        if x == 0:
            return "0"
        text = f"{x:,.{decimals}f}" if abs(x) >= 10_000 else f"{x:.{decimals}f}"
        return "0" if text in ("-0", "-0.0") or re.fullmatch(r"-0\.0+", text) else text
    text = str(value)
    clip = _CLIP.match(text.strip())
    if clip:
        name, start, end = clip.groups()
        return name if start is None else f"{name} {float(start):.1f}–{float(end):.1f} s"
    return text


def readable(frame, *, digits: int | Mapping[str, int] | None = None):
    """A copy of ``frame`` with every cell, index label and header as readable text.

    Args:
        frame: a pandas DataFrame or Series.
        digits: decimals for every float column, or ``{column: decimals}``; the rest are chosen by
            :func:`decimals_for` from each column's values.

    Returns:
        A DataFrame of strings, with the same shape, index and column order.
    """
    import pandas as pd

    df = frame.to_frame() if isinstance(frame, pd.Series) else frame
    out = pd.DataFrame(index=df.index)
    for i, col in enumerate(df.columns):
        values = df.iloc[:, i]
        fixed = digits.get(col) if isinstance(digits, Mapping) else digits
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        places = fixed if fixed is not None else (decimals_for(values) if numeric else 2)
        out[i] = [readable_value(v, decimals=places) for v in values]
    out.columns = [readable_value(c) if isinstance(c, tuple) else str(c) for c in df.columns]
    if not isinstance(out.index, pd.MultiIndex):
        out.index = pd.Index([readable_value(v) if isinstance(v, (tuple, list, str))
                              else v for v in out.index], name=df.index.name)
    return out

"""Checking request values the way OpenAI does: the one set of validators of every route and of
the Realtime session.

Each helper raises :class:`~audiolab.errors.InvalidRequest` naming the ``param`` at fault in
OpenAI's spelling (``messages[0].role``, ``session.audio.input.format.rate``) with OpenAI's wording
and codes (``missing_required_parameter``, ``invalid_type``, ``decimal_above_max_value``...), so a
400 reads the same whichever endpoint sent it. :func:`loads_strict` parses a JSON body or event.

Example:
    >>> number(1.5, "speed", lo=0.25, hi=4.0)
    1.5
    >>> try:
    ...     number(5, "speed", lo=0.25, hi=4.0)
    ... except InvalidRequest as exc:
    ...     print(exc.param, exc.code)
    ...     print(exc.message)
    speed decimal_above_max_value
    Invalid 'speed': decimal above maximum value. Expected a value <= 4, but got 5 instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from audiolab.errors import InvalidRequest

__all__ = [
    "loads_strict",
    "type_name",
    "invalid",
    "missing",
    "unknown",
    "wrong_type",
    "expect",
    "number",
    "one_of",
    "require",
]


def loads_strict(raw: bytes | str):
    """``json.loads`` that also refuses what would crash later: nesting deeper than Python's
    recursion limit, and lone UTF-16 surrogates (``"\\ud800"``), which no engine can encode.

    Raises:
        ValueError: the text is not JSON, or is one of the above.

    Example:
        >>> loads_strict('{"a": [1, 2]}')
        {'a': [1, 2]}
        >>> loads_strict('"\\\\ud800"')
        Traceback (most recent call last):
        ValueError: JSON string holds a lone surrogate
    """
    try:
        value = json.loads(raw)
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except UnicodeEncodeError:
        raise ValueError("JSON string holds a lone surrogate") from None
    return value


def type_name(value) -> str:
    """How OpenAI names a JSON value's type in its messages.

    Example:
        >>> type_name(True), type_name(3), type_name(0.5), type_name("x"), type_name([]), type_name(None)
        ('a boolean', 'an integer', 'a number', 'a string', 'an array', 'null')
    """
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        tuple: "an array",
        dict: "an object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def invalid(message: str, param: str | None, code: str = "invalid_value") -> InvalidRequest:
    """An :class:`InvalidRequest` for ``param`` (raise it)."""
    return InvalidRequest(message, param=param, code=code)


def missing(param: str) -> InvalidRequest:
    """``Missing required parameter: 'param'.``

    Example:
        >>> missing("model").message
        "Missing required parameter: 'model'."
    """
    return invalid(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")


def unknown(param: str) -> InvalidRequest:
    """A parameter the endpoint does not take.

    Example:
        >>> unknown("session.foo").message
        'Unrecognized request argument supplied: session.foo'
    """
    return invalid(f"Unrecognized request argument supplied: {param}", param, "unknown_parameter")


def wrong_type(param: str, expected: str, value) -> InvalidRequest:
    """``Invalid type for 'param': expected ..., but got ... instead.``

    Example:
        >>> wrong_type("stream", "a boolean", "yes").message
        "Invalid type for 'stream': expected a boolean, but got a string instead."
    """
    message = f"Invalid type for '{param}': expected {expected}, but got {type_name(value)} instead."
    return invalid(message, param, "invalid_type")


def expect(value, kinds: type | tuple[type, ...], param: str, expected: str):
    """``value`` if it is of ``kinds`` (a boolean is not a number unless ``bool`` is listed), else raise.

    Example:
        >>> expect({"type": "audio/pcm"}, dict, "format", "an object")
        {'type': 'audio/pcm'}
    """
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise wrong_type(param, expected, value)
    return value


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def number(value, param: str, *, lo: float | None = None, hi: float | None = None, integer: bool = False):
    """``value`` checked as a number (an integer with ``integer=True``) within ``[lo, hi]``.

    Example:
        >>> number(3, "n", lo=1, hi=128, integer=True)
        3
        >>> try:
        ...     number(0, "n", lo=1, integer=True)
        ... except InvalidRequest as exc:
        ...     print(exc.code)
        integer_below_min_value
    """
    expect(value, (int,) if integer else (int, float), param, "an integer" if integer else "a number")
    kind = "integer" if integer else "decimal"
    if lo is not None and value < lo:
        raise invalid(
            f"Invalid '{param}': {kind} below minimum value. Expected a value >= {_fmt(lo)}, "
            f"but got {_fmt(value)} instead.",
            param,
            f"{kind}_below_min_value",
        )
    if hi is not None and value > hi:
        raise invalid(
            f"Invalid '{param}': {kind} above maximum value. Expected a value <= {_fmt(hi)}, "
            f"but got {_fmt(value)} instead.",
            param,
            f"{kind}_above_max_value",
        )
    return value


def one_of(value, allowed: Iterable, param: str):
    """``value`` if it is one of ``allowed``, else ``Invalid value: ... Supported values are: ...``.

    Example:
        >>> try:
        ...     one_of("loud", ("sse", "audio"), "stream_format")
        ... except InvalidRequest as exc:
        ...     print(exc.message)
        Invalid value: 'loud'. Supported values are: 'sse' and 'audio'.
    """
    allowed = tuple(allowed)
    if value in allowed:
        return value
    names = [repr(a) for a in allowed]
    last = ", and " if len(names) > 2 else " and "
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + last + names[-1]
    raise invalid(f"Invalid value: {value!r}. Supported values are: {listed}.", param)


def require(data: Mapping, key: str, kinds: type | tuple[type, ...] = str, expected: str = "a string"):
    """``data[key]``, which must be present (not null) and of ``kinds``.

    Example:
        >>> require({"item_id": "item_1"}, "item_id")
        'item_1'
        >>> try:
        ...     require({}, "item_id")
        ... except InvalidRequest as exc:
        ...     print(exc.code)
        missing_required_parameter
    """
    value = data.get(key)
    if value is None:
        raise missing(key)
    return expect(value, kinds, key, expected)

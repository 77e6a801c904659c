"""audiolab: explore, teach and evaluate speech AI through every OpenAI audio endpoint.

The public surface is small and loads lazily: ``import audiolab`` imports no engine, librosa or
matplotlib. Heavy parts load when first touched.

Example:
    >>> import audiolab
    >>> lab = audiolab.connect()        # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("audiolab-kit")
except PackageNotFoundError:  # pragma: no cover
    __version__ = "0+unknown"

__all__ = [
    "Audio",
    "AudiolabError",
    "AudioDecodeError",
    "Lab",
    "connect",
    "errors",
    "eval",
    "plots",
    "widgets",
    "__version__",
]

_LAZY = {
    "Audio": ("audiolab.audio", "Audio"),
    "AudiolabError": ("audiolab.errors", "AudiolabError"),
    "AudioDecodeError": ("audiolab.errors", "AudioDecodeError"),
    "Lab": ("audiolab.client.lab", "Lab"),
    "connect": ("audiolab.client.lab", "connect"),
    "errors": ("audiolab.errors", None),
    "eval": ("audiolab.eval", None),
    "plots": ("audiolab.plots", None),
    "widgets": ("audiolab.widgets", None),
}


def __getattr__(name: str):
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'audiolab' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))

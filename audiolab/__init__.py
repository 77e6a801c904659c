"""audiolab: explore, teach and evaluate speech AI through every OpenAI audio endpoint.

The public surface is small and loads lazily (:mod:`lazy_loader`): ``import audiolab`` imports
no engine, librosa or matplotlib. Heavy parts load when first touched.

The package, by concept:

- :mod:`audiolab.audio` and :mod:`audiolab.errors`: the ``Audio`` value type and the error tree;
- :mod:`audiolab.client`: ``connect()``, and the instrumented calls (history, cost, cache, catalog);
- :mod:`audiolab.realtime`: the client side of the Realtime API;
- :mod:`audiolab.eval`: datasets, perturbations, metrics and the evaluation runner;
- :mod:`audiolab.plots`: every figure;
- :mod:`audiolab.widgets`: the Jupyter widgets;
- :mod:`audiolab.server`: the embedded OpenAI-compatible local backend.

Example:
    >>> import audiolab
    >>> "connect" in dir(audiolab) and "Audio" in audiolab.__all__
    True
    >>> lab = audiolab.connect()        # doctest: +SKIP
"""

from importlib.metadata import PackageNotFoundError, version

import lazy_loader as lazy

try:
    __version__ = version("audiolab-kit")
except PackageNotFoundError:  # pragma: no cover
    __version__ = "0+unknown"

__getattr__, __dir__, _lazy_all = lazy.attach(
    __name__,
    submodules=["errors", "eval", "plots", "widgets"],
    submod_attrs={
        "audio": ["Audio"],
        "errors": ["AudiolabError", "AudioDecodeError"],
        "client": ["Lab", "connect"],
    },
)
__all__ = [*_lazy_all, "__version__"]

"""The client side: connect to a backend and instrument every call made through the ``openai`` SDK.

Modules, one concept each:

- :mod:`~audiolab.client.lab`: ``connect()`` and :class:`Lab`, the backend choice;
- :mod:`~audiolab.client.transport`: the httpx transports that time, cache and record each call;
- :mod:`~audiolab.client.wire`: what a request and its response say on the wire (params, usage);
- :mod:`~audiolab.client.cache`: the replay cache (record once, replay offline);
- :mod:`~audiolab.client.history`: one row per call, with latency and cost;
- :mod:`~audiolab.client.pricing`: the price table and cost arithmetic;
- :mod:`~audiolab.client.catalog`: which models a backend serves, and :func:`model_kind`, the one
  rule for what kind of model an id names;
- :mod:`~audiolab.client.probe`: which request parameters a backend really honours.

Submodules and names load on first use, so ``import audiolab.client`` stays cheap.

Example:
    >>> from audiolab import client
    >>> client.resolve_backend(None, environ={})
    'local'
    >>> client.model_kind("gpt-realtime-whisper")
    'stt'
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=["cache", "catalog", "history", "lab", "pricing", "probe", "transport", "wire"],
    submod_attrs={
        "lab": ["Lab", "connect", "resolve_backend", "local_server", "LOCAL_API_KEY"],
        "catalog": ["catalog", "catalog_frame", "model_kind", "pick_model", "served_models"],
    },
)

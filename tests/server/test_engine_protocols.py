"""Every engine class the registry can load implements its Protocol with the options routes pass.

Signatures are read with :mod:`inspect` from the classes: no engine is constructed, no weights load.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect

import pytest

from audiolab.server.engines import protocols
from audiolab.server.registry import ENGINES, MODELS


def _kind(family: str) -> str:
    kinds = {m.kind for m in MODELS.values() if m.engine == family}
    return "vad" if family == "vad" else kinds.pop()


def _engine_class(family: str) -> type:
    module, name = ENGINES[family].split(":")
    return getattr(importlib.import_module(module), name)


REQUIRED = "<required>"


def _keyword_options(fn) -> dict[str, object]:
    params = inspect.signature(fn).parameters.values()
    return {
        p.name: REQUIRED if p.default is p.empty else p.default
        for p in params
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


def _option_defaults(options: type) -> dict[str, object]:
    return {
        f.name: REQUIRED if f.default is dataclasses.MISSING else f.default
        for f in dataclasses.fields(options)
    }


@pytest.mark.parametrize("kind", sorted(protocols.OPTIONS))
def test_each_protocol_method_takes_exactly_its_option_set(kind):
    proto = protocols.PROTOCOLS[kind]
    for method, options in protocols.OPTIONS[kind].items():
        assert _keyword_options(getattr(proto, method)) == _option_defaults(options), (proto.__name__, method)


@pytest.mark.parametrize("family", sorted(ENGINES))
def test_every_registered_engine_implements_its_protocol(family):
    kind = _kind(family)
    cls, proto = _engine_class(family), protocols.PROTOCOLS[kind]
    members = [n for n, v in vars(proto).items() if callable(v) and not n.startswith("_")]
    for name in members:
        method = getattr(cls, name, None)
        assert callable(method), f"{cls.__name__} has no {name}() ({proto.__name__})"
        want = inspect.signature(getattr(proto, name)).parameters.values()
        got = inspect.signature(method).parameters.values()
        positional = [p.name for p in want if p.kind is p.POSITIONAL_OR_KEYWORD]
        assert [p.name for p in got if p.kind is p.POSITIONAL_OR_KEYWORD][: len(positional)] == positional
        assert not any(p.kind is p.VAR_KEYWORD for p in got), (
            f"{cls.__name__}.{name} hides its options in **kwargs"
        )
        options = protocols.OPTIONS[kind].get(name)
        if options is not None:
            # Every option a route passes is a keyword of the engine method, with the same default.
            assert _keyword_options(method) == _option_defaults(options), f"{cls.__name__}.{name}"


def test_options_spread_into_the_engine_call():
    opts = protocols.TranscribeOptions(language="en", beam_size=1)
    assert opts.kwargs() == {
        **_option_defaults(protocols.TranscribeOptions),
        "language": "en",
        "beam_size": 1,
    }
    assert protocols.SynthesisOptions(voice="v").kwargs()["voice"] == "v"
    assert protocols.ChatOptions(logprobs=3).kwargs()["logprobs"] == 3

"""Notebook widgets: record, play streams, compare voices, and score transcripts.

Each widget lives in its own module with its JavaScript beside it (anywidget: no CDN, no build
step), is usable from one line, and hands back plain values (:class:`~audiolab.audio.Audio`,
pandas DataFrames) for the next cell. Nothing here is imported by ``import audiolab``; each
widget module (and ipywidgets/anywidget with it) loads on first access.

Example:
    >>> from audiolab.widgets import Recorder, StreamingPlayer, VoiceLab, TranscriptLab  # doctest: +SKIP
    >>> rec = Recorder(); rec                   # record, then in the next cell:  # doctest: +SKIP
    >>> rec.audio                                                                  # doctest: +SKIP
"""

from __future__ import annotations

import importlib

__all__ = ["Recorder", "StreamingPlayer", "VoiceLab", "TranscriptLab", "VIBES"]

_LAZY = {
    "Recorder": "audiolab.widgets.recorder",
    "StreamingPlayer": "audiolab.widgets.player",
    "VoiceLab": "audiolab.widgets.voice_lab",
    "VIBES": "audiolab.widgets.voice_lab",
    "TranscriptLab": "audiolab.widgets.transcript_lab",
}


def __getattr__(name: str):
    try:
        module_name = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'audiolab.widgets' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))

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

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=["blind_ab", "player", "recorder", "transcript_lab", "voice_lab"],
    submod_attrs={
        "recorder": ["Recorder"],
        "player": ["StreamingPlayer"],
        "voice_lab": ["VoiceLab", "VIBES"],
        "transcript_lab": ["TranscriptLab"],
        "blind_ab": ["BlindAB"],
    },
)

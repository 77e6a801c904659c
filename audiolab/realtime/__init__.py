"""The client side of the Realtime API: drive a session from a clip and read its timeline.

Modules, one concept each (the server side lives in :mod:`audiolab.server.realtime`):

- :mod:`~audiolab.realtime.conversation`: :func:`transcribe_realtime`, :func:`converse` and
  :class:`LiveTranscription`, the entry points a notebook calls;
- :mod:`~audiolab.realtime.connection`: :class:`RealtimeConnection`, one WebSocket with its
  receiver thread and its clock;
- :mod:`~audiolab.realtime.timeline`: :class:`TimedEvent`, :class:`Timeline`, :class:`RealtimeRun`;
- :mod:`~audiolab.realtime.meter`: :class:`RealtimeMeter`, the usage and latency row a realtime
  call leaves in the history;
- :mod:`~audiolab.realtime.events`: the event names, once;
- :mod:`~audiolab.realtime.aside`: :class:`Asides`, out-of-band questions about each user turn;
- :mod:`~audiolab.realtime.translation`: :func:`translate_live` and :class:`TranslationRun`, a
  Realtime translation session driven from a clip.

Example:
    >>> from audiolab import realtime
    >>> realtime.Timeline((realtime.TimedEvent(0.4, "response.created"),)).first("response.created")
    0.4
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=["aside", "connection", "conversation", "events", "meter", "timeline", "translation"],
    submod_attrs={
        "conversation": ["transcribe_realtime", "converse", "LiveTranscription"],
        "connection": ["RealtimeConnection"],
        "timeline": ["TimedEvent", "Timeline", "RealtimeRun"],
        "meter": ["RealtimeMeter"],
        "translation": ["translate_live", "TranslationRun"],
    },
)

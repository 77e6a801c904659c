"""The Realtime API session machinery behind ``wss /v1/realtime`` (the route stays thin).

- :mod:`.session`: the per-connection state machine (client events in, server events out);
- :mod:`.idle`: server VAD's ``idle_timeout_ms`` (``input_audio_buffer.timeout_triggered``);
- :mod:`.early_answer`: the session's side of an answer prepared before the turn is committed;
- :mod:`.transcription`: the session's input audio to text (``input_audio_transcription`` events);
- :mod:`.response`: one model response (chat model, then TTS), streamed as GA events;
- :mod:`.config`: session configuration, ``session.update`` validation, the wire shape;
- :mod:`.conversation`: conversation items, rendered as chat messages;
- :mod:`.input_buffer`: the input audio buffer on the session clock;
- :mod:`.events`: server event builders, ids and usage estimates;
- :mod:`.g711`: μ-law / A-law codecs; :mod:`.work`: cancellable background work.

Voice activity detection is an engine: :mod:`audiolab.server.engines.vad`.
"""

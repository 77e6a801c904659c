"""A short clip is encoded once, not twice, when whisper detects its language: same words, less work."""

from __future__ import annotations

import pytest

from audiolab.server.settings import Settings

pytestmark = pytest.mark.engines


def test_language_detection_reuses_the_first_window_encoding_and_gives_the_same_words(speech_clip):
    from faster_whisper import WhisperModel

    from audiolab.server.engines.whisper import WhisperEngine

    engine = WhisperEngine(Settings(), cpu_threads=1)
    clip = speech_clip("two_cities.wav").slice(0, 5.0).to_mono().resample(16_000).samples
    encodes = {"plain": 0, "reusing": 0}

    def counting(model, name):
        real = type(model).encode

        def encode(self, features):
            encodes[name] += 1
            return real(self, features)
        return encode

    plain = WhisperModel(str(engine.model_dir), device="cpu", compute_type="int8", cpu_threads=1,
                         local_files_only=True)
    texts = {}
    for name, model in (("plain", plain), ("reusing", engine.model)):
        model.encode = counting(model, name).__get__(model)
        segments, info = model.transcribe(clip, beam_size=1)
        texts[name] = ("".join(s.text for s in segments).strip(), info.language)
    assert texts["reusing"] == texts["plain"] and texts["plain"][1] == "en"
    assert encodes["plain"] == 2 and encodes["reusing"] == 2  # both ask twice ...
    # ... and the reusing model computed only the first: the second was the same window
    model = engine.model
    computed = []
    real_super = type(model).__mro__[1].encode
    type(model).__mro__[1].encode = lambda self, f: computed.append(1) or real_super(self, f)
    try:
        model.transcribe(clip, beam_size=1)[0].__iter__().__next__()
    finally:
        type(model).__mro__[1].encode = real_super
    assert len(computed) == 1

"""A realtime take with no speech ends promptly with a readable outcome, not a 60 s wait."""

from __future__ import annotations

import time

import numpy as np
import pytest

from audiolab.audio import Audio
from audiolab.errors import NoSpeechHeard
from audiolab.realtime.conversation import converse

pytestmark = pytest.mark.engines


def test_a_silent_take_raises_no_speech_heard_within_seconds(lab):
    hum = np.random.default_rng(0).normal(0, 0.002, 24_000 * 2).astype(np.float32)  # a quiet room, no voice
    started = time.perf_counter()
    with pytest.raises(NoSpeechHeard) as err:
        converse(lab, Audio.from_array(hum, 24_000), model="gpt-realtime-mini", pace=0, timeout=60)
    assert time.perf_counter() - started < 10
    assert "No speech was heard in your take" in err.value.message and "microphone" in err.value.message
    assert err.value.code == "no_speech"


def test_a_take_with_speech_is_still_answered(lab, spoken):
    run = converse(lab, spoken("What is two plus two?"), model="gpt-realtime-mini", pace=0, timeout=120)
    assert run.transcript.strip()

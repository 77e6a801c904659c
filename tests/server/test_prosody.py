"""Instruction words -> ProsodyRequest, and the prosody DSP measured on real speech."""

from __future__ import annotations

import numpy as np
import pytest

from audiolab.audio import Audio
from audiolab.server.engines import ProsodyRequest
from audiolab.server.engines import prosody as P


@pytest.fixture(scope="module")
def speech(two_cities_path) -> Audio:
    """Four seconds of a real reader, at Piper's 22.05 kHz."""
    return Audio.from_file(two_cities_path).to_mono().slice(0.5, 4.5).resample(22050)


def f0_hz(samples: np.ndarray, sr: int) -> np.ndarray:
    import parselmouth

    snd = parselmouth.Sound(samples.astype(np.float64), sampling_frequency=sr)
    f0 = snd.to_pitch_ac(pitch_floor=60, pitch_ceiling=500).selected_array["frequency"]
    return f0[f0 > 0]


def semitones(a: float, b: float) -> float:
    return float(12 * np.log2(a / b))


# ---- instructions -> prosody --------------------------------------------------------------

def test_whisper_softly_asks_for_a_quiet_breathy_voice():
    p = P.from_instructions("Whisper softly")
    assert p.breathy and p.volume < 0.5


def test_slowly_and_calmly_slows_down_flattens_and_lengthens_pauses():
    p = P.from_instructions("Speak slowly and calmly.")
    assert p.rate < 0.8 and p.pause > 1.3 and p.pitch_range < 1.0 and not p.breathy


def test_excited_raises_pitch_widens_range_and_speeds_up():
    p = P.from_instructions("excited!")
    assert p.pitch > 1.1 and p.pitch_range > 1.4 and p.rate > 1.0


def test_instruction_words_without_a_rule_leave_prosody_neutral():
    assert P.from_instructions("Read this as a pirate captain named Bob") == ProsodyRequest()
    assert P.from_instructions(None) == ProsodyRequest() and P.from_instructions("") == ProsodyRequest()


def test_negated_words_are_ignored_and_intensifiers_strengthen():
    assert P.from_instructions("Please don't whisper") == ProsodyRequest()
    assert P.from_instructions("not too fast") == ProsodyRequest()
    assert P.from_instructions("very slowly").rate < P.from_instructions("slowly").rate < 1.0


def test_piled_up_words_stay_within_the_limits():
    p = P.from_instructions("very very slow, extremely slow, slowly, sad, calm, tired, whisper softly, quietly")
    for name, (lo, hi) in P.LIMITS.items():
        assert lo <= getattr(p, name) <= hi
    assert p.rate == P.LIMITS["rate"][0]


def test_instruction_table_is_documented_row_by_row():
    table = P.markdown_table()
    assert table.count("\n") == len(P.RULES) + 1
    assert all(r.note in table for r in P.RULES)


# ---- DSP on real speech -------------------------------------------------------------------

def test_change_pitch_moves_the_median_f0_and_keeps_the_timing(speech):
    x, sr = speech.samples, speech.sr
    up = P.change_pitch(x, sr, ratio=2 ** (3 / 12))
    assert len(up) == pytest.approx(len(x), abs=sr * 0.02)
    assert semitones(np.median(f0_hz(up, sr)), np.median(f0_hz(x, sr))) == pytest.approx(3.0, abs=0.7)


def test_change_pitch_range_factor_widens_and_narrows_the_contour(speech):
    x, sr = speech.samples, speech.sr

    def spread(y):
        st_ = 12 * np.log2(f0_hz(y, sr))
        return np.percentile(st_, 90) - np.percentile(st_, 10)

    base = spread(x)
    assert spread(P.change_pitch(x, sr, range_factor=2.0)) > 1.3 * base
    assert spread(P.change_pitch(x, sr, range_factor=0.3)) < 0.6 * base


@pytest.mark.parametrize("factor", [0.25, 0.5, 2.0, 4.0])
def test_time_stretch_is_exact_and_keeps_the_pitch(speech, factor):
    x, sr = speech.samples, speech.sr
    y = P.time_stretch(x, sr, factor)
    assert len(y) == round(len(x) * factor)
    if factor >= 0.5:  # at ×4 compression voiced stretches get too short to track F0 reliably
        assert abs(semitones(np.median(f0_hz(y, sr)), np.median(f0_hz(x, sr)))) < 1.0


def test_whisperize_removes_voicing_but_keeps_length_and_spectrum(speech):
    x, sr = speech.samples, speech.sr
    y = P.whisperize(x, sr)
    assert len(y) == len(x)
    assert len(f0_hz(y, sr)) < 0.2 * len(f0_hz(x, sr))

    def bands(z):  # energy share of 0-1, 1-3, 3-8 kHz
        spec = np.abs(np.fft.rfft(z)) ** 2
        f = np.fft.rfftfreq(len(z), 1 / sr)
        e = np.array([spec[(f >= lo) & (f < hi)].sum() for lo, hi in ((0, 1e3), (1e3, 3e3), (3e3, 8e3))])
        return e / e.sum()

    assert np.abs(bands(y) - bands(x)).max() < 0.35  # formant regions keep their weight, roughly


def test_stretch_pauses_scales_gaps_and_leaves_sound_alone():
    sr = 16000
    tone = (0.5 * np.sin(2 * np.pi * 200 * np.arange(int(0.3 * sr)) / sr)).astype(np.float32)
    gap = np.zeros(int(0.3 * sr), np.float32)
    clip = np.concatenate([tone, gap, tone])
    longer = P.stretch_pauses(clip, sr, 2.0)
    shorter = P.stretch_pauses(clip, sr, 0.5)
    assert len(longer) / sr == pytest.approx(1.2, abs=0.02)
    assert len(shorter) / sr == pytest.approx(0.75, abs=0.02)
    def loud(z):
        return int((np.abs(z) > 0.01).sum())

    assert loud(longer) == loud(clip) == loud(shorter)
    edge_gap = np.concatenate([gap, tone])  # silence at an edge is not a pause
    assert len(P.stretch_pauses(edge_gap, sr, 2.0)) == len(edge_gap)


def test_stretch_pauses_lengthens_real_speech_only_in_its_pauses(speech):
    x, sr = speech.samples, speech.sr
    y = P.stretch_pauses(x, sr, 2.0)
    assert len(y) > len(x) + 0.1 * sr


def test_finish_sentence_trims_levels_and_adds_the_gap():
    sr = 16000
    tone = (0.2 * np.sin(2 * np.pi * 200 * np.arange(sr) / sr)).astype(np.float32)
    padded = np.concatenate([np.zeros(sr // 2, np.float32), tone, np.zeros(sr // 2, np.float32)])
    last = P.finish_sentence(padded, sr, prosody=ProsodyRequest())
    assert len(last) / sr == pytest.approx(1.0 + 2 * 0.04, abs=0.02)
    assert np.abs(last).max() == pytest.approx(P.NORMAL_PEAK, rel=0.01)
    quiet = P.finish_sentence(padded, sr, prosody=ProsodyRequest(volume=0.5, pause=1.5), gap_s=0.2, speed=2.0)
    assert np.abs(quiet).max() == pytest.approx(P.NORMAL_PEAK * 0.5, rel=0.01)
    assert len(quiet) == pytest.approx(len(last) + 0.2 * 1.5 / 2 * sr, abs=2)

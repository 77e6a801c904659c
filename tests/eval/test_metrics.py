"""Metrics on hand-computed examples: S/D/I, normaliser effects, bootstrap and paired comparison."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from audiolab.audio import Audio
from audiolab.errors import InvalidRequest
from audiolab.eval import metrics
from audiolab.eval.datasets import real_speech
from audiolab.eval.metrics import WordOp, compare_scores, normalize, rtfx, score, summarize, wer, word_diff
from audiolab.eval.preference import bradley_terry, win_rate_matrix
from audiolab.eval.prosody import f0_contour, loudness, prosody


def test_score_counts_substitutions_deletions_insertions_by_hand():
    # quick->quack is one substitution, "jumps" one insertion; "lazy" is one deletion.
    s = score(
        ["the quick brown fox", "over the lazy old dog"], ["the quack brown fox jumps", "over the old dog"]
    )
    assert (s.substitutions, s.deletions, s.insertions, s.hits) == (1, 1, 1, 7)
    assert s.ref_words == 9 and s.n == 2
    assert s.errors == 3


def test_corpus_wer_is_total_errors_over_total_reference_words_not_a_mean():
    s = score(
        ["the quick brown fox", "over the lazy old dog"], ["the quack brown fox jumps", "over the old dog"]
    )
    assert s.wer == pytest.approx(3 / 9)
    per_utterance_mean = (2 / 4 + 1 / 5) / 2
    assert s.wer != pytest.approx(per_utterance_mean)
    frame = s.to_frame()
    assert frame["wer"].tolist() == pytest.approx([0.5, 0.2])
    assert frame["substitutions"].sum() == 1 and frame["ref_words"].sum() == 9


def test_english_normalizer_maps_mister_and_spelled_numbers():
    assert normalize("Mr. Smith paid $20.") == "mister smith paid $20"
    assert normalize("Mister Smith paid twenty dollars") == "mister smith paid $20"
    assert wer("Mr. Smith paid $20.", "mister smith paid twenty dollars") == 0.0
    raw = score("Mr. Smith paid $20.", "mister smith paid twenty dollars", normalize_text=False)
    assert raw.wer > 0.5


def test_normalizer_removes_case_punctuation_and_fillers():
    assert (
        wer(
            "It was the best of times, it was the worst of times.",
            "um it was the best of times it was the worst of times",
        )
        == 0.0
    )
    assert normalize("colour") == "color"


def test_other_languages_use_the_basic_normalizer_and_keep_accents():
    assert normalize("¿Qué tal, Señor?", language="es") == "qué tal señor"
    assert normalize("¿Qué tal, Señor?", language="en") == "que tal senor"


def test_cer_counts_characters():
    assert metrics.cer("abcd", "abce", normalize_text=False) == pytest.approx(0.25)
    assert score("the cat", "the bat").cer == pytest.approx(1 / 7)


def test_empty_hypothesis_is_all_deletions():
    s = score(["it was the best of times"], [None])
    assert (s.deletions, s.wer) == (6, 1.0)


def test_score_rejects_mismatched_lengths():
    with pytest.raises(InvalidRequest):
        score(["a", "b"], ["a"])
    with pytest.raises(InvalidRequest):
        score(["a", "b"], ["a", "b"], groups=["s1"])


def test_word_diff_lists_each_operation():
    ops = word_diff("The cat sat.", "the bat sat down")
    assert ops == [WordOp("equal", "the", "the"), WordOp("substitute", "cat", "bat"),
                   WordOp("equal", "sat", "sat"), WordOp("insert", None, "down")]
    assert [o.op for o in word_diff("fail better", "")] == ["delete", "delete"]


def test_number_words_are_normalised_to_digits_before_counting():
    # Whisper's English normaliser turns spelled numbers into digits: "twenty one" is one token "21".
    assert normalize("twenty one apples") == "21 apples"
    assert score("twenty one apples", "21 apples").wer == 0.0
    assert score("twenty one apples", "twenty two apples").substitutions == 1


def _noisy_system(refs, error_rate, seed):
    rng = np.random.default_rng(seed)
    return [" ".join(w if rng.random() > error_rate else "x" for w in r.split()) for r in refs]


def test_bootstrap_ci_contains_the_point_estimate():
    refs = real_speech().texts
    s = score(refs, _noisy_system(refs, 0.15, seed=1))
    lo, hi = s.ci
    assert lo < s.wer < hi
    assert lo > 0.0 and hi < 0.5


def test_bootstrap_over_speakers_is_wider_when_errors_cluster_by_speaker():
    refs = ["ever tried ever failed"] * 8
    hyps = ["ever tried ever failed"] * 4 + ["x x ever failed"] * 4
    groups = ["a", "a", "b", "b", "c", "c", "d", "d"]
    by_utt = score(refs, hyps)
    by_spk = score(refs, hyps, groups=groups)
    assert by_utt.wer == by_spk.wer == pytest.approx(0.25)
    assert (by_spk.ci[1] - by_spk.ci[0]) > (by_utt.ci[1] - by_utt.ci[0])


def test_compare_identical_systems_gives_even_odds():
    refs = real_speech().texts
    hyps = _noisy_system(refs, 0.2, seed=3)
    c = compare_scores(score(refs, hyps), score(refs, hyps))
    assert c.p_improvement == pytest.approx(0.5)
    assert c.delta == 0.0


def test_compare_equal_systems_with_different_errors_is_near_even():
    refs = ["a b c d e"] * 40
    a = ["a b c d x"] * 20 + ["a b c d e"] * 20
    b = ["a b c d e"] * 20 + ["a b c d x"] * 20
    c = compare_scores(score(refs, a), score(refs, b))
    assert c.wer_a == c.wer_b
    assert 0.3 < c.p_improvement < 0.7


def test_compare_clearly_better_system_has_high_probability_of_improvement():
    refs = real_speech().texts
    worse, better = (
        score(refs, _noisy_system(refs, 0.4, seed=5)),
        score(refs, _noisy_system(refs, 0.05, seed=6)),
    )
    c = compare_scores(worse, better)
    assert c.p_improvement > 0.95
    assert c.delta < 0 and c.delta_ci[1] < 0
    assert compare_scores(better, worse).p_improvement < 0.05


def test_compare_rejects_scores_of_different_references():
    with pytest.raises(InvalidRequest):
        compare_scores(score(["a b"], ["a b"]), score(["a c"], ["a c"]))


def test_rtfx_is_total_audio_over_total_wall_time():
    assert rtfx([10.0, 20.0], [1.0, 2.0]) == pytest.approx(10.0)
    assert rtfx([10.0, 10.0], [1.0, 4.0]) == pytest.approx(4.0)  # not the mean of ratios (6.25)


def test_summarize_gives_corpus_wer_per_model_and_skips_failed_cells():
    df = pd.DataFrame(
        {
            "model": ["m", "m", "m"],
            "condition": ["clean"] * 3,
            "substitutions": [1, 0, 0],
            "deletions": [0, 1, 0],
            "insertions": [0, 0, 0],
            "ref_words": [4, 5, 0],
            "audio_seconds": [2.0, 3.0, 1.0],
            "latency_s": [0.5, 0.5, np.nan],
            "cost_usd": [0.0, 0.0, np.nan],
            "error": [None, None, "APIError"],
        }
    )
    s = summarize(df).iloc[0]
    assert s["wer"] == pytest.approx(2 / 9)
    assert (s["n"], s["errors"]) == (2, 1)
    assert s["rtfx"] == pytest.approx(5.0)


def _tone(freq, seconds=1.0, sr=16000, amp=0.5):
    t = np.arange(int(seconds * sr)) / sr
    # a harmonic-rich periodic signal, like a voiced vowel
    x = sum(amp / k * np.sin(2 * np.pi * freq * k * t) for k in (1, 2, 3))
    return Audio.from_array(x.astype(np.float32), sr)


def test_f0_contour_follows_a_tone_and_a_glide():
    _, f0 = f0_contour(_tone(220.0))
    assert np.nanmedian(f0) == pytest.approx(220.0, rel=0.01)
    sr = 16000
    t = np.arange(2 * sr) / sr
    glide = Audio.from_array(
        np.sin(2 * np.pi * (150 * t + 75 * t**2 / 2)).astype(np.float32), sr
    )  # 150 -> 300 Hz
    times, f0 = f0_contour(glide)
    ok = np.isfinite(f0)
    assert np.interp(0.2, times[ok], f0[ok]) == pytest.approx(165, rel=0.05)
    assert np.interp(1.8, times[ok], f0[ok]) == pytest.approx(285, rel=0.05)


def test_loudness_of_a_sine_matches_bs1770():
    sr = 48000
    sine = Audio.from_array((0.1 * np.sin(2 * np.pi * 1000 * np.arange(2 * sr) / sr)).astype(np.float32), sr)
    assert loudness(sine) == pytest.approx(20 * math.log10(0.1) - 3.01, abs=0.1)
    assert math.isnan(loudness(sine.slice(0, 0.2)))


def test_prosody_of_real_speech_is_plausible_and_rate_unit_follows_text():
    utt = real_speech()[0]
    with_text = prosody(utt.audio)
    assert with_text.speaking_rate_unit == "words/s"
    assert 80 < with_text.f0_mean_hz < 200  # an adult male reader
    assert 1.5 < with_text.speaking_rate < 5.0
    assert 0.0 <= with_text.pause_ratio < 0.5
    assert -40 < with_text.lufs < -20
    no_text = prosody(utt.audio.replace(text=None))
    assert no_text.speaking_rate_unit == "syllables/s"
    assert 2.0 < no_text.speaking_rate < 7.0


def test_pause_ratio_grows_when_silence_is_inserted():
    clip = real_speech()[1].audio
    base = prosody(clip)
    gapped = prosody(Audio.concat([clip, clip], gap_s=1.0).replace(text=None))
    assert gapped.pause_ratio > base.pause_ratio + 0.08


def test_bradley_terry_matches_the_closed_form_for_two_items():
    votes = {"a": ["x"] * 8, "b": ["y"] * 8, "winner": ["x"] * 6 + ["y"] * 2}
    bt = bradley_terry(votes, prior=0, n_boot=0)
    assert bt.scores[0] - bt.scores[1] == pytest.approx(math.log(3))  # odds 6:2
    assert bt.prob("x", "y") == pytest.approx(0.75)


def test_bradley_terry_recovers_the_true_order_with_cis_around_estimates():
    rng = np.random.default_rng(0)
    strength = {"piper": 1.0, "espeak": 0.0, "sapi": -1.0}
    names = list(strength)
    rows = []
    for _ in range(300):
        a, b = rng.choice(names, 2, replace=False)
        p = 1 / (1 + math.exp(strength[b] - strength[a]))
        rows.append({"a": a, "b": b, "winner": a if rng.random() < p else b})
    bt = bradley_terry(pd.DataFrame(rows), n_boot=300)
    assert bt.ranking() == ["piper", "espeak", "sapi"]
    for s, lo, hi in zip(bt.scores, bt.ci_low, bt.ci_high):
        assert lo < s < hi
    assert bt.prob("piper", "sapi") + bt.prob("sapi", "piper") == pytest.approx(1.0)


def test_win_rate_matrix_counts_ties_as_half():
    m = win_rate_matrix({"a": ["x", "x", "x"], "b": ["y", "y", "z"], "winner": ["x", "tie", "b"]})
    assert m.loc["x", "y"] == pytest.approx(0.75)
    assert m.loc["y", "x"] == pytest.approx(0.25)
    assert m.loc["z", "x"] == pytest.approx(1.0)
    assert math.isnan(m.loc["y", "z"])


def test_bradley_terry_rejects_a_winner_naming_neither_side():
    with pytest.raises(InvalidRequest):
        bradley_terry({"a": ["x"], "b": ["y"], "winner": ["q"]})


def test_unvoiced_audio_has_no_pitch_and_a_harmonic_tone_has_its_own():
    noise = Audio.from_array((0.1 * np.random.default_rng(1).standard_normal(32000)).astype(np.float32), 16000)
    p = prosody(noise.replace(text="a b c"))
    assert math.isnan(p.f0_mean_hz) and math.isnan(p.f0_range_semitones) and p.voiced_ratio == 0.0
    assert not np.isfinite(f0_contour(noise)[1]).any()
    tone = prosody(_tone(150.0, seconds=2.0))
    assert tone.f0_mean_hz == pytest.approx(150.0, rel=0.01) and tone.voiced_ratio > 0.9


def test_pitch_does_not_depend_on_what_was_measured_before():
    speech, tone, noise = real_speech()[1].audio, _tone(330.0), _tone(150.0)
    first = prosody(speech).f0_mean_hz
    for other in (tone, noise, speech.slice(0, 0.5)):
        prosody(other)
    assert prosody(speech).f0_mean_hz == first
    assert f0_contour(speech)[1].tobytes() == f0_contour(speech)[1].tobytes()


@pytest.mark.engines
def test_whispered_tts_has_no_pitch_and_normal_tts_a_plausible_one():
    import audiolab

    lab = audiolab.connect("local")
    text = "The quick brown fox jumps over the lazy dog. It was the best of times."
    for voice in ("alloy", "coral"):  # a Piper and a Kokoro voice
        clips = {}
        for how in (None, "whisper"):
            body = lab.client.audio.speech.create(model="gpt-4o-mini-tts", voice=voice, input=text,
                                                  response_format="wav", **({"instructions": how} if how else {}))
            clips[how] = prosody(Audio.from_bytes(body.read(), text=text))
        assert 80 < clips[None].f0_mean_hz < 300, (voice, clips[None])
        assert math.isnan(clips["whisper"].f0_mean_hz), (voice, clips["whisper"])

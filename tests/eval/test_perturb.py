"""Perturbations: SNR measured back, seeded noise colours, speed modes, codec round trips."""

from __future__ import annotations

import numpy as np
import pytest

from audiolab.audio import Audio, sniff
from audiolab.errors import InvalidRequest
from audiolab.eval import perturb
from audiolab.eval.datasets import real_speech
from audiolab.eval.prosody import f0_contour


@pytest.fixture(scope="module")
def clip() -> Audio:
    return real_speech()[0].audio.resample(16000)


@pytest.mark.parametrize("kind", perturb.NOISE_KINDS)
@pytest.mark.parametrize("snr", [30, 20, 10, 5, 0])
def test_add_noise_hits_the_asked_snr_within_0_2_db_after_a_wav_round_trip(clip, kind, snr):
    noisy = perturb.add_noise(clip, snr_db=snr, kind=kind, seed=7)
    # measure what a server receives: both clips quantised to 16-bit wav
    x, y = Audio.from_bytes(clip.to_wav_bytes()), Audio.from_bytes(noisy.to_wav_bytes())
    assert perturb.measure_snr(x, y) == pytest.approx(snr, abs=0.2)
    assert noisy.meta["snr_db"] == snr and noisy.meta["noise"] == kind
    assert noisy.text == clip.text and noisy.duration == clip.duration


def test_noise_is_seeded(clip):
    a = perturb.add_noise(clip, snr_db=10, kind="babble", seed=1)
    b = perturb.add_noise(clip, snr_db=10, kind="babble", seed=1)
    c = perturb.add_noise(clip, snr_db=10, kind="babble", seed=2)
    assert np.array_equal(a.samples, b.samples)
    assert not np.array_equal(a.samples, c.samples)


def _low_band_share(x: np.ndarray, sr: int, cutoff: float) -> float:
    p = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / sr)
    return float(p[f < cutoff].sum() / p.sum())


def test_noise_colours_have_their_spectra():
    sr, n = 16000, 64000
    white = perturb.make_noise(n, kind="white", sr=sr)
    pink = perturb.make_noise(n, kind="pink", sr=sr)
    babble = perturb.make_noise(n, kind="babble", sr=sr)
    assert _low_band_share(white, sr, 1000) == pytest.approx(1000 / 8000, abs=0.02)
    assert _low_band_share(pink, sr, 1000) > 0.6
    # speech puts most of its power below 1 kHz, and its level swings more than steady noise
    assert _low_band_share(babble, sr, 1000) > 0.5
    frames = babble[: n // 400 * 400].reshape(-1, 400)
    wf = white[: n // 400 * 400].reshape(-1, 400)
    assert np.std(np.log(frames.var(1))) > 2 * np.std(np.log(wf.var(1)))


def test_clean_point_of_the_grid_returns_the_clip_unchanged(clip):
    assert perturb.add_noise(clip, snr_db=None) is clip
    assert perturb.SNR_GRID == (None, 30, 20, 10, 5, 0)


def test_silent_clip_cannot_take_an_snr():
    with pytest.raises(InvalidRequest):
        perturb.add_noise(Audio.from_array(np.zeros(1600), 16000), snr_db=10)
    with pytest.raises(InvalidRequest):
        perturb.add_noise(Audio.from_array(np.ones(1600) * 0.1, 16000), snr_db=10, kind="brown")


def _harmonic(freq=200.0, seconds=1.0, sr=16000):
    t = np.arange(int(seconds * sr)) / sr
    return Audio.from_array(
        (0.3 * sum(np.sin(2 * np.pi * freq * k * t) / k for k in (1, 2, 3))).astype(np.float32), sr
    )


def test_resample_speed_moves_pitch_and_tempo_speed_keeps_it():
    tone = _harmonic(200.0)
    fast = perturb.change_speed(tone, 1.25, mode="resample")
    tempo = perturb.change_speed(tone, 1.25, mode="tempo")
    assert fast.duration == pytest.approx(0.8, abs=0.01)
    assert tempo.duration == pytest.approx(0.8, abs=0.01)
    assert np.nanmedian(f0_contour(fast)[1]) == pytest.approx(250, rel=0.02)
    assert np.nanmedian(f0_contour(tempo)[1]) == pytest.approx(200, rel=0.02)
    assert perturb.change_speed(tone, 0.8).duration == pytest.approx(1.25, abs=0.01)
    with pytest.raises(InvalidRequest):
        perturb.change_speed(tone, 5.0)


@pytest.mark.parametrize("name", list(perturb.CODECS))
def test_codec_output_decodes_with_the_right_duration_and_bitrate(clip, name):
    data = perturb.encode_codec(clip, name)
    decoded = Audio.from_bytes(data)
    assert decoded.duration == pytest.approx(clip.duration, abs=0.03)
    fmt, bitrate, rate = perturb.CODECS[name]
    assert sniff(data) == {"mp3": "mp3", "opus": "opus", "mulaw": "wav"}[fmt]
    assert len(data) * 8 / clip.duration == pytest.approx(bitrate, rel=0.35)
    out = perturb.codec(clip, name)
    assert (out.sr, out.num_samples) == (clip.sr, clip.num_samples)
    assert out.meta["codec"] == name and out.meta["codec_bytes"] == len(data)
    # still the same speech: strongly correlated with the original
    assert np.corrcoef(out.samples, clip.samples)[0, 1] > 0.7


def test_mulaw_telephone_removes_everything_above_4_khz(clip):
    out = perturb.codec(clip.resample(16000), "mulaw_8k")
    assert _low_band_share(clip.samples, 16000, 4000) < 0.999
    assert _low_band_share(out.samples, 16000, 4100) > 0.999


def test_conditions_grid_has_clean_once_then_named_cells(clip):
    grid = perturb.conditions(
        noise=("white", "babble"), snrs=perturb.SNR_GRID, speeds=(1.25,), codecs=("opus_8k",)
    )
    names = [c.name for c in grid]
    assert names[0] == "clean" and names.count("clean") == 1
    assert names[1:6] == ["white@30dB", "white@20dB", "white@10dB", "white@5dB", "white@0dB"]
    assert "babble@0dB" in names and names[-2:] == ["tempo×1.25", "opus_8k"]
    assert len({c.key for c in grid}) == len(grid)
    white10 = grid[names.index("white@10dB")]
    assert perturb.measure_snr(clip, white10(clip)) == pytest.approx(10, abs=0.01)
    assert perturb.CLEAN(clip) is clip
    with pytest.raises(InvalidRequest):
        perturb.conditions(codecs=("gsm",))

"""audiolab.audio.Audio on real speech: decode, encode round trips, errors, immutability, display."""

from __future__ import annotations

import base64
import dataclasses
import io
import re
import subprocess
import sys

import numpy as np
import pytest

from audiolab.audio import Audio, sniff
from audiolab.errors import AudioDecodeError, InvalidRequest

# --- helpers ----------------------------------------------------------------------------------


def log_band_spectrogram(clip: Audio, *, sr: int = 16000, n_fft: int = 512, hop: int = 160) -> np.ndarray:
    """(frames, 40) log energies in log-spaced bands: a small numpy stand-in for a log-mel."""
    x = clip.to_mono().resample(sr).samples.astype(np.float64)
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop] * np.hanning(n_fft)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    edges = np.unique(np.geomspace(2, n_fft // 2, 41).astype(int))
    bands = np.stack([power[:, a:b].sum(axis=1) for a, b in zip(edges[:-1], edges[1:])], axis=1)
    return np.log10(bands + 1e-10)


def spectral_similarity(a: Audio, b: Audio, *, max_lag_s: float = 0.2) -> float:
    """Best Pearson correlation of the two log spectrograms (each band mean-removed) over small
    lags, so codec delay (aac priming) does not count against the codec. ~1 for the same speech,
    ~0.1-0.3 for other speech by the same reader."""
    sa, sb = log_band_spectrogram(a), log_band_spectrogram(b)
    best = -1.0
    for lag in range(-int(max_lag_s * 100), int(max_lag_s * 100) + 1):
        x, y = (sa[lag:], sb) if lag >= 0 else (sa, sb[-lag:])
        m = min(len(x), len(y))
        x, y = x[:m] - x[:m].mean(axis=0), y[:m] - y[:m].mean(axis=0)
        best = max(best, float((x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum())))
    return best


def encode_with_pyav(clip: Audio, muxer: str, codec: str, rate: int) -> bytes:
    """What a recorder produces (webm/opus from a browser, m4a/aac from a phone), made with
    FFmpeg directly rather than through Audio.encode."""
    import av

    clip = clip.resample(rate)
    buf = io.BytesIO()
    with av.open(buf, "w", format=muxer) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(clip.samples)[None, :], format="flt",
                                           layout="mono")
        frame.sample_rate = rate
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


@pytest.fixture(scope="module")
def two_cities(two_cities_path) -> Audio:
    return Audio.from_file(two_cities_path)


@pytest.fixture(scope="module")
def speech(two_cities) -> Audio:
    """Three seconds of a person reading, 48 kHz mono."""
    return two_cities.slice(2.0, 5.0)


# --- decoding -----------------------------------------------------------------------------------


def test_from_file_decodes_the_real_speech_clip(two_cities, two_cities_path):
    import soundfile as sf

    info = sf.info(str(two_cities_path))
    assert two_cities.sr == info.samplerate == 48000
    assert two_cities.num_samples == info.frames
    assert two_cities.duration == pytest.approx(info.duration)
    assert two_cities.channels == 1 and two_cities.samples.ndim == 1
    assert two_cities.samples.dtype == np.float32
    assert two_cities.source == str(two_cities_path)
    assert 0.05 < two_cities.peak <= 1.0
    assert -50 < two_cities.rms_db < -10


# (how to make the bytes, what sniff says, tolerance: None = lossy -> spectral check)
ROUND_TRIPS = {
    "wav": (lambda a: a.encode("wav"), "wav", 1e-4),
    "flac": (lambda a: a.encode("flac"), "flac", 1e-4),
    "pcm": (lambda a: a.encode("pcm"), None, 1e-4),
    "mp3": (lambda a: a.encode("mp3"), "mp3", None),
    "opus": (lambda a: a.encode("opus"), "opus", None),
    "aac": (lambda a: a.encode("aac"), "aac", None),
    "webm": (lambda a: encode_with_pyav(a, "webm", "libopus", 48000), "webm", None),
    "m4a": (lambda a: encode_with_pyav(a, "ipod", "aac", 44100), "m4a", None),
}


@pytest.mark.parametrize("fmt", list(ROUND_TRIPS))
def test_encoded_speech_decodes_back_to_the_same_speech(speech, fmt):
    make, sniffed, tolerance = ROUND_TRIPS[fmt]
    data = make(speech)
    assert sniff(data) == sniffed

    decoded = Audio.from_bytes(data, "pcm" if fmt == "pcm" else None)

    assert decoded.channels == 1
    assert decoded.duration == pytest.approx(speech.duration, abs=0.06)
    if tolerance is not None:
        reference = speech.resample(decoded.sr)
        assert decoded.sr == (24000 if fmt == "pcm" else speech.sr)
        n = min(reference.num_samples, decoded.num_samples)
        assert abs(reference.num_samples - decoded.num_samples) <= 1
        np.testing.assert_allclose(decoded.samples[:n], reference.samples[:n], atol=tolerance)
    else:
        assert spectral_similarity(speech, decoded) > 0.9


def test_format_hint_decodes_an_mp3_stream_joined_mid_frame(speech):
    # A streamed response read from the middle has no header to sniff; the hint is enough.
    data = speech.encode("mp3")[1001:]
    assert sniff(data) is None
    decoded = Audio.from_bytes(data, "mp3")
    assert 2.7 < decoded.duration < speech.duration
    assert spectral_similarity(speech, decoded) > 0.9


def test_spectral_similarity_tells_other_speech_apart(two_cities, speech):
    # The lossy round trips above would pass a decoder that returned unrelated audio only if
    # this measure could not tell speech apart; it can.
    for start in (10.0, 20.0, 30.0):
        assert spectral_similarity(speech, two_cities.slice(start, start + 3.0)) < 0.5
    noise = Audio.from_array(np.random.default_rng(0).normal(0, 0.05, speech.num_samples), speech.sr)
    assert spectral_similarity(speech, noise) < 0.5


def test_encode_pcm_is_24khz_s16le_mono_like_openai(speech):
    data = speech.encode("pcm")
    assert len(data) == 2 * round(speech.duration * 24000)
    back = Audio.from_bytes(data, "pcm")
    assert (back.sr, back.channels) == (24000, 1)


def test_pcm16_round_trip_is_bit_exact(speech):
    data = speech.to_pcm16()
    assert len(data) == 2 * speech.num_samples
    back = Audio.from_bytes(data, "pcm", sr=speech.sr)
    np.testing.assert_array_equal(back.samples, speech.samples)


def test_stereo_survives_flac_and_mp3(speech):
    stereo = Audio.from_array(np.stack([speech.samples, 0.5 * speech.samples], axis=1), speech.sr)
    flac = Audio.from_bytes(stereo.encode("flac"))
    assert flac.channels == 2
    np.testing.assert_allclose(flac.samples, stereo.samples, atol=1e-4)
    mp3 = Audio.from_bytes(stereo.encode("mp3"))
    assert mp3.channels == 2
    assert mp3.samples[:, 1].std() == pytest.approx(0.5 * mp3.samples[:, 0].std(), rel=0.1)


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, make, looks_like",
    [
        ("empty", lambda a: b"", None),
        ("random bytes", lambda a: np.random.default_rng(2).bytes(3000), "unknown"),
        ("png", lambda a: b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "PNG image"),
        ("text", lambda a: b"Hello, this is not a sound file.\n", "text"),
        ("json", lambda a: b'{"error": {"message": "quota exceeded"}}', "JSON text"),
        ("mp3 cut inside its first frame", lambda a: a.encode("mp3")[:200], "mp3"),
        ("wav cut after its header", lambda a: a.encode("wav")[:44], "wav"),
        ("wav cut inside its header", lambda a: a.encode("wav")[:30], "wav"),
        ("ogg/opus cut in its headers", lambda a: a.encode("opus")[:100], "opus"),
    ],
)
def test_undecodable_bytes_raise_decode_error_saying_what_arrived(speech, name, make, looks_like):
    data = make(speech)
    with pytest.raises(AudioDecodeError) as caught:
        Audio.from_bytes(data)
    error = caught.value
    assert isinstance(error, InvalidRequest) and error.status_code == 400
    assert error.param == "file"
    assert f"{len(data)} bytes" in error.message
    if looks_like:
        assert f"looks like: {looks_like}" in error.message
    if looks_like in ("PNG image", "text", "JSON text"):
        assert "not audio" in error.message


def test_odd_length_pcm_is_a_decode_error():
    with pytest.raises(AudioDecodeError, match="3 bytes"):
        Audio.from_bytes(b"\x00\x01\x02", "pcm")


def test_wav_declaring_an_absurd_sample_rate_is_a_decode_error():
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.zeros(1000, np.float32), 500_000, format="WAV", subtype="PCM_16")
    with pytest.raises(AudioDecodeError, match="500000 Hz"):
        Audio.from_bytes(buf.getvalue())


@pytest.mark.parametrize("sr", [0, -16000, 400_000, 22050.5, float("nan"), True, "16000"])
def test_from_array_rejects_absurd_sample_rates(sr):
    with pytest.raises(InvalidRequest) as caught:
        Audio.from_array(np.zeros(100), sr)
    assert caught.value.param == "sr"


def test_from_array_rejects_channels_first_and_bad_samples():
    with pytest.raises(InvalidRequest, match="channels"):
        Audio.from_array(np.zeros((2, 48000)), 48000)
    with pytest.raises(InvalidRequest):
        Audio.from_array(np.zeros((10, 2, 2)), 8000)
    with pytest.raises(InvalidRequest):
        Audio.from_array(np.array([0.0, np.nan]), 8000)
    with pytest.raises(InvalidRequest):
        Audio.from_array(np.array(["a", "b"]), 8000)


def test_bad_format_names_and_rates_are_invalid_requests(speech):
    with pytest.raises(InvalidRequest) as caught:
        speech.encode("ogg_vorbis")
    assert caught.value.param == "response_format"
    with pytest.raises(InvalidRequest) as caught:
        speech.encode("mp3", sr=96000)
    assert caught.value.param == "sr"
    with pytest.raises(InvalidRequest):
        Audio.from_bytes(speech.encode("wav"), "midi")
    with pytest.raises(InvalidRequest):
        Audio.from_bytes(speech.encode("wav"), "wav", sr=16000)


# --- value semantics -----------------------------------------------------------------------


def test_audio_is_immutable(speech):
    assert not speech.samples.flags.writeable
    with pytest.raises(ValueError):
        speech.samples[0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        speech.sr = 16000
    tagged = speech.with_meta(voice="alloy")
    with pytest.raises(TypeError):
        tagged.meta["voice"] = "echo"
    assert tagged.meta == {"voice": "alloy"} and dict(speech.meta) == {}
    assert tagged.samples is speech.samples  # derived clips share the frozen buffer


def test_from_array_copies_so_the_caller_cannot_change_the_clip():
    source = np.zeros(100, dtype=np.float32)
    clip = Audio.from_array(source, 8000)
    source[:] = 1.0
    assert clip.peak == 0.0


def test_from_array_scales_integer_pcm():
    clip = Audio.from_array(np.array([0, 16384, -32768], dtype=np.int16), 8000)
    np.testing.assert_array_equal(clip.samples, np.array([0.0, 0.5, -1.0], dtype=np.float32))
    assert clip.samples.dtype == np.float32


def test_resample_changes_length_not_duration(speech):
    down = speech.resample(16000)
    assert down.sr == 16000
    assert abs(down.num_samples - 3 * 16000) <= 1
    assert down.duration == pytest.approx(speech.duration, abs=1e-3)
    assert spectral_similarity(speech, down) > 0.99
    assert speech.resample(speech.sr) is speech


def test_to_mono_averages_the_channels(speech):
    stereo = Audio.from_array(np.stack([speech.samples, np.zeros_like(speech.samples)], axis=1), speech.sr)
    assert stereo.channels == 2 and stereo.samples.shape == (speech.num_samples, 2)
    mono = stereo.to_mono()
    assert mono.channels == 1 and mono.samples.shape == (speech.num_samples,)
    np.testing.assert_allclose(mono.samples, speech.samples / 2, atol=1e-7)
    assert speech.to_mono() is speech
    assert len(stereo.to_pcm16()) == 2 * speech.num_samples


def test_slice_and_concat_add_up(two_cities):
    a, b = two_cities.slice(1.0, 2.5), two_cities.slice(7.0, 8.0).resample(16000)
    joined = Audio.concat([a.replace(text="one"), b.replace(text="two")], gap_s=0.5)
    assert joined.sr == a.sr
    assert joined.duration == pytest.approx(1.5 + 0.5 + 1.0, abs=1e-3)
    assert joined.text == "one two"
    assert two_cities.slice(40.0, 99.0).duration == pytest.approx(two_cities.duration - 40.0, abs=1e-3)
    with pytest.raises(InvalidRequest):
        two_cities.slice(3.0, 2.0)
    with pytest.raises(InvalidRequest):
        Audio.concat([])


def test_levels_of_a_known_tone():
    t = np.arange(48000) / 48000
    tone = Audio.from_array(0.5 * np.sin(2 * np.pi * 440 * t), 48000)
    assert tone.peak == pytest.approx(0.5, abs=1e-3)
    assert tone.rms_db == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.05)
    assert Audio.from_array(np.zeros(10), 8000).rms_db == float("-inf")


def test_write_picks_the_format_from_the_suffix(speech, tmp_path):
    for name, kind in [("a.mp3", "mp3"), ("a.ogg", "opus"), ("a.flac", "flac"), ("a.aac", "aac")]:
        path = speech.write(tmp_path / name)
        assert sniff(path.read_bytes()) == kind
        assert Audio.from_file(path).duration == pytest.approx(speech.duration, abs=0.06)
    raw = speech.write(tmp_path / "a.pcm")
    assert Audio.from_file(raw).sr == 24000
    with pytest.raises(InvalidRequest):
        speech.write(tmp_path / "a.xyz")


# --- display & laziness --------------------------------------------------------------------


def _embedded_wav(page: str) -> Audio:
    b64 = re.search(r'src="data:audio/wav;base64,([A-Za-z0-9+/=]+)"', page).group(1)
    return Audio.from_bytes(base64.b64decode(b64))


def test_repr_html_embeds_a_playable_wav_with_duration(speech):
    page = speech.replace(text="It was the best of times").with_meta()._repr_html_()
    assert "<audio controls" in page
    assert "3.00 s" in page and "48000 Hz" in page
    assert "It was the best of times" in page
    embedded = _embedded_wav(page)
    assert embedded.sr == 24000 and embedded.channels == 1
    assert embedded.duration == pytest.approx(3.0, abs=1e-3)


def test_repr_html_caps_very_long_clips():
    long = Audio.from_array(np.zeros(8000 * 610, dtype=np.float32), 8000)
    page = long._repr_html_()
    assert "first 10:00 of 10:10" in page
    assert _embedded_wav(page).duration == pytest.approx(600.0)


def test_plot_draws_with_audiolab_plots(speech):
    import matplotlib

    matplotlib.use("Agg")
    fig = speech.plot()
    assert [ax.get_ylabel() for ax in fig.axes] == ["amplitude", "frequency (Hz)"]


def test_audio_plot_depends_on_plots_not_on_eval():
    # Plots depend on Audio, never the reverse, and drawing a clip needs no evaluation code.
    code = (
        "import sys, numpy as np; from audiolab.audio import Audio; "
        "Audio.from_array(np.zeros(8000, np.float32), 8000).plot(); "
        "print(sorted(m for m in sys.modules if m.startswith('audiolab.eval') or m == 'jiwer'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_importing_audio_loads_no_heavy_library():
    code = (
        "import sys, audiolab.audio; "
        "print(sorted(m for m in ('librosa', 'matplotlib', 'av', 'soundfile', 'soxr') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

"""Recorder: the browser's PCM messages become an Audio; fallbacks and errors behave.

The front end is replaced by calling the widget's message handler exactly as ipywidgets does
when anywidget's ``model.send(msg, undefined, [buffer])`` arrives: ``(content, buffers)`` with
the buffers as memoryviews. The browser itself is exercised by the e2e tests (#9).
"""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

from audiolab.audio import Audio
from audiolab.errors import InvalidRequest
from audiolab.widgets.recorder import MIC_ERRORS, Recorder


class CapturingRecorder(Recorder):
    """A Recorder that keeps what it sends to the browser."""

    def send(self, content, buffers=None):
        self.__dict__.setdefault("sent_msgs", []).append((content, buffers or []))


def browser_sends(rec: Recorder, msg: dict, *arrays: np.ndarray) -> None:
    rec._handle_custom_msg(msg, [memoryview(a.astype("<f4").tobytes()) for a in arrays])


def record(rec: Recorder, samples: np.ndarray, sr: int, *, chunk: int, order=None) -> None:
    """Play the browser's side of one take: start, chunks (in ``order``), stop."""
    pieces = [samples[i:i + chunk] for i in range(0, len(samples), chunk)]
    browser_sends(rec, {"type": "start", "sr": sr, "channels": 1, "chunk_ms": 250})
    for seq in order or range(len(pieces)):
        browser_sends(rec, {"type": "chunk", "seq": seq, "sr": sr}, pieces[seq])
    browser_sends(rec, {"type": "stop", "chunks": len(pieces), "sr": sr})


def test_pcm_chunks_become_the_take_with_exact_samples(two_cities_path):
    speech = Audio.from_file(two_cities_path).slice(1.0, 3.3)  # 2.3 s of real speech at 48 kHz
    rec = CapturingRecorder()
    record(rec, speech.samples, speech.sr, chunk=12000)  # 250 ms chunks, the last one short
    take = rec.audio
    assert take.sr == 48000
    assert take.num_samples == speech.num_samples
    np.testing.assert_array_equal(take.samples, speech.samples)
    assert rec.status == "stopped" and rec.duration == pytest.approx(2.3, abs=1e-3)
    assert rec.elapsed == pytest.approx(speech.duration)


def test_chunks_arriving_out_of_order_are_reassembled_by_sequence():
    sr = 16000
    x = np.sin(np.arange(sr) / 7).astype(np.float32)
    rec = CapturingRecorder()
    record(rec, x, sr, chunk=4000, order=[1, 0, 3, 2])
    np.testing.assert_array_equal(rec.audio.samples, x)


def test_each_chunk_reaches_on_chunk_while_recording_with_its_level():
    sr = 8000
    seen = []
    rec = CapturingRecorder()
    rec.on_chunk(seen.append)
    browser_sends(rec, {"type": "start", "sr": sr})
    browser_sends(rec, {"type": "chunk", "seq": 0, "sr": sr}, np.full(2000, 0.5, np.float32))
    assert rec.status == "recording"
    assert rec.level_db == pytest.approx(20 * np.log10(0.5), abs=0.01)
    browser_sends(rec, {"type": "chunk", "seq": 1, "sr": sr}, np.full(2000, 0.01, np.float32))
    assert [c.num_samples for c in seen] == [2000, 2000]
    assert seen[1].sr == sr and rec.level_db == pytest.approx(-40.0, abs=0.01)
    assert rec.audio is None  # no take until the browser says stop


def test_the_take_is_sent_back_as_wav_for_playback():
    sr = 24000
    rec = CapturingRecorder()
    record(rec, np.random.default_rng(0).uniform(-0.5, 0.5, sr).astype(np.float32), sr, chunk=6000)
    content, buffers = rec.sent_msgs[-1]
    assert content["type"] == "take"
    played = Audio.from_bytes(bytes(buffers[0]))
    assert played.num_samples == sr and played.sr == sr


def test_use_this_take_confirms_and_notifies():
    used = []
    rec = CapturingRecorder()
    rec.on_use(used.append)
    record(rec, np.zeros(1600, np.float32), 16000, chunk=800)
    browser_sends(rec, {"type": "use"})
    assert rec.used is True and used == [rec.audio]


@pytest.mark.parametrize("name, words", [("NotAllowedError", "permission was denied"),
                                         ("NotFoundError", "No microphone was found"),
                                         ("InsecureContext", "https")])
def test_a_denied_or_missing_microphone_shows_an_inline_message(name, words):
    rec = CapturingRecorder()
    browser_sends(rec, {"type": "requesting"})
    assert rec.status == "requesting"
    browser_sends(rec, {"type": "error", "name": name, "message": "browser text"})
    assert rec.status == "error"
    assert words in rec.error and rec.error == MIC_ERRORS[name]
    assert "Upload" in rec.error  # always points at the fallback


def test_an_unknown_browser_error_keeps_its_name_and_message():
    rec = CapturingRecorder()
    browser_sends(rec, {"type": "error", "name": "WeirdError", "message": "the device exploded"})
    assert "WeirdError" in rec.error and "the device exploded" in rec.error


def test_the_path_fallback_loads_a_file(two_cities_path):
    rec = CapturingRecorder()
    take = rec.load(str(two_cities_path))
    assert rec.audio is take and take.duration == pytest.approx(44.37, abs=0.05)
    assert f"Audio.from_file({str(two_cities_path)!r})" in rec.to_code()


def test_the_upload_fallback_decodes_the_uploaded_file(two_cities_path):
    mp3 = Audio.from_file(two_cities_path).slice(0, 2).encode("mp3")
    rec = CapturingRecorder()
    upload = rec.panel.children[-1].children[0]
    # The front end's state update, as the widget manager delivers it (content as a binary buffer).
    upload.set_state({"value": [{"name": "clip.mp3", "type": "audio/mpeg", "size": len(mp3),
                                 "content": memoryview(mp3), "last_modified": 1767225600000}]})
    assert rec.audio is not None and rec.audio.duration == pytest.approx(2.0, abs=0.06)
    assert rec.error == ""


def test_a_non_audio_upload_shows_an_error_instead_of_raising():
    rec = CapturingRecorder()
    rec._load_safely(b"%PDF-1.7 not audio at all", "notes.pdf")
    assert rec.status == "error" and "notes.pdf" in rec.error and "PDF" in rec.error
    assert rec.audio is None


def test_ipywebrtc_engine_decodes_its_webm_opus_recording(two_cities_path):
    import av

    speech = Audio.from_file(two_cities_path).slice(0, 1.5).resample(48000)
    buf = io.BytesIO()
    with av.open(buf, "w", format="webm") as out:  # what MediaRecorder produces in Chrome
        stream = out.add_stream("libopus", rate=48000, layout="mono")
        for i in range(0, speech.num_samples, 960):
            frame = av.AudioFrame.from_ndarray(
                speech.samples[None, i : i + 960].copy(), format="flt", layout="mono"
            )
            frame.sample_rate = 48000
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    rec = CapturingRecorder(engine="ipywebrtc")
    assert rec.panel.children[0] is rec._webrtc  # its recorder is shown above ours
    rec._webrtc.audio.value = buf.getvalue()
    assert rec.audio.duration == pytest.approx(1.5, abs=0.05)
    assert rec.audio.meta["engine"] == "ipywebrtc" and rec.status == "stopped"


def test_unknown_engine_is_rejected():
    with pytest.raises(InvalidRequest) as err:
        Recorder(engine="flash")
    assert err.value.param == "engine"


def test_import_audiolab_loads_no_widget_code():
    code = (
        "import sys, time; t = time.perf_counter(); import audiolab; dt = time.perf_counter() - t; "
        "bad = [m for m in sys.modules if m.startswith(('audiolab.widgets', 'anywidget', 'ipywidgets'))]; "
        "print(dt, bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split(" ", 1)
    assert out[1].strip() == "[]"
    assert float(out[0]) <= 1.0

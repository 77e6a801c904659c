"""StreamingPlayer: what Python sends the browser adds up to exactly the audio fed to it.

The browser side is replaced by a subclass that captures ``send(content, buffers)``; scheduling
in WebAudio is tested in a real browser by #9.
"""

from __future__ import annotations

import numpy as np
import pytest

import audiolab
from audiolab.audio import Audio
from audiolab.errors import InvalidRequest
from audiolab.widgets.player import StreamingPlayer


class CapturingPlayer(StreamingPlayer):
    def send(self, content, buffers=None):
        self.__dict__.setdefault("sent_msgs", []).append((content, buffers or []))

    def chunks(self) -> list[tuple[dict, np.ndarray]]:
        return [(c, np.frombuffer(b[0], dtype="<f4")) for c, b in self.sent_msgs if c["type"] == "chunk"]


def test_feeding_an_audio_sends_all_its_samples_as_float32_buffers(two_cities_path):
    clip = Audio.from_file(two_cities_path).slice(0, 2.1)  # 100800 samples at 48 kHz
    player = CapturingPlayer()
    sent = player.feed(clip, chunk_s=0.25)
    chunks = player.chunks()
    assert sent == clip.num_samples == sum(len(x) for _, x in chunks) == player.sent
    assert len(chunks) == 9 and all(c["sr"] == 48000 for c, _ in chunks)
    np.testing.assert_array_equal(np.concatenate([x for _, x in chunks]), clip.samples)
    assert [c["seq"] for c, _ in chunks] == list(range(9))


def test_stereo_is_mixed_to_mono_before_sending():
    left, right = np.full(1000, 0.2, np.float32), np.full(1000, 0.6, np.float32)
    player = CapturingPlayer()
    player.feed(Audio.from_array(np.stack([left, right], axis=1), 8000))
    (_, x), = player.chunks()
    np.testing.assert_allclose(x, 0.4, rtol=1e-6)


def test_pcm_split_at_odd_byte_boundaries_is_reassembled_exactly():
    pcm = np.random.default_rng(1).integers(-20000, 20000, 24000).astype("<i2").tobytes()
    pieces = [pcm[i:i + 777] for i in range(0, len(pcm), 777)]  # 777: cuts samples in half
    player = CapturingPlayer()
    audio = player.play_stream(iter(pieces), sr=24000)
    expected = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768
    sent = np.concatenate([x for _, x in player.chunks()])
    np.testing.assert_array_equal(sent, expected)
    np.testing.assert_array_equal(audio.samples, expected)
    kinds = [c["type"] for c, _ in player.sent_msgs]
    assert kinds[0] == "begin" and kinds[-1] == "end" and player.status == "done"
    # the first bytes go out at once; later ones are coalesced to >= 0.1 s
    assert len(player.chunks()[0][1]) == 388 and all(len(x) >= 2400 for _, x in player.chunks()[1:-1])


@pytest.mark.engines
def test_streaming_tts_from_the_local_backend_plays_every_sample():
    lab = audiolab.connect("local")
    player = CapturingPlayer()
    text = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background."
    with lab.client.audio.speech.with_streaming_response.create(
            model="gpt-4o-mini-tts", voice="alloy", input=text, response_format="pcm") as response:
        audio = player.play_stream(response, sr=24000)
    assert audio.duration > 2.0
    assert player.sent == audio.num_samples == sum(len(x) for _, x in player.chunks())
    assert len(player.chunks()) > 1  # streamed in pieces, not as one blob
    assert (
        player.ttfb_ms >= 0 and audio.meta["ttfb_ms"] == player.ttfb_ms and audio.meta["dropped_bytes"] == 0
    )


def test_begin_resets_the_counters_for_the_next_stream():
    player = CapturingPlayer()
    player.feed(Audio.from_array(np.zeros(4000), 16000))
    player.begin(sr=24000)
    assert player.sent == 0 and player.ttfb_ms == -1 and player.sample_rate == 24000
    assert player.sent_msgs[-1][0] == {"type": "begin", "sr": 24000}


def test_the_browser_reports_received_samples_through_a_synced_trait():
    player = CapturingPlayer()
    assert {"received", "enabled", "ttfa_ms"} <= set(player.keys)  # synced to the front end
    player.set_state({"received": 24000, "enabled": True, "ttfa_ms": 180})  # as the widget manager applies it
    assert (player.received, player.enabled, player.ttfa_ms) == (24000, True, 180)


def test_feed_rejects_anything_but_audio():
    with pytest.raises(InvalidRequest):
        CapturingPlayer().feed(np.zeros(10))

"""The event timeline of a realtime session: lookups, the table view, and the plot."""

from __future__ import annotations

import io

import numpy as np

from audiolab.audio import Audio
from audiolab.plots.realtime import plot_events
from audiolab.realtime.timeline import RealtimeRun, TimedEvent, Timeline

EVENTS = Timeline((
    TimedEvent(0.0, "session.updated"),
    TimedEvent(0.0, "input_audio_buffer.append", direction="client", audio_bytes=4800),
    TimedEvent(0.31, "input_audio_buffer.speech_started", item_id="item_1", audio_ms=300),
    TimedEvent(1.9, "input_audio_buffer.speech_stopped", item_id="item_1", audio_ms=1900),
    TimedEvent(1.9, "input_audio_buffer.committed", item_id="item_1"),
    TimedEvent(2.4, "response.output_audio.delta", response_id="resp_1", audio_bytes=9600),
    TimedEvent(2.5, "response.output_audio.delta", response_id="resp_1", audio_bytes=9600),
    TimedEvent(2.6, "conversation.item.truncate", direction="client", item_id="item_2"),
    TimedEvent(3.0, "response.done", response_id="resp_1"),
))


def test_first_finds_the_earliest_event_at_or_after_a_time():
    assert EVENTS.first("response.output_audio.delta") == 2.4
    assert EVENTS.first("response.output_audio.delta", after=2.45) == 2.5
    assert EVENTS.first("error") is None


def test_of_filters_by_type_and_direction():
    assert [e.t for e in EVENTS.of("response.output_audio.delta")] == [2.4, 2.5]
    assert EVENTS.of("conversation.item.truncate", direction="server") == []
    assert len(EVENTS.of("conversation.item.truncate", direction="client")) == 1


def test_types_lists_server_events_with_repeats_collapsed():
    assert EVENTS.types() == ["session.updated", "input_audio_buffer.speech_started",
                              "input_audio_buffer.speech_stopped", "input_audio_buffer.committed",
                              "response.output_audio.delta", "response.done"]


def test_table_leaves_out_audio_appends():
    df = EVENTS.to_frame()
    assert len(df) == len(EVENTS) - 1
    assert "input_audio_buffer.append" not in set(df["type"])
    assert df.loc[df["type"] == "input_audio_buffer.speech_stopped", "audio_ms"].item() == 1900


def test_plot_marks_vad_positions_on_the_waveform_and_one_row_per_type():
    clip = Audio.from_array(np.sin(np.arange(24000 * 3) / 9).astype(np.float32) * 0.3, 24000)
    run = RealtimeRun(kind="realtime", model="m", input=clip, timeline=EVENTS, transcript="")
    fig = plot_events(run)
    wave, rows = fig.axes
    labels = [t.get_text() for t in rows.get_yticklabels()]
    assert labels == ["speech_started", "speech_stopped", "committed", "response.output_audio.delta",
                      "item.truncate", "response.done"]
    vad_lines = [line for line in wave.get_lines() if line.get_linestyle() == "--"]
    assert sorted(line.get_xdata()[0] for line in vad_lines) == [0.3, 1.9]
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"

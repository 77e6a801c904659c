"""Realtime sessions driven from a clip or a recorder: transcripts, event timelines, barge-in.

Everything runs against the real local backend over a real WebSocket, through the official
SDK's ``client.realtime.connect``, on real speech (a LibriVox reading) and on local TTS.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

import audiolab
from audiolab.audio import Audio
from audiolab.errors import InvalidRequest
from audiolab.eval.metrics import wer
from audiolab.plots.realtime import plot_events
from audiolab.realtime.conversation import LiveTranscription, RealtimeRun, converse, transcribe_realtime
from tests.conftest import speech_clip_path
from tests.spoken import clean_take, spoken_cer

pytestmark = pytest.mark.engines  # every test here talks to the local backend

FIRST_LINE = "It was the best of times, it was the worst of times,"


@pytest.fixture(scope="module")
def lab():
    return audiolab.connect("local")


@pytest.fixture(scope="module")
def best_of_times() -> Audio:
    """The first line of A Tale of Two Cities (real speech, 48 kHz), about 4.2 s."""
    return Audio.from_file(speech_clip_path("two_cities.wav")).slice(0.6, 4.79)


@pytest.fixture(scope="module")
def question(lab) -> Audio:
    return clean_take(lab, "What is the tallest mountain in the world?")


def _order(run: RealtimeRun, *types: str) -> list[float]:
    return [run.timeline.first(t) for t in types]


def test_transcription_session_transcribes_real_speech_streamed_in_chunks(lab, best_of_times):
    run = transcribe_realtime(lab, best_of_times, model="gpt-transcribe", pace=0)
    assert run.kind == "transcription"
    assert wer(FIRST_LINE, run.transcript) <= 0.2, run.transcript
    started, stopped, committed, done = _order(
        run, "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed", "conversation.item.input_audio_transcription.completed")
    assert None not in (started, stopped, committed, done), run.timeline.types()
    assert started <= stopped <= committed <= done
    # What was sent: the clip at 24 kHz plus one second of silence for the VAD.
    assert run.input.sr == 24000
    assert run.input.duration == pytest.approx(best_of_times.duration + 1.0, abs=0.11)
    assert run.latency["speech_stopped_to_transcript"] >= 0


def test_paced_stream_keeps_events_behind_the_audio_that_caused_them(lab, best_of_times):
    run = transcribe_realtime(lab, best_of_times.slice(0, 2.5), model="gpt-transcribe", pace=1.0)
    stop = run.timeline.of("input_audio_buffer.speech_stopped")[0]
    # In real time the server cannot report the end of speech before that audio was sent.
    assert stop.t >= stop.audio_ms / 1000 - 0.05
    appends = run.timeline.of("input_audio_buffer.append", direction="client")
    assert appends[-1].t == pytest.approx(run.input.duration - 0.1, abs=0.35)


def test_manual_commit_without_turn_detection_makes_one_turn(lab, best_of_times):
    run = transcribe_realtime(lab, best_of_times, model="whisper-1", turn_detection=None, pace=0, silence_s=0)
    assert run.timeline.of("input_audio_buffer.speech_started") == []
    assert len(run.timeline.of("input_audio_buffer.commit", direction="client")) == 1
    assert len(run.input_transcripts) == 1
    assert wer(FIRST_LINE, run.transcript) <= 0.2


def test_speech_to_speech_answers_with_audio_that_matches_its_transcript(lab, question):
    seen = []
    run = converse(lab, question, model="gpt-realtime-mini", voice="marin", pace=0, max_output_tokens=30,
                   instructions="Answer in one short sentence.", transcription_model="gpt-transcribe",
                   on_event=lambda e: seen.append(e["type"]))
    assert len(run.responses) == 1
    # A capped answer ends "incomplete" with the reason; anything else is a failure.
    assert (run.responses[0]["status"], run.responses[0]["reason"]) in (("completed", None),
                                                                        ("incomplete", "max_output_tokens"))
    assert run.output is not None and run.output.duration > 0.5
    assert run.transcript.strip()
    assert wer(question.text, " ".join(run.input_transcripts)) <= 0.25
    # The answer's audio says what its transcript says.
    heard = lab.client.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", run.output.to_wav_bytes())
    ).text
    assert spoken_cer(run.transcript, heard) <= 0.35, (run.transcript, heard)
    created, first_audio, done = _order(
        run, "response.created", "response.output_audio.delta", "response.done"
    )
    assert created <= first_audio <= done
    assert run.latency["speech_stopped_to_first_audio"] > 0
    assert seen.count("response.done") == 1 and seen[:2] == ["session.created", "session.updated"]


def test_barge_in_truncates_the_answer_at_what_was_played(lab, question):
    interruption = Audio.from_bytes(lab.client.audio.speech.create(
        model="gpt-4o-mini-tts", voice="echo", input="Wait, stop. Tell me a joke instead.",
        response_format="wav").content)
    run = converse(
        lab,
        question,
        model="gpt-realtime-mini",
        voice="marin",
        interrupt=interruption,
        interrupt_after_s=0.3,
        instructions="Answer in three or four sentences.",
        max_output_tokens=40,
    )
    truncates = run.timeline.of("conversation.item.truncate", direction="client")
    assert len(truncates) == 1
    played_ms = truncates[0].data["audio_end_ms"]
    first = run.responses[0]
    assert 0 < played_ms < first["audio"].duration * 1000
    assert run.timeline.of("conversation.item.truncated"), run.timeline.types()
    # The interruption was heard as a new turn and answered.
    assert len(run.responses) == 2 and run.responses[-1]["status"] in ("completed", "incomplete")
    # Cancelled by the barge-in, or already finished when it came (completed, or cut at
    # max_output_tokens: on a busy machine the answer can finish before the interruption lands).
    assert first["status"] in ("cancelled", "completed", "incomplete")
    if first["status"] == "cancelled":
        assert first["reason"] == "turn_detected"
    if first["status"] == "incomplete":
        assert first["reason"] == "max_output_tokens"


def test_barge_in_needs_turn_detection(lab, question):
    with pytest.raises(InvalidRequest) as err:
        converse(lab, question, model="gpt-realtime-mini", turn_detection=None, interrupt=question)
    assert err.value.param == "interrupt"


def test_a_refused_session_configuration_raises_invalid_request(lab, question):
    with pytest.raises(InvalidRequest) as err:
        converse(lab, question, model="gpt-realtime-mini", voice="nobody")
    assert err.value.param == "session.audio.output.voice"


def test_live_transcription_streams_recorder_chunks_as_they_arrive(lab, best_of_times):
    from audiolab.widgets.recorder import Recorder

    class QuietRecorder(Recorder):
        def send(self, content, buffers=None):  # no browser on the other side
            pass

    rec = QuietRecorder()
    live = LiveTranscription(lab, rec, model="gpt-transcribe")
    clip = Audio.concat([best_of_times, Audio.from_array(np.zeros(48000), 48000)])
    samples = clip.samples.astype("<f4")
    rec._handle_custom_msg({"type": "start", "sr": clip.sr}, [])
    for seq, i in enumerate(range(0, len(samples), 12000)):  # 250 ms chunks, as the browser sends them
        rec._handle_custom_msg(
            {"type": "chunk", "seq": seq, "sr": clip.sr}, [memoryview(samples[i : i + 12000].tobytes())]
        )
    rec._handle_custom_msg({"type": "stop"}, [])
    run = live.result(timeout=60)
    assert live.done
    assert wer(FIRST_LINE, run.transcript) <= 0.2, run.transcript
    assert live.transcripts and "live transcription" in live._repr_html_().lower()


def test_plot_events_draws_one_row_per_event_type_under_the_waveform(lab, best_of_times):
    run = transcribe_realtime(lab, best_of_times.slice(0, 2.5), model="gpt-transcribe", pace=0)
    fig = plot_events(run)
    wave, events = fig.axes
    labels = [t.get_text() for t in events.get_yticklabels()]
    assert "speech_started" in labels and "speech_stopped" in labels
    assert any("completed" in label for label in labels)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"

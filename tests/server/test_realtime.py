"""``wss /v1/realtime`` driven by the SDK's own ``client.realtime.connect()`` over a real WebSocket,
with real engines (Silero VAD, whisper-base, SmolLM2, Piper/eSpeak) on real clips.

Every server event is validated into the SDK's ``RealtimeServerEvent`` union (pydantic, not the
SDK's unchecked construct) and against OpenAI's published schema.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import warnings

import numpy as np
import pytest
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

from audiolab.audio import Audio
from audiolab.eval.datasets import real_speech
from audiolab.eval.metrics import wer
from tests.server.realtime_wire import WireEvents
from tests.spoken import spoken_cer

pytestmark = pytest.mark.anyio

_EVENTS = TypeAdapter(RealtimeServerEvent)
_RATE = 24_000
_CHUNK = _RATE // 10  # 100 ms


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def clips():
    ds = real_speech(include_synthetic=True, sr=_RATE)
    return {u.id: u for u in ds}


_WIRE = WireEvents(_EVENTS, "RealtimeServerEvent", next_timeout=60.0, until_timeout=60.0)
_parse, _next = _WIRE.parse, _WIRE.next
_until = _WIRE.until


def _pcm(audio: Audio, *, lead_s: float = 0.0, tail_s: float = 0.0) -> np.ndarray:
    speech = np.frombuffer(audio.resample(_RATE).to_pcm16(), dtype="<i2")
    return np.concatenate([np.zeros(int(lead_s * _RATE), "<i2"), speech, np.zeros(int(tail_s * _RATE), "<i2")])


async def _stream(conn, pcm: np.ndarray) -> None:
    for i in range(0, len(pcm), _CHUNK):
        await conn.input_audio_buffer.append(audio=base64.b64encode(pcm[i:i + _CHUNK].tobytes()).decode())


def _decoded_pcm(deltas) -> np.ndarray:
    return np.frombuffer(b"".join(base64.b64decode(d.delta) for d in deltas), dtype="<i2")


async def test_spoken_question_is_answered_with_audio_and_transcript_in_openai_order(lab, clips):
    question = clips["endgame-01"]  # "Do you hear me?"
    async with lab.aclient.realtime.connect(model="gpt-realtime") as conn:
        created = await _next(conn)
        assert created.type == "session.created" and created.session.type == "realtime"
        assert created.session.audio.input.turn_detection.type == "server_vad"
        await conn.session.update(session={
            "type": "realtime", "instructions": "You are a friendly assistant. Answer in one short sentence.",
            "audio": {"input": {"transcription": {"model": "whisper-1", "language": "en"}},
                      "output": {"voice": "marin"}}})
        assert (await _next(conn)).type == "session.updated"
        await _stream(conn, _pcm(question.audio, lead_s=0.3, tail_s=1.0))
        events = await _until(conn, lambda e: e.type == "response.done", timeout=90)
        # Then the client manages the conversation: it played 300 ms of the answer, cuts it there...
        answer_id = events[-1].response.output[0].id
        await conn.conversation.item.truncate(item_id=answer_id, content_index=0, audio_end_ms=300)
        truncated = await _next(conn)
        await conn.conversation.item.retrieve(item_id=answer_id)
        retrieved = await _next(conn)
        await conn.output_audio_buffer.clear()
        cleared = await _next(conn)
        # ...and forgets its own question.
        await conn.conversation.item.delete(item_id=events[2].item_id)
        deleted = await _next(conn)
        await conn.conversation.item.retrieve(item_id=events[2].item_id)
        gone = await _next(conn)

    skeleton = [e.type for e in events if not e.type.endswith(".delta")
                and not e.type.startswith("conversation.item.input_audio_transcription")]
    assert skeleton == [
        "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed",
        "conversation.item.added", "conversation.item.done", "response.created", "response.output_item.added",
        "conversation.item.added", "response.content_part.added", "response.output_audio.done",
        "response.output_audio_transcript.done", "response.content_part.done", "response.output_item.done",
        "conversation.item.done", "response.done"]
    first = {}
    for e in events:
        first.setdefault(e.type, e)
    started, stopped = first["input_audio_buffer.speech_started"], first["input_audio_buffer.speech_stopped"]
    committed = first["input_audio_buffer.committed"]
    assert started.item_id == stopped.item_id == committed.item_id
    assert committed.previous_item_id is None
    assert 0 <= started.audio_start_ms <= 300 + 200  # onset (0.3 s of lead silence) minus 300 ms padding
    speech_ms = 1000 * question.audio.duration
    assert speech_ms * 0.5 + 500 <= stopped.audio_end_ms - started.audio_start_ms <= speech_ms + 300 + 500 + 200

    heard = first["conversation.item.input_audio_transcription.completed"]
    assert heard.item_id == committed.item_id
    assert wer(question.text, heard.transcript) <= 0.25
    assert heard.usage.type == "duration" and heard.usage.seconds > 0.5

    answer = first["response.output_item.added"].item
    added = [e for e in events if e.type == "conversation.item.added"]
    assert added[1].item.id == answer.id and added[1].previous_item_id == committed.item_id
    response_id = first["response.created"].response.id
    audio = [e for e in events if e.type == "response.output_audio.delta"]
    words = [e for e in events if e.type == "response.output_audio_transcript.delta"]
    assert audio and words
    assert {(e.response_id, e.item_id) for e in audio + words} == {(response_id, answer.id)}
    assert events.index(words[0]) < events.index(audio[0])  # each sentence's text comes just before its sound
    transcript = first["response.output_audio_transcript.done"].transcript
    assert transcript and transcript == "".join(w.delta for w in words)

    pcm = _decoded_pcm(audio)
    spoken = Audio.from_array(pcm, _RATE)
    assert spoken.duration > 0.3 and spoken.rms_db > -40  # a one-word answer ("Yes.") is ~0.5 s
    # The sound says the transcript: whisper hears it back.
    back = lab.client.audio.transcriptions.create(model="whisper-1", file=("answer.wav", spoken.to_wav_bytes()),
                                                  language="en")
    assert spoken_cer(transcript, back.text) <= 0.35, (transcript, back.text)

    done = first["response.done"].response
    assert done.id == response_id and done.status == "completed" and done.status_details is None
    assert done.conversation_id is not None
    assert [o.id for o in done.output] == [answer.id]
    assert done.output[0].content[0].type == "output_audio" and done.output[0].content[0].transcript == transcript
    assert done.usage.output_token_details.audio_tokens == pytest.approx(20 * spoken.duration, abs=2)
    assert done.usage.input_token_details.audio_tokens > 0
    assert done.usage.total_tokens == done.usage.input_tokens + done.usage.output_tokens

    assert truncated.type == "conversation.item.truncated"
    assert (truncated.item_id, truncated.audio_end_ms) == (answer.id, 300)
    kept = retrieved.item.content[0]
    assert retrieved.type == "conversation.item.retrieved"
    assert len(base64.b64decode(kept.audio)) == 2 * 300 * _RATE // 1000
    assert len(kept.transcript.split()) < len(transcript.split())  # the unheard words are gone too
    assert (cleared.type, cleared.response_id) == ("output_audio_buffer.cleared", response_id)
    assert (deleted.type, deleted.item_id) == ("conversation.item.deleted", committed.item_id)
    assert gone.type == "error" and gone.error.code == "item_not_found"


async def test_transcription_session_streams_two_cities_with_server_vad(lab, clips):
    lines = [u for k, u in clips.items() if k.startswith("two_cities")]
    reference = " ".join(u.text for u in lines)
    recording = Audio.concat([u.audio for u in lines])  # the whole reading, cut-to-cut
    async with lab.aclient.realtime.connect(extra_query={"intent": "transcription"}) as conn:
        created = await _next(conn)
        assert created.type == "session.created" and created.session.type == "transcription"
        await conn.session.update(session={"type": "transcription", "audio": {"input": {
            "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
            "turn_detection": {"type": "server_vad", "threshold": 0.5, "silence_duration_ms": 500}}}})
        assert (await _next(conn)).type == "session.updated"
        await _stream(conn, _pcm(recording, tail_s=1.0))
        await conn.input_audio_buffer.clear()  # its "cleared" comes after every turn the audio produced
        events = await _until(conn, lambda e: e.type == "input_audio_buffer.cleared", timeout=30)
        committed = [e.item_id for e in events if e.type == "input_audio_buffer.committed"]
        transcripts: dict[str, str] = {}
        deltas: dict[str, str] = {}
        for e in events:
            if e.type == "conversation.item.input_audio_transcription.completed":
                transcripts[e.item_id] = e.transcript
        while len(transcripts) < len(committed):
            e = await _next(conn, 60)
            events.append(e)
            if e.type == "conversation.item.input_audio_transcription.completed":
                transcripts[e.item_id] = e.transcript
                assert e.usage.type == "tokens" and e.usage.input_token_details.audio_tokens > 0
    for e in events:
        if e.type == "conversation.item.input_audio_transcription.delta":
            deltas[e.item_id] = deltas.get(e.item_id, "") + e.delta
    assert len(committed) >= 4  # the reader pauses between clauses
    starts = [e.audio_start_ms for e in events if e.type == "input_audio_buffer.speech_started"]
    assert starts == sorted(starts)
    assert not any(e.type.startswith("response.") for e in events)
    for item_id in committed:
        assert deltas[item_id].split() == transcripts[item_id].split()
    hypothesis = " ".join(transcripts[i] for i in committed)
    assert wer(reference, hypothesis) <= 0.20


async def test_speech_during_a_response_cancels_it_with_turn_detected(lab, clips):
    async with lab.aclient.realtime.connect(model="gpt-realtime") as conn:
        await _next(conn)
        await conn.session.update(session={"type": "realtime", "instructions": "Tell long, detailed stories.",
                                           "audio": {"input": {"turn_detection": {
                                               "type": "server_vad", "create_response": False,
                                               "interrupt_response": True}}}})
        await _next(conn)
        await conn.conversation.item.create(item={"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "Tell me a long story about a dragon and a lighthouse."}]})
        await conn.response.create()
        before = await _until(conn, lambda e: e.type in ("response.output_audio.delta", "response.done"))
        assert before[-1].type == "response.output_audio.delta"  # the answer is being spoken...
        response_id = before[-1].response_id
        await _stream(conn, _pcm(clips["beckett-01"].audio.slice(0, 2.0), tail_s=0.8))  # ...when the user speaks
        events = await _until(conn, lambda e: e.type == "response.done")
    types = [e.type for e in events]
    assert types.index("input_audio_buffer.speech_started") < types.index("response.done")
    done = events[-1].response
    assert done.id == response_id and done.status == "cancelled"
    assert done.status_details.type == "cancelled" and done.status_details.reason == "turn_detected"
    # The parts opened before the interruption are closed, in order, and the answer is marked incomplete.
    answer_id = before[-1].item_id
    closing = [e.type for e in events if e.type in (
        "response.output_audio.done", "response.output_audio_transcript.done", "response.content_part.done",
        "response.output_item.done", "response.done")
        or (e.type == "conversation.item.done" and e.item.id == answer_id)]
    assert closing == ["response.output_audio.done", "response.output_audio_transcript.done",
                       "response.content_part.done", "response.output_item.done", "conversation.item.done",
                       "response.done"]
    assert done.output[0].status == "incomplete" and done.output[0].content[0].transcript


def test_out_of_band_response_leaves_the_conversation_alone(lab):
    with lab.client.realtime.connect(model="gpt-realtime") as conn:
        assert _parse(conn.recv_bytes()).type == "session.created"
        conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
        assert _parse(conn.recv_bytes()).type == "session.updated"
        conn.conversation.item.create(item={"type": "message", "role": "user",
                                            "content": [{"type": "input_text", "text": "Hello there, my friend!"}]})
        user_item = _parse(conn.recv_bytes()).item
        assert _parse(conn.recv_bytes()).type == "conversation.item.done"
        conn.response.create(response={
            "conversation": "none", "metadata": {"purpose": "greeting-check"},
            "instructions": "Say one short sentence.",
            "audio": {"output": {"format": {"type": "audio/pcma"}, "voice": "coral"}},
            "input": [{"type": "item_reference", "id": user_item.id}]})
        events = []
        while not events or events[-1].type != "response.done":
            events.append(_parse(conn.recv_bytes()))
        conn.conversation.item.retrieve(item_id=events[-1].response.output[0].id)
        missing = _parse(conn.recv_bytes())
        conn.conversation.item.retrieve(item_id=user_item.id)
        kept = _parse(conn.recv_bytes())
    types = [e.type for e in events]
    assert not any(t.startswith("conversation.item") for t in types)
    created, done = events[0].response, events[-1].response
    assert created.conversation_id is None and done.conversation_id is None
    assert created.metadata == done.metadata == {"purpose": "greeting-check"}
    assert done.status == "completed" and done.audio.output.format.type == "audio/pcma"
    assert done.output[0].content[0].transcript
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop  # the reference G.711 codec, in the standard library up to 3.12

    alaw = b"".join(base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta")
    heard = Audio.from_array(np.frombuffer(audioop.alaw2lin(alaw, 2), "<i2"), 8000)
    assert heard.duration > 0.3 and heard.rms_db > -40
    assert missing.type == "error" and missing.error.code == "item_not_found"
    assert kept.type == "conversation.item.retrieved" and kept.item.id == user_item.id


def test_text_only_responses_stream_output_text_and_can_be_cancelled(lab):
    with lab.client.realtime.connect(model="gpt-realtime") as conn:
        _parse(conn.recv_bytes())
        conn.session.update(session={"type": "realtime", "output_modalities": ["text"],
                                     "instructions": "Answer in one short sentence."})
        _parse(conn.recv_bytes())
        conn.conversation.item.create(item={"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "What is the capital of France?"}]})
        events = [_parse(conn.recv_bytes()) for _ in range(2)]
        conn.response.create()
        while events[-1].type != "response.done":
            events.append(_parse(conn.recv_bytes()))
        conn.response.create(response={"instructions": "Tell a very long story.", "max_output_tokens": "inf"})
        second = [_parse(conn.recv_bytes())]
        while second[-1].type != "response.output_text.delta":
            second.append(_parse(conn.recv_bytes()))
        conn.response.cancel()
        while second[-1].type != "response.done":
            second.append(_parse(conn.recv_bytes()))
    skeleton = [e.type for e in events[2:] if e.type != "response.output_text.delta"]
    assert skeleton == ["response.created", "response.output_item.added", "conversation.item.added",
                        "response.content_part.added", "response.output_text.done", "response.content_part.done",
                        "response.output_item.done", "conversation.item.done", "response.done"]
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text.strip()  # (a 135M model: what it says is not checked, only how it is carried)
    assert next(e for e in events if e.type == "response.content_part.added").part.type == "text"
    done = events[-1].response
    assert done.status == "completed" and done.output_modalities == ["text"]
    assert done.output[0].content[0].type == "output_text" and done.output[0].content[0].text == text
    assert done.usage.output_token_details.audio_tokens == 0 and done.usage.output_tokens > 0
    cancelled = second[-1].response
    assert cancelled.status == "cancelled" and cancelled.status_details.reason == "client_cancelled"
    assert cancelled.output[0].status == "incomplete"


def test_mulaw_input_with_manual_commit_is_transcribed(lab, clips):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop

    line = clips["beckett-01"]
    ulaw = audioop.lin2ulaw(line.audio.resample(8000).to_pcm16(), 2)
    with lab.client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
        _parse(conn.recv_bytes())
        conn.session.update(session={"type": "transcription", "audio": {"input": {
            "format": {"type": "audio/pcmu"}, "turn_detection": None,
            "transcription": {"model": "whisper-1", "language": "en"}}}})
        assert _parse(conn.recv_bytes()).session.audio.input.format.type == "audio/pcmu"
        for i in range(0, len(ulaw), 800):
            conn.input_audio_buffer.append(audio=base64.b64encode(ulaw[i:i + 800]).decode())
        conn.input_audio_buffer.commit()
        events = [_parse(conn.recv_bytes())]
        while events[-1].type != "conversation.item.input_audio_transcription.completed":
            events.append(_parse(conn.recv_bytes()))
    assert [e.type for e in events[:3]] == ["input_audio_buffer.committed", "conversation.item.added",
                                            "conversation.item.done"]
    assert not any(e.type.startswith("input_audio_buffer.speech") for e in events)  # no VAD
    assert wer(line.text, events[-1].transcript) <= 0.25
    assert events[-1].usage.type == "duration"
    assert events[-1].usage.seconds == pytest.approx(line.audio.duration, abs=0.1)


def test_semantic_vad_is_accepted_and_reported_back(lab):
    with lab.client.realtime.connect(model="gpt-realtime-mini") as conn:
        _parse(conn.recv_bytes())
        conn.session.update(session={"type": "realtime", "audio": {"input": {
            "turn_detection": {"type": "semantic_vad", "eagerness": "high"}}}})
        td = _parse(conn.recv_bytes()).session.audio.input.turn_detection
    assert td.type == "semantic_vad" and td.eagerness == "high" and td.interrupt_response is True


_MB16 = base64.b64encode(bytes(16 * 1024 * 1024)).decode()
MISTAKES = {
    "unknown_event_type": ('{"type": "response.explode", "event_id": "evt_1"}', "invalid_value", "type"),
    "invalid_json": ('{"type": "session.update", ', "invalid_json", None),
    "binary_frame": (b"\x00\x01\x02", "invalid_event", None),
    "empty_commit": ('{"type": "input_audio_buffer.commit", "event_id": "evt_1"}',
                     "input_audio_buffer_commit_empty", None),
    "threshold_out_of_range": (json.dumps({"type": "session.update", "event_id": "evt_1", "session": {
        "type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 1.5}}}}}),
        "decimal_above_max_value", "session.audio.input.turn_detection.threshold"),
    "unknown_session_field": (json.dumps({"type": "session.update", "event_id": "evt_1",
                                          "session": {"type": "realtime", "temperature": 0.8}}),
                              "unknown_parameter", "session.temperature"),
    "unknown_voice": (json.dumps({"type": "session.update", "event_id": "evt_1", "session": {
        "type": "realtime", "audio": {"output": {"voice": "nobody"}}}}), "invalid_value", "session.audio.output.voice"),
    "huge_append": (json.dumps({"type": "input_audio_buffer.append", "event_id": "evt_1", "audio": _MB16}),
                    "payload_too_large", "audio"),
    "cancel_without_response": ('{"type": "response.cancel", "event_id": "evt_1"}', "response_cancel_not_active", None),
    "retrieve_missing_item": ('{"type": "conversation.item.retrieve", "event_id": "evt_1", "item_id": "item_x"}',
                              "item_not_found", "item_id"),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
async def test_mistake_gets_an_error_event_and_the_socket_stays_open(lab, mistake):
    frame, code, param = MISTAKES[mistake]
    async with lab.aclient.realtime.connect(model="gpt-realtime") as conn:
        await _next(conn)
        await conn.send_raw(frame)
        err = await _next(conn)
        assert err.type == "error"
        assert (err.error.code, err.error.param) == (code, param)
        assert err.error.type == "invalid_request_error" and err.error.message
        if isinstance(frame, str) and '"evt_1"' in frame and code != "invalid_json":
            assert err.error.event_id == "evt_1"
        await conn.session.update(session={"type": "realtime", "instructions": "Still here?"})
        assert (await _next(conn)).session.instructions == "Still here?"


async def test_disconnect_mid_response_leaves_nothing_running(lab):
    from audiolab.client.lab import local_server

    app = local_server().app
    async with lab.aclient.realtime.connect(model="gpt-realtime") as conn:
        await _next(conn)
        await conn.conversation.item.create(item={"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "Tell me a long story about the sea."}]})
        await conn.response.create()
        await _until(conn, lambda e: e.type in ("response.output_audio.delta", "response.done"), timeout=60)
        assert app.state.realtime_sessions
    deadline = time.monotonic() + 15
    while (app.state.realtime_sessions or app.state.jobs.running) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not app.state.realtime_sessions
    assert app.state.jobs.running == 0 and app.state.jobs.waiting == 0


async def _turn_with_a_wait(lab, first: np.ndarray, rest: np.ndarray, *, silence_ms: int):
    """Stream ``first``, give the server a few seconds (a speculative transcript and answer can start), then
    ``rest``; return the events up to ``response.done`` and the prompt tokens the chat endpoint counts for the
    transcribed turn."""
    instructions = "You are a friendly assistant. Answer in one short sentence."
    async with lab.aclient.realtime.connect(model="gpt-realtime") as conn:
        await _next(conn)
        await conn.session.update(session={"type": "realtime", "instructions": instructions, "audio": {"input": {
            "transcription": {"model": "whisper-1", "language": "en"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": silence_ms}}}})
        await _next(conn)
        await _stream(conn, first)
        await asyncio.sleep(3.0)
        await _stream(conn, rest)
        events = await _until(conn, lambda e: e.type == "response.done", timeout=90)
    heard = next(e for e in events if e.type == "conversation.item.input_audio_transcription.completed").transcript
    chat = await lab.aclient.chat.completions.create(model="gpt-4o-mini", max_tokens=1, messages=[
        {"role": "system", "content": instructions}, {"role": "user", "content": heard}])
    return events, heard, chat.usage.prompt_tokens


def _answer_skeleton(events) -> list[str]:
    return [e.type for e in events if e.type.startswith(("response.", "input_audio_buffer."))
            and not e.type.endswith(".delta")]


async def test_speculative_answer_is_dropped_when_the_speaker_goes_on(lab, clips):
    # A pause inside the turn, shorter than silence_duration_ms (2.5 s): the server transcribes and may start
    # answering "Do you hear me?", then the speaker goes on; the answer must be to the whole turn.
    first = _pcm(clips["endgame-01"].audio, lead_s=0.3, tail_s=0.8)
    rest = _pcm(clips["beckett-01"].audio.slice(0, 2.0), tail_s=3.0)
    events, heard, prompt_tokens = await _turn_with_a_wait(lab, first, rest, silence_ms=2500)
    assert _answer_skeleton(events)[:4] == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                                            "input_audio_buffer.committed", "response.created"]
    assert len(heard.split()) > 4  # both parts of the turn were heard...
    done = events[-1].response
    assert done.status == "completed"
    assert done.usage.input_token_details.text_tokens == prompt_tokens  # ...and answered, not just the first


async def test_speculative_answer_is_replayed_in_openai_order(lab, clips):
    # The turn ends, then stays silent for 3 s before silence_duration_ms (2 s of audio) has passed: the answer
    # is prepared meanwhile, and the response replays it with the usual events.
    pcm = _pcm(clips["endgame-01"].audio, lead_s=0.3, tail_s=2.5)
    cut = len(pcm) - int(2.0 * _RATE)
    events, heard, prompt_tokens = await _turn_with_a_wait(lab, pcm[:cut], pcm[cut:], silence_ms=2000)
    assert _answer_skeleton(events) == [
        "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed",
        "response.created", "response.output_item.added", "response.content_part.added",
        "response.output_audio.done", "response.output_audio_transcript.done", "response.content_part.done",
        "response.output_item.done", "response.done"]
    done = events[-1].response
    assert done.status == "completed" and done.usage.input_token_details.text_tokens == prompt_tokens
    spoken = "".join(e.delta for e in events if e.type == "response.output_audio_transcript.delta")
    assert spoken and spoken == done.output[0].content[0].transcript
    assert _decoded_pcm([e for e in events if e.type == "response.output_audio.delta"]).size > _RATE // 4

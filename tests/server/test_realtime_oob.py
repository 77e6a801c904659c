"""Out-of-band responses (``response.create`` with ``conversation: "none"``, ``input`` and ``metadata``) over
the SDK's ``realtime.connect()`` and a real WebSocket, with the real chat model.

OpenAI's semantics (RealtimeResponseCreateParams): ``input`` is a new context for the response instead of
the default conversation (items, or ``item_reference``s to conversation items); with ``conversation: "none"``
nothing is added to the conversation (``conversation_id`` is null, no ``conversation.item.*`` events), and
``metadata`` is echoed on the response. ``response.create`` events are checked against the SDK's
``ResponseCreateEventParam``; server events against the published schema and the SDK's ``RealtimeServerEvent``.
"""

from __future__ import annotations

import json

import pytest
from openai.types.realtime import RealtimeServerEvent, ResponseCreateEventParam
from pydantic import TypeAdapter

from tests.server.realtime_wire import WireEvents, ended_normally

pytestmark = [pytest.mark.anyio, pytest.mark.engines]

_EVENTS = TypeAdapter(RealtimeServerEvent)
_CREATE = TypeAdapter(ResponseCreateEventParam)
_STORY = ("The lighthouse keeper climbed the spiral stairs every evening, counted the ships on the grey horizon, "
          "wrote their names in a leather book and trimmed the lamp until the fog rolled in from the sea. ") * 6


@pytest.fixture
def anyio_backend():
    return "asyncio"


_WIRE = WireEvents(_EVENTS, "RealtimeServerEvent", next_timeout=90.0, until_timeout=120.0)
_parse, _next = _WIRE.parse, _WIRE.next
_until = _WIRE.until


async def _send(conn, event: dict) -> None:
    # The SDK's type, not the spec: its 'conversation' is a oneOf of two string schemas that both match 'none'.
    _CREATE.validate_python(event)
    await conn.send_raw(json.dumps(event))


def _user(text: str) -> dict:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


async def _add(conn, text: str):
    await conn.conversation.item.create(item=_user(text))
    return (await _until(conn, lambda e: e.type == "conversation.item.done"))[0].item


async def test_an_out_of_band_response_is_generated_from_its_input_only(lab):
    """Its prompt is the input array, not the conversation: the same request without input reads the story."""
    async with lab.aclient.realtime.connect(model="gpt-realtime") as conn:
        await _next(conn)
        await _add(conn, _STORY)
        base = {"conversation": "none", "output_modalities": ["text"], "max_output_tokens": 8,
                "instructions": "Answer with one word."}
        await _send(conn, {"type": "response.create", "response": {**base, "input": [_user("Say yes.")]}})
        own = await _until(conn, lambda e: e.type == "response.done")
        await _send(conn, {"type": "response.create", "response": base})
        whole = await _until(conn, lambda e: e.type == "response.done")
        await conn.conversation.item.retrieve(item_id=own[-1].response.output[0].id)
        missing = await _next(conn)
    story_words = len(_STORY.split())
    assert ended_normally(own[-1].response) and ended_normally(whole[-1].response)
    assert own[-1].response.usage.input_tokens < story_words / 4 < story_words < whole[-1].response.usage.input_tokens
    for events in (own, whole):
        assert not [e.type for e in events if e.type.startswith("conversation.")]
        assert events[-1].response.conversation_id is None and events[-1].response.output[0].content[0].text
    assert missing.type == "error" and missing.error.code == "item_not_found"


async def test_an_out_of_band_label_runs_beside_the_conversation_and_leaves_no_trace(lab):
    """Classify the user's last turn (by reference) while the conversation's own answer is being written."""
    async with lab.aclient.realtime.connect(model="gpt-realtime") as conn:
        await _next(conn)
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"],
                                           "max_output_tokens": 24})
        await _next(conn)
        turn = await _add(conn, "My cat knocked a glass off the table this morning.")
        await _send(conn, {"type": "response.create"})
        await _send(conn, {"type": "response.create", "response": {
            "conversation": "none", "output_modalities": ["text"], "max_output_tokens": 6,
            "metadata": {"purpose": "topic", "item": turn.id},
            "instructions": "Name the topic of the user's message in one word.",
            "input": [{"type": "item_reference", "id": turn.id}]}})
        events = await _until(conn, lambda e: e.type == "response.done")
        events += await _until(conn, lambda e: e.type == "response.done")
    created = {e.response.id: e.response for e in events if e.type == "response.created"}
    done = {e.response.id: e.response for e in events if e.type == "response.done"}
    assert len(created) == len(done) == 2 and not [e for e in events if e.type == "error"]
    (label_id,) = [rid for rid, r in created.items() if r.conversation_id is None]
    (answer_id,) = [rid for rid in created if rid != label_id]
    assert created[label_id].metadata == done[label_id].metadata == {"purpose": "topic", "item": turn.id}
    assert created[answer_id].metadata is None and created[answer_id].conversation_id
    assert ended_normally(done[label_id]) and ended_normally(done[answer_id])
    label_item = done[label_id].output[0].id
    added = [e for e in events if e.type == "conversation.item.added"]
    assert [e.item.id for e in added] == [done[answer_id].output[0].id]  # only the conversation's own answer
    assert added[0].previous_item_id == turn.id
    assert not [e for e in events if e.type.startswith("conversation.") and getattr(e, "item", None)
                and e.item.id == label_item]
    label = "".join(e.delta for e in events if e.type == "response.output_text.delta" and e.response_id == label_id)
    assert label.strip() and done[label_id].output[0].content[0].text == label


async def test_an_out_of_band_response_does_not_move_the_conversation(lab):
    """After an out-of-band answer, the next item follows the last conversation item, not the answer."""
    async with lab.aclient.realtime.connect(model="gpt-realtime") as conn:
        await _next(conn)
        turn = await _add(conn, "Hello.")
        await _send(conn, {"type": "response.create", "response": {
            "conversation": "none", "output_modalities": ["text"], "max_output_tokens": 6, "input": []}})
        done = (await _until(conn, lambda e: e.type == "response.done"))[-1].response
        await conn.conversation.item.create(item=_user("Again."))
        added = await _next(conn)
    assert done.status in ("completed", "incomplete") and done.conversation_id is None  # (6 tokens may cut it)
    assert added.type == "conversation.item.added" and added.previous_item_id == turn.id


MISTAKES = {
    "unknown_reference": ({"conversation": "none", "input": [{"type": "item_reference", "id": "item_nobody"}]},
                          "item_not_found", "response.input[0].id"),
    "bad_conversation": ({"conversation": "sometimes"}, "invalid_value", "response.conversation"),
    "bad_metadata": ({"conversation": "none", "metadata": {"n": 1}}, "invalid_value", "response.metadata"),
    "input_not_array": ({"conversation": "none", "input": "hello"}, "invalid_type", "response.input"),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
async def test_a_bad_out_of_band_request_gets_an_error_event(lab, mistake):
    response, code, param = MISTAKES[mistake]
    async with lab.aclient.realtime.connect(model="gpt-realtime") as conn:
        await _next(conn)
        await conn.send_raw(json.dumps({"type": "response.create", "event_id": "evt_oob", "response": response}))
        err = await _next(conn)
        await conn.session.update(session={"type": "realtime", "instructions": "Still here?"})
        still = await _next(conn)
    assert err.type == "error" and (err.error.code, err.error.param) == (code, param)
    assert err.error.event_id == "evt_oob"
    assert still.type == "session.updated"


def test_converse_asks_an_aside_about_the_spoken_turn_beside_the_answer(lab, spoken):
    """audiolab's client: converse(asides=...) labels the user's turn out of band while it is answered."""
    from audiolab.realtime.conversation import converse

    run = converse(lab, spoken("My cat knocked a glass off the table."), model="gpt-realtime-mini", pace=0,
                   asides={"topic": "Name the topic of the user's message in one word."}, timeout=120)
    raw = [e.data for e in run.timeline.events if e.direction == "server"]
    asked = [e.data for e in run.timeline.events if e.direction == "client" and e.type == "response.create"]
    committed = next(e for e in raw if e["type"] == "input_audio_buffer.committed")
    assert [a["response"]["input"] for a in asked] == [[{"type": "item_reference", "id": committed["item_id"]}]]
    assert set(run.asides) == {"topic"} and run.asides["topic"]
    assert len(run.responses) == 1 and run.responses[0]["status"] == "completed" and run.output is not None
    labels = [e for e in raw if e["type"] == "response.done" and e["response"].get("conversation_id") is None]
    assert [e["response"]["metadata"] for e in labels] == [{"aside": "topic", "item_id": committed["item_id"]}]
    added = [e["item"]["id"] for e in raw if e["type"] == "conversation.item.added"]
    assert labels[0]["response"]["output"][0]["id"] not in added


async def test_two_out_of_band_responses_beside_a_spoken_answer_all_finish(lab):
    """Three chat generations at once (they took turns on the engine's lock holding job slots, and hung)."""
    async with lab.aclient.realtime.connect(model="gpt-realtime") as conn:
        await _next(conn)
        turn = await _add(conn, "Tell me about the sea.")
        await _send(conn, {"type": "response.create", "response": {"max_output_tokens": 24}})
        for label in ("topic", "mood"):
            await _send(conn, {"type": "response.create", "response": {
                "conversation": "none", "output_modalities": ["text"], "max_output_tokens": 6,
                "metadata": {"aside": label}, "input": [{"type": "item_reference", "id": turn.id}]}})
        events = []
        for _ in range(3):
            events += await _until(conn, lambda e: e.type == "response.done", timeout=60)
    done = [e.response for e in events if e.type == "response.done"]
    assert sorted((r.metadata or {}).get("aside", "-") for r in done) == ["-", "mood", "topic"]
    assert all(r.status in ("completed", "incomplete") for r in done)

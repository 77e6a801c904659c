"""Fuzz ``wss /v1/realtime`` over a real WebSocket: malformed JSON, events of the wrong shape and
type (hypothesis), lone surrogates and deep nesting, binary frames, out-of-order commits, cancels
and truncations, and appends over the 15 MiB limit.

Every bad event must come back as an ``error`` event of OpenAI's shape (never a ``server_error``)
and leave the socket open; a frame over the WebSocket size limit closes the socket with 1009.
After all that, the server still holds a conversation.
"""

from __future__ import annotations

import base64
import collections
import json
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.reliability.conftest import health, tally
from tests.spec import validate

TYPES = (
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.retrieve",
    "conversation.item.delete",
    "conversation.item.truncate",
    "response.create",
    "response.cancel",
    "output_audio_buffer.clear",
)
EXAMPLES = 160

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=6,
)
session_fields = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(("realtime", "transcription", "translation", 3)),
        "instructions": st.one_of(st.text(max_size=30), json_values),
        "output_modalities": st.sampled_from((["text"], ["audio"], ["video"], [], "text", None)),
        "max_output_tokens": st.sampled_from((1, 0, -5, 4097, "inf", 10**30, 1.5, None)),
        "audio": st.fixed_dictionaries(
            {},
            optional={
                "input": st.fixed_dictionaries(
                    {},
                    optional={
                        "format": st.one_of(
                            json_values,
                            st.sampled_from(
                                (
                                    {"type": "audio/pcm", "rate": 8000},
                                    {"type": "audio/pcmu"},
                                    {"type": "audio/flac"},
                                )
                            ),
                        ),
                        "turn_detection": st.one_of(
                            st.none(),
                            json_values,
                            st.fixed_dictionaries(
                                {"type": st.sampled_from(("server_vad", "semantic_vad", "magic"))},
                                optional={
                                    "threshold": st.floats(-2, 2),
                                    "silence_duration_ms": st.integers(-10, 10**7),
                                    "prefix_padding_ms": st.integers(-10, 10**7),
                                    "eagerness": st.text(max_size=6),
                                },
                            ),
                        ),
                        "transcription": st.one_of(
                            json_values,
                            st.fixed_dictionaries(
                                {
                                    "model": st.sampled_from(
                                        ("whisper-1", "gpt-4o-transcribe", "../../etc/passwd", "")
                                    )
                                }
                            ),
                        ),
                    },
                ),
                "output": st.fixed_dictionaries(
                    {},
                    optional={
                        "voice": st.sampled_from(("alloy", "marin", "../../etc/passwd", "", 5, {"id": "x"})),
                        "speed": st.sampled_from((1.0, 0, 9, "fast")),
                        "format": json_values,
                    },
                ),
            },
        ),
        "tools": json_values,
        "tool_choice": json_values,
        "model": st.sampled_from(("gpt-realtime", "tts-1", "../x")),
        "bogus": json_values,
    },
)
audio_strings = st.one_of(
    st.text(max_size=20), st.sampled_from(("", "====", "AAA", "A", "@@@@", "\u00e9\u00e9\u00e9\u00e9")),
    st.binary(max_size=600).map(lambda b: base64.b64encode(b).decode()), json_values)
content_parts = st.lists(st.fixed_dictionaries({"type": st.sampled_from(
    ("input_text", "input_audio", "output_text", "output_audio", "text", "image", "item_reference", 7))},
    optional={"text": st.one_of(st.text(max_size=20), json_values), "audio": audio_strings,
              "transcript": st.text(max_size=10), "id": st.text(max_size=10)}), max_size=3)
items = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(("message", "function_call", "function_call_output", "item_reference", "nope")),
    "role": st.sampled_from(("user", "assistant", "system", "developer", "robot", None)),
    "content": st.one_of(content_parts, json_values), "id": st.text(max_size=40),
    "call_id": st.text(max_size=8), "output": st.text(max_size=8), "name": st.text(max_size=8),
    "arguments": st.text(max_size=8)})
fields = {
    "session.update": st.fixed_dictionaries({}, optional={"session": st.one_of(session_fields, json_values)}),
    "input_audio_buffer.append": st.fixed_dictionaries({}, optional={"audio": audio_strings}),
    "conversation.item.create": st.fixed_dictionaries(
        {},
        optional={
            "item": st.one_of(items, json_values),
            "previous_item_id": st.one_of(st.text(max_size=8), json_values),
        },
    ),
    "conversation.item.truncate": st.fixed_dictionaries(
        {},
        optional={
            "item_id": st.text(max_size=10),
            "content_index": st.one_of(st.integers(-3, 3), json_values),
            "audio_end_ms": st.one_of(st.integers(-(10**12), 10**12), json_values),
        },
    ),
    "response.create": st.fixed_dictionaries(
        {},
        optional={
            "response": st.one_of(
                json_values,
                st.fixed_dictionaries(
                    {"max_output_tokens": st.sampled_from((1, 0, -1, "inf", 10**40))},
                    optional={
                        "conversation": st.sampled_from(("auto", "none", "other", 1)),
                        "output_modalities": st.sampled_from((["text"], ["audio"], ["both"], "text")),
                        "instructions": json_values,
                        "input": st.one_of(st.lists(items, max_size=2), json_values),
                        "voice": st.sampled_from(("alloy", "../etc", 3)),
                        "metadata": json_values,
                    },
                ),
            )
        },
    ),
}


@st.composite
def bad_events(draw) -> str | bytes:
    """One client frame: an event of a (possibly wrong) type with (possibly wrong) fields, or junk."""
    kind = draw(st.sampled_from(("event", "event", "event", "event", "junk", "binary")))
    if kind == "binary":
        return draw(st.binary(min_size=0, max_size=64))
    if kind == "junk":
        return draw(
            st.sampled_from(
                (
                    "",
                    "{",
                    "null",
                    "[]",
                    "1",
                    '"x"',
                    "{'type': 'x'}",
                    '{"type": null}',
                    '{"type": "session.update", "session": {"instructions": "\\ud800"}}',
                    '{"type": "conversation.item.create", "item": {"type": "message", "role": "user", '
                    '"content": [{"type": "input_text", "text": "\\udfff"}]}}',
                    "[" * 50_000 + "]" * 50_000,
                    '{"a":' * 30_000 + "1" + "}" * 30_000,
                    '{"type": "' + "x" * 10_000 + '"}',
                    "\x00\x01\x02",
                )
            )
        )
    etype = draw(
        st.one_of(
            st.sampled_from(TYPES),
            st.sampled_from(("session.create", "response.done", "", "error", "input_audio_buffer.append ")),
            json_values,
        )
    )
    body = dict(draw(fields.get(etype, st.dictionaries(st.text(max_size=10), json_values, max_size=3)))
                if isinstance(etype, str) else {})
    if etype == "response.create" and isinstance(body.get("response"), dict):
        body["response"].setdefault("max_output_tokens", 1)  # bound the work a valid one starts
    elif etype == "response.create":
        body["response"] = {
            "max_output_tokens": 1,
            **({"bogus": body.get("response")} if "response" in body else {}),
        }
    event = {"type": etype, **body}
    if draw(st.booleans()):
        event["event_id"] = draw(st.one_of(st.text(max_size=12), json_values))
    return json.dumps(event)


class Session:
    """A raw WebSocket client that counts error events and notices server errors and closes."""

    def __init__(self, server, query: str = "model=gpt-realtime"):
        url = server.url.replace("http://", "ws://") + f"/realtime?{query}"
        self._cm = connect(url, max_size=None, open_timeout=60, close_timeout=5)
        self.ws = self._cm.__enter__()
        self.errors: list[dict] = []
        self.problems: list[str] = []
        self.events = 0
        self._marks = 0
        first = json.loads(self.ws.recv(timeout=60))
        assert first["type"] in ("session.created", "transcription_session.created"), first

    def _read_until(self, mark: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            raw = self.ws.recv(timeout=max(0.1, deadline - time.monotonic()))
            ev = json.loads(raw)
            self.events += 1
            if ev.get("type") != "error":
                continue
            err = ev.get("error") or {}
            if err.get("event_id") == mark:
                return
            self.errors.append(ev)
            if err.get("type") == "server_error" or not isinstance(err.get("message"), str):
                self.problems.append(f"server error event: {ev}")
            try:
                validate(ev, "RealtimeServerEventError")
            except Exception as exc:  # collected as a problem
                self.problems.append(f"error event not in OpenAI's shape: {exc}"[:300])

    def sync(self) -> None:
        """Wait until the server has handled all sent so far (an error event we can name comes back)."""
        self._marks += 1
        mark = f"mark_{self._marks}"
        self.ws.send(
            json.dumps({"type": "conversation.item.retrieve", "item_id": "no_such_item", "event_id": mark})
        )
        self._read_until(mark)

    def send(self, frame: str | bytes) -> None:
        self.ws.send(frame)

    def close(self) -> None:
        self._cm.__exit__(None, None, None)


def test_fuzzed_client_events_get_error_events_never_server_errors(server):
    frames: collections.Counter = collections.Counter()
    sessions: list[Session] = []
    t0 = time.monotonic()

    def new_session():
        query = "intent=transcription" if len(sessions) % 3 == 2 else "model=gpt-realtime"
        sessions.append(Session(server, query))
        return sessions[-1]

    current = {"s": new_session()}

    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.lists(bad_events(), min_size=1, max_size=4))
    def fire(batch):
        s = current["s"]
        for frame in batch:
            s.send(frame)
            frames["binary" if isinstance(frame, bytes) else "text"] += 1
        try:
            s.sync()
        except (ConnectionClosed, TimeoutError) as exc:
            s.problems.append(f"the socket died after {batch!r:.300}: {exc!r}")
            current["s"] = new_session()
            return
        if s.events > 400:  # a fresh session now and then: new state to fuzz, bounded history
            s.close()
            current["s"] = new_session()

    fire()
    for s in sessions:
        s.close()
    bad = sum(len(s.errors) for s in sessions)
    problems = [p for s in sessions for p in s.problems]
    tally("realtime fuzz (hypothesis)", bad=bad, server_errors=sum("server error" in p for p in problems))
    print(f"\nrealtime fuzz: {sum(frames.values())} frames {dict(frames)} over {len(sessions)} sessions, "
          f"{bad} error events, {time.monotonic() - t0:.0f} s")
    assert not problems, "\n".join(problems[:10])
    assert bad >= 180


def _pcm(seconds: float, *, rate: int = 24_000) -> str:
    t = np.arange(int(seconds * rate)) / rate
    return base64.b64encode((np.sin(2 * np.pi * 220 * t) * 3000).astype("<i2").tobytes()).decode()


def test_out_of_order_events_and_huge_appends(server):
    s = Session(server)
    no_vad = {"type": "session.update", "session": {"type": "realtime",
                                                    "audio": {"input": {"turn_detection": None}}}}
    steps = [
        {"type": "input_audio_buffer.commit"},  # nothing to commit
        {"type": "response.cancel"},  # nothing to cancel
        {"type": "response.cancel", "response_id": "resp_nope"},
        {"type": "output_audio_buffer.clear"},
        {
            "type": "conversation.item.truncate",
            "item_id": "item_nope",
            "content_index": 0,
            "audio_end_ms": 10,
        },
        {"type": "conversation.item.delete", "item_id": "item_nope"},
        {
            "type": "conversation.item.create",
            "previous_item_id": "item_nope",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        },
        {"type": "input_audio_buffer.append", "audio": _pcm(0.05)},
        {"type": "input_audio_buffer.commit"},  # 50 ms: too small
        {"type": "input_audio_buffer.clear"},
        {"type": "input_audio_buffer.commit"},  # cleared
        {"type": "input_audio_buffer.append", "audio": "A" * (22 * 2**20)},  # ~16.5 MiB decoded: over 15 MiB
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\x00" * (15 * 2**20 + 6)).decode()},
    ]
    s.send(json.dumps(no_vad))
    for ev in steps:
        s.send(json.dumps(ev))
    s.send(b"\x00\x01binary")
    s.sync()
    # A real turn, committed twice, then truncated beyond its end and deleted twice.
    s.send(json.dumps({"type": "input_audio_buffer.append", "audio": _pcm(0.5)}))
    s.send(json.dumps({"type": "input_audio_buffer.commit", "event_id": "ok_commit"}))
    s.send(json.dumps({"type": "input_audio_buffer.commit"}))
    s.sync()
    n_errors = len(s.errors)
    codes = [e["error"]["code"] for e in s.errors]
    assert "payload_too_large" in codes and "input_audio_buffer_commit_empty" in codes, codes
    assert n_errors >= len(steps) - 3, codes  # clear and the first append succeed; the rest are refused
    tally("realtime out-of-order", bad=n_errors, server_errors=0)
    assert not s.problems, s.problems
    s.close()


def test_frame_over_the_websocket_limit_closes_only_that_socket(server):
    s = Session(server)
    s.send(json.dumps({"type": "input_audio_buffer.append", "audio": "A" * (40 * 2**20)}))
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(100):
            s.ws.recv(timeout=30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009, closed.value
    tally("realtime oversized frame", bad=1, server_errors=0)
    other = Session(server)  # the server still takes sessions
    other.sync()
    other.close()
    assert health(server)["status"] == "ok"


def test_server_still_holds_a_conversation_after_realtime_fuzz(server):
    s = Session(server)
    s.send(
        json.dumps({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})
    )
    s.send(json.dumps({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say hello."}]}}))
    s.send(json.dumps({"type": "response.create", "response": {"max_output_tokens": 8}}))
    deadline = time.monotonic() + 120
    while True:
        ev = json.loads(s.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        assert ev["type"] != "error", ev
        if ev["type"] == "response.done":
            assert ev["response"]["status"] in ("completed", "incomplete"), ev
            break
    s.close()

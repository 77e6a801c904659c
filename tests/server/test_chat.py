"""POST /v1/chat/completions through the real SDK and real HTTP: text, audio in, audio out, tools.

Greedy decoding (``temperature=0``, fixed ``seed``) makes the local model (Qwen2.5-1.5B)
deterministic, so most checks compare two real requests that must agree (streamed vs not, spoken
vs typed, audio vs text) instead of hard-coding what a small model says.
"""

from __future__ import annotations

import base64
import json
import math
import time

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from audiolab.audio import Audio
from audiolab.server.engines.llm import DEFAULT_MAX_TOKENS
from audiolab.server.registry import CHAT_MODEL
from tests.spec import validate

MODEL = "gpt-4o-mini"
AUDIO_MODEL = "gpt-audio-mini"
GREEDY = {"temperature": 0, "seed": 7}
ASK = [{"role": "user", "content": "Name three colors of the rainbow."}]
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def _post(lab, body: dict) -> httpx.Response:
    return httpx.post(f"{lab.base_url}/chat/completions", json=body, timeout=120)


def _completion(lab, body: dict) -> tuple[dict, ChatCompletion]:
    """Raw JSON (validated against the spec) and the SDK's parsed object, from the SDK call."""
    raw = lab.client.chat.completions.with_raw_response.create(**body)
    data = raw.http_response.json()
    validate(data, "CreateChatCompletionResponse")
    assert raw.headers["x-audiolab-engine"] == f"llm/{CHAT_MODEL}"
    return data, raw.parse()


def _chunks(lab, body: dict) -> list[dict]:
    """Every SSE event of a streamed request, validated; the stream must end with [DONE]."""
    events = []
    with httpx.stream("POST", f"{lab.base_url}/chat/completions", json={**body, "stream": True},
                      timeout=120) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(line[6:])
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    for c in chunks:
        validate(c, "CreateChatCompletionStreamResponse")
        ChatCompletionChunk.model_validate(c)
    assert len({c["id"] for c in chunks}) == 1
    return chunks


def _usage_adds_up(usage) -> None:
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0


# --- text ------------------------------------------------------------------------------------
def test_chat_answers_text_with_usage(lab):
    data, done = _completion(lab, dict(model=MODEL, messages=ASK, max_tokens=40, **GREEDY))
    choice = done.choices[0]
    assert data["object"] == "chat.completion" and done.model == MODEL
    assert choice.message.role == "assistant" and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    _usage_adds_up(done.usage)
    assert done.usage.completion_tokens <= 40


def test_chat_stops_at_max_tokens(lab):
    for key in ("max_tokens", "max_completion_tokens"):
        _, done = _completion(lab, {"model": MODEL, "messages": ASK, key: 3, **GREEDY})
        assert done.usage.completion_tokens == 3 and done.choices[0].finish_reason == "length"


def _sdk_stream(lab, **body) -> tuple[str, list[str], object]:
    """Text, finish reasons and usage of one answer streamed through the SDK."""
    text, finishes, usage = "", [], None
    for c in lab.client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **body):
        if c.choices:
            text += c.choices[0].delta.content or ""
            finishes += [c.choices[0].finish_reason] if c.choices[0].finish_reason else []
        usage = c.usage or usage
    return text, finishes, usage


def test_count_to_three_without_max_tokens_ends_within_the_budget(lab):
    text, finishes, usage = _sdk_stream(lab, model=MODEL, messages=[{"role": "user", "content": "Count to three."}],
                                        **GREEDY)
    assert finishes == ["stop"] and usage.completion_tokens <= DEFAULT_MAX_TOKENS, (text, finishes, usage)
    assert "three" in text.lower() or "3" in text


def test_a_long_answer_without_max_tokens_is_cut_at_the_budget_with_length(lab):
    task = [{"role": "system", "content": "You are a programmer. You write complete, detailed code with docstrings."},
            {"role": "user", "content": "Write a Python module for a library: books, members, loans, fines, and "
                                        "unit tests for all of it."}]
    sampled = {"temperature": 1, "seed": 3}  # greedy long text tends to loop: the next test's case
    text, finishes, usage = _sdk_stream(lab, model=MODEL, messages=task, **sampled)
    assert finishes == ["length"] and usage.completion_tokens == DEFAULT_MAX_TOKENS, (finishes, usage, text[-200:])


def test_a_repetition_loop_is_stopped_early_with_length(lab):
    # Asked for, a repetition is a loop all the same: the stop cuts it well before the budget.
    loop = [{"role": "user", "content": "Write the word hello 200 times, separated by spaces."}]
    text, finishes, usage = _sdk_stream(lab, model=MODEL, messages=loop, **GREEDY)
    assert finishes == ["length"] and usage.completion_tokens < DEFAULT_MAX_TOKENS, (text, usage)
    words = text.lower().split()
    assert len(words) >= 30 and set(words[-20:]) == {"hello"}, text  # it ended inside the loop


def test_chat_stop_sequence_cuts_the_answer_before_it(lab):
    _, full = _completion(lab, dict(model=MODEL, messages=ASK, max_tokens=40, **GREEDY))
    text = full.choices[0].message.content
    words = text.split()
    assert len(words) >= 3, text
    stop = words[2]
    _, cut = _completion(lab, dict(model=MODEL, messages=ASK, max_tokens=40, stop=[stop], **GREEDY))
    assert cut.choices[0].message.content == text[:text.index(stop)]
    assert cut.choices[0].finish_reason == "stop"


def test_chat_stream_matches_the_non_streamed_answer(lab):
    body = dict(model=MODEL, messages=ASK, max_tokens=30, stream_options={"include_usage": True}, **GREEDY)
    raw, whole = _completion(lab, {k: v for k, v in body.items() if k != "stream_options"})
    chunks = _chunks(lab, body)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == whole.choices[0].message.content
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == whole.choices[0].finish_reason and not any(finishes[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == raw["usage"]
    assert all(c["usage"] is None for c in chunks[:-1])
    sdk_text = "".join(c.choices[0].delta.content or "" for c in
                       lab.client.chat.completions.create(stream=True, **{**body, "stream_options": None})
                       if c.choices)
    assert sdk_text == text


def test_chat_logprobs_cover_the_answer(lab):
    _, done = _completion(lab, dict(model=MODEL, messages=ASK, max_tokens=8, logprobs=True, top_logprobs=2,
                                    **GREEDY))
    tokens = done.choices[0].logprobs.content
    assert "".join(t.token for t in tokens) == done.choices[0].message.content
    for t in tokens:  # greedy: the chosen token is the most likely one
        assert t.logprob <= 0 and len(t.top_logprobs) == 2 and t.top_logprobs[0].token == t.token


def test_stream_disconnect_frees_the_model(lab):
    body = dict(model=MODEL, messages=[{"role": "user", "content": "Write a very long story."}],
                max_tokens=1500, stream=True, **GREEDY)
    with httpx.stream("POST", f"{lab.base_url}/chat/completions", json=body, timeout=60) as r:
        lines = r.iter_lines()
        next(line for line in lines if '"content":"' in line and '"content":""' not in line)
    deadline = time.monotonic() + 5  # 1500 tokens would take ~10 s if generation went on
    while httpx.get(lab.base_url.removesuffix("/v1") + "/health").json()["jobs"]["running"]:
        assert time.monotonic() < deadline, "generation kept running after the client left"
        time.sleep(0.05)
    start = time.monotonic()
    _completion(lab, dict(model=MODEL, messages=ASK, max_tokens=5, **GREEDY))
    assert time.monotonic() - start < 10


# --- audio in --------------------------------------------------------------------------------
def _audio_part(data: bytes, fmt: str) -> dict:
    return {"type": "input_audio", "input_audio": {"data": base64.b64encode(data).decode(), "format": fmt}}


@pytest.mark.parametrize("fmt", ["wav", "mp3"])
def test_spoken_question_is_answered_like_its_typed_transcript(lab, two_cities, fmt):
    clip = two_cities.slice(0, 5)
    sent = clip.encode(fmt)
    heard = lab.client.audio.transcriptions.create(model="whisper-1", file=(f"q.{fmt}", sent)).text.strip()
    _, spoken = _completion(lab, dict(model=AUDIO_MODEL, max_tokens=25, **GREEDY,
                                      messages=[{"role": "user", "content": [_audio_part(sent, fmt)]}]))
    _, typed = _completion(lab, dict(model=AUDIO_MODEL, max_tokens=25, **GREEDY,
                                     messages=[{"role": "user", "content": heard}]))
    assert spoken.choices[0].message.content == typed.choices[0].message.content
    decoded = Audio.from_bytes(sent)
    audio_tokens = spoken.usage.prompt_tokens_details.audio_tokens
    assert audio_tokens == math.ceil(decoded.duration * 10)
    assert spoken.usage.prompt_tokens_details.text_tokens < typed.usage.prompt_tokens
    assert spoken.usage.completion_tokens == typed.usage.completion_tokens
    _usage_adds_up(spoken.usage)


# --- audio out -------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["wav", "mp3", "flac", "opus", "aac", "pcm16"])
def test_audio_answer_speaks_its_transcript(lab, fmt):
    _, text = _completion(lab, dict(model=AUDIO_MODEL, messages=ASK, max_tokens=12, **GREEDY))
    data, done = _completion(lab, dict(model=AUDIO_MODEL, messages=ASK, max_tokens=12, modalities=["text", "audio"],
                                       audio={"voice": "alloy", "format": fmt}, **GREEDY))
    message = done.choices[0].message
    assert message.content is None and message.audio.transcript == text.choices[0].message.content
    raw = base64.b64decode(message.audio.data)
    speech = Audio.from_bytes(raw, "pcm") if fmt == "pcm16" else Audio.from_bytes(raw)
    words = len(message.audio.transcript.split())
    assert 0.5 < words / speech.duration < 6, (words, speech.duration)
    assert message.audio.id.startswith("audio_") and message.audio.expires_at > time.time() + 60
    details = done.usage.completion_tokens_details
    assert abs(details.audio_tokens - speech.duration * 20) <= 2  # codecs pad a few ms
    assert done.usage.completion_tokens == details.audio_tokens + text.usage.completion_tokens


def test_streamed_audio_answer_carries_id_transcript_pcm16_and_expiry(lab):
    body = dict(model=AUDIO_MODEL, messages=ASK, max_tokens=30, modalities=["text", "audio"],
                audio={"voice": "coral", "format": "pcm16"}, stream_options={"include_usage": True}, **GREEDY)
    _, text = _completion(lab, dict(model=AUDIO_MODEL, messages=ASK, max_tokens=30, **GREEDY))
    chunks = _chunks(lab, body)
    audio = [c["choices"][0]["delta"]["audio"] for c in chunks if c["choices"] and "audio" in c["choices"][0]["delta"]]
    ids = [a["id"] for a in audio if "id" in a]
    expiries = [a for a in audio if "expires_at" in a]
    assert len(ids) == 1 and len(expiries) == 1 and expiries[0] == audio[-1] and set(expiries[0]) == {"expires_at"}
    assert "".join(a.get("transcript", "") for a in audio) == text.choices[0].message.content
    pcm = b"".join(base64.b64decode(a["data"]) for a in audio if "data" in a)
    speech = Audio.from_bytes(pcm, "pcm")
    assert speech.duration > 0.3 and chunks[-1]["usage"]["completion_tokens_details"]["audio_tokens"] == \
        math.ceil(speech.duration * 20)
    assert all(c["choices"][0]["delta"].get("content") is None for c in chunks if c["choices"])
    # The SDK's stream helper joins the deltas into one message whose audio decodes whole.
    with lab.client.chat.completions.stream(**{k: v for k, v in body.items() if k != "stream_options"}) as s:
        final = s.get_final_completion()
    joined = final.choices[0].message.audio
    assert joined.id.startswith("audio_") and len(joined.id) == len(ids[0]) and joined.expires_at > time.time()
    assert joined.transcript == text.choices[0].message.content
    # (Piper's noise makes each rendition a few samples longer or shorter.)
    assert Audio.from_bytes(base64.b64decode(joined.data), "pcm").duration == pytest.approx(speech.duration, rel=0.1)


def test_later_turn_refers_to_audio_by_id(lab):
    _, first = _completion(lab, dict(model=AUDIO_MODEL, messages=ASK, max_tokens=12, modalities=["text", "audio"],
                                     audio={"voice": "echo", "format": "mp3"}, **GREEDY))
    said = first.choices[0].message.audio
    follow = [{"role": "user", "content": "Which one is your favourite?"}]
    _, by_id = _completion(lab, dict(model=AUDIO_MODEL, max_tokens=20, **GREEDY,
                                     messages=ASK + [{"role": "assistant", "audio": {"id": said.id}}] + follow))
    _, by_text = _completion(lab, dict(model=AUDIO_MODEL, max_tokens=20, **GREEDY,
                                       messages=ASK + [{"role": "assistant", "content": said.transcript}] + follow))
    assert by_id.choices[0].message.content == by_text.choices[0].message.content
    assert by_id.usage.prompt_tokens_details.audio_tokens > 0
    assert by_text.usage.prompt_tokens_details.audio_tokens == 0


# --- tools -----------------------------------------------------------------------------------
def test_tools_are_accepted_and_a_required_call_comes_back(lab):
    ask = [{"role": "user", "content": "What is the weather in Paris?"}]
    _, auto = _completion(lab, dict(model=MODEL, messages=ask, tools=[WEATHER_TOOL], max_tokens=40, **GREEDY))
    choice = auto.choices[0]
    assert (choice.finish_reason == "tool_calls") == bool(choice.message.tool_calls)
    assert choice.message.content or choice.message.tool_calls
    for tool_choice in ("required", {"type": "function", "function": {"name": "get_weather"}}):
        _, forced = _completion(lab, dict(model=MODEL, messages=ask, tools=[WEATHER_TOOL], tool_choice=tool_choice,
                                          max_tokens=60, **GREEDY))
        call = forced.choices[0].message.tool_calls[0]
        assert forced.choices[0].finish_reason == "tool_calls" and forced.choices[0].message.content is None
        assert call.function.name == "get_weather" and isinstance(json.loads(call.function.arguments)["city"], str)
    chunks = _chunks(lab, dict(model=MODEL, messages=ask, tools=[WEATHER_TOOL], tool_choice="required",
                               max_tokens=60, **GREEDY))
    streamed = [tc for c in chunks if c["choices"] for tc in c["choices"][0]["delta"].get("tool_calls") or ()]
    assert streamed[0]["function"]["name"] == "get_weather"
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    _, legacy = _completion(lab, dict(model=MODEL, messages=ask, functions=[WEATHER_TOOL["function"]],
                                      function_call={"name": "get_weather"}, max_tokens=60, **GREEDY))
    assert legacy.choices[0].finish_reason == "function_call"
    assert legacy.choices[0].message.function_call.name == "get_weather"
    answered = ask + [{"role": "assistant", "tool_calls": [call.model_dump()]},
                      {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "sunny", "celsius": 21}'}]
    _, after = _completion(lab, dict(model=MODEL, messages=answered, tools=[WEATHER_TOOL], max_tokens=30, **GREEDY))
    assert after.choices[0].message.content or after.choices[0].message.tool_calls


def test_json_schema_response_format_returns_matching_json(lab):
    schema = {"type": "object", "additionalProperties": False, "required": ["name", "age"],
              "properties": {"name": {"type": "string", "maxLength": 12}, "age": {"type": "integer"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "cat", "schema": schema}}
    _, done = _completion(lab, dict(model=MODEL, max_tokens=60, response_format=fmt, **GREEDY,
                                    messages=[{"role": "user", "content": "Invent a cat: its name and age."}]))
    cat = json.loads(done.choices[0].message.content)
    assert set(cat) == {"name", "age"} and isinstance(cat["age"], int) and len(cat["name"]) <= 12


# --- mistakes --------------------------------------------------------------------------------
_PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(64)).decode()
BAD = [
    ("n_above_1", {"n": 2}, "n"),
    ("bad_role", {"messages": [{"role": "bot", "content": "hi"}]}, "messages[0].role"),
    ("empty_messages", {"messages": []}, "messages"),
    ("audio_modality_without_audio", {"modalities": ["text", "audio"]}, "audio"),
    ("bad_audio_format", {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "ogg"}},
     "audio.format"),
    ("stream_needs_pcm16", {"stream": True, "modalities": ["text", "audio"],
                            "audio": {"voice": "alloy", "format": "wav"}}, "audio.format"),
    ("bad_voice", {"modalities": ["text", "audio"], "audio": {"voice": "nobody", "format": "wav"}}, "audio.voice"),
    ("unknown_audio_id", {"messages": ASK + [{"role": "assistant", "audio": {"id": "audio_0000"}}]}, "messages"),
    ("bad_base64", {"messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "not base64!!", "format": "wav"}}]}]},
     "messages[0].content[0].input_audio.data"),
    ("not_audio", {"messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": _PNG, "format": "wav"}}]}]},
     "messages[0].content[0].input_audio.data"),
    ("temperature_above_2", {"temperature": 2.5}, "temperature"),
    ("stream_options_without_stream", {"stream_options": {"include_usage": True}}, "stream_options"),
]


@pytest.mark.parametrize("name,change,param", BAD, ids=[b[0] for b in BAD])
def test_bad_request_is_an_openai_shaped_400(lab, name, change, param):
    body = {"model": MODEL, "messages": ASK, "max_tokens": 5, **change}
    with pytest.raises(openai.BadRequestError) as exc:
        lab.client.chat.completions.create(**body)
    assert exc.value.body["param"] == param and exc.value.body["type"] == "invalid_request_error"
    raw = _post(lab, body)
    assert raw.status_code == 400 and set(raw.json()["error"]) == {"message", "type", "param", "code"}


def test_unknown_or_realtime_model_is_a_404_like_openai(lab):
    for model in ("gpt-imaginary", "gpt-realtime"):
        with pytest.raises(openai.NotFoundError) as exc:
            lab.client.chat.completions.create(model=model, messages=ASK)
        assert exc.value.body["code"] == "model_not_found" and exc.value.body["param"] == "model"


# --- the audio store behind audio ids ----------------------------------------------------------
def test_audio_store_forgets_expired_ids_and_stays_bounded():
    import numpy as np

    from audiolab.errors import InvalidRequest
    from audiolab.server.audio_store import AudioStore

    now = [1000.0]
    store = AudioStore(ttl_s=60, max_items=3, max_bytes=48_000 * 4 * 2, clock=lambda: now[0])
    second = Audio.from_array(np.zeros(48_000, dtype=np.float32), 48_000)
    ids = [store.put(f"answer {k}", second).id for k in range(4)]
    assert len(store) == 3 and store.nbytes <= store.max_bytes
    with pytest.raises(InvalidRequest):
        store.get(ids[0])  # dropped: over max_items
    assert store.get(ids[1]).audio is None and store.get(ids[1]).duration == 1.0  # samples dropped first
    assert store.get(ids[3]).transcript == "answer 3" and store.get(ids[3]).expires_at == 1060
    now[0] += 61
    with pytest.raises(InvalidRequest) as exc:
        store.get(ids[3])
    assert exc.value.param == "messages" and len(store) == 0

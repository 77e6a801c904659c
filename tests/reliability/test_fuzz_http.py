"""Fuzz the HTTP endpoints from OpenAI's published spec (schemathesis), plus hand-picked malformed
bodies, methods and ids, against a live server: no response >= 500, every error OpenAI-shaped,
and the server still serving afterwards.

Only the audio, chat and models paths are taken from the ~3 MB document, with the components
they reference, so that schemathesis builds its strategies in seconds. Cases come in both of
schemathesis' modes: ``negative`` (violating the schema) and ``positive`` (schema-valid, which
for these paths mostly means model ids and voices that do not exist). Some negative cases get a
real model id so that validation past the model lookup is exercised too.
"""

from __future__ import annotations

import collections
import json
import random
import time

import httpx
import requests
import yaml

from tests.reliability.conftest import check_http, health, tally
from tests.spec import SPEC_PATH

PATHS = ("/audio/speech", "/audio/transcriptions", "/audio/translations", "/chat/completions", "/models",
         "/models/{model}")
#: Examples per (operation, mode): about 14 operations x 2 modes x this.
EXAMPLES = 30
REAL_MODELS = {"/audio/speech": ["gpt-4o-mini-tts", "tts-1", "piper-joe"],
               "/audio/transcriptions": ["whisper-1", "gpt-4o-transcribe", "whisper-base"],
               "/audio/translations": ["whisper-1"],
               "/chat/completions": ["gpt-4o-mini", "gpt-audio", "smollm2-135m-instruct"]}


def _refs(node, out: set) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            out.add(node["$ref"])
        for v in node.values():
            _refs(v, out)
    elif isinstance(node, list):
        for v in node:
            _refs(v, out)


def _bounded(path: str, body: dict) -> bool:
    """Whether a real model id may go into this body without starting a long generation: chat bodies
    get ``max_completion_tokens=1`` unless they already set a token limit."""
    if path != "/chat/completions":
        return True
    if "max_tokens" in body or "max_completion_tokens" in body:
        return False
    body["max_completion_tokens"] = 1
    return True


def sub_spec() -> dict:
    """The audio, chat and models paths of the OpenAI spec, with only the components they use."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(SPEC_PATH, encoding="utf-8") as fh:
        doc = yaml.load(fh, Loader=loader)
    paths = {p: doc["paths"][p] for p in PATHS}
    seen: set = set()
    todo: set = set()
    _refs(paths, todo)
    components: dict = {}
    while todo:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, _, kind, name = ref.split("/", 3)
        node = doc["components"][kind][name]
        components.setdefault(kind, {})[name] = node
        _refs(node, todo)
    return {"openapi": doc["openapi"], "info": doc["info"], "servers": [{"url": "http://127.0.0.1/v1"}],
            "paths": paths, "components": components}


def test_spec_fuzz_never_5xx_and_errors_are_openai_shaped(server):
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_dict(sub_spec())
    session = requests.Session()
    rng = random.Random(1234)
    statuses: collections.Counter = collections.Counter()
    problems: list[str] = []
    sent = bad = 0
    t0 = time.monotonic()
    slow: list = []

    for result in schema.get_all_operations():
        op = result.ok()
        for mode in (GenerationMode.NEGATIVE, GenerationMode.POSITIVE):
            try:
                strategy = op.as_strategy(generation_mode=mode)
            except Exception:  # schemathesis cannot negate some operations (no inputs)
                continue

            @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(strategy)
            def fire(case):
                nonlocal sent, bad
                body = case.body
                if (mode is GenerationMode.NEGATIVE and isinstance(body, dict) and "model" in body
                        and op.path in REAL_MODELS and rng.random() < 0.5 and _bounded(op.path, body)):
                    body["model"] = rng.choice(REAL_MODELS[op.path])
                t_req = time.monotonic()
                try:
                    resp = case.call(base_url=server.url, session=session, timeout=60)
                except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, ValueError,
                        UnicodeError):
                    return  # the client refused to send it: not a request
                except requests.exceptions.RequestException as exc:
                    problems.append(
                        f"{op.method.upper()} {op.path} ({mode.value}): {type(exc).__name__}: {exc}"
                    )
                    return
                sent += 1
                slow.append((time.monotonic() - t_req, op.path, resp.status_code, str(body)[:150]))
                status = resp.status_code
                statuses[(op.method.upper(), op.path, status)] += 1
                if 400 <= status < 500:
                    bad += 1
                if op.method.upper() != "HEAD":
                    check_http(
                        resp, problems, f"{op.method.upper()} {op.path} ({mode.value}) {str(body)[:120]}"
                    )

            try:
                fire()
            except Exception as exc:  # hypothesis could not satisfy the schema's filters
                if type(exc).__name__ not in ("Unsatisfiable", "FailedHealthCheck"):
                    raise

    fives = sum(n for (_, _, s), n in statuses.items() if s >= 500)
    tally("spec fuzz (schemathesis)", bad=bad, server_errors=fives)
    print(f"\nspec fuzz: {sent} requests, {bad} answered 4xx, {fives} >= 500, {time.monotonic() - t0:.0f} s")
    took, path, status, body = max(slow) if slow else (0, "", 0, "")
    print(f"    slowest: {took:.1f} s, {path} -> {status}, {body[:100]}")
    for key, n in sorted(statuses.items()):
        print("   ", *key, n)
    assert not problems, "\n".join(problems[:20])
    assert fives == 0
    assert bad >= 300, f"only {bad} bad requests were generated"
    assert health(server)["status"] == "ok"


def _malformed_cases() -> list[tuple[str, str, dict]]:
    """(method, path, httpx kwargs) for bodies, methods and ids no schema generator would try."""
    deep_list = "[" * 100_000 + "]" * 100_000
    deep_obj = '{"a":' * 50_000 + "1" + "}" * 50_000
    speech = {"model": "gpt-4o-mini-tts", "voice": "alloy", "input": "Hi."}
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi."}], "max_tokens": 2}
    js = {"content-type": "application/json"}
    cases: list[tuple[str, str, dict]] = []
    for path in ("/audio/speech", "/chat/completions"):
        for raw in (deep_list, deep_obj, "", "null", "[]", "1", '"text"', "{", '{"a":1,}', "\x00", "NaN",
                    b"\xff\xfe\xfd", b'{"model": "\xff"}', '{"model": "gpt-4o-mini", "model": 1}',
                    '{"input": "\\ud800"}', '{"messages": [{"role": "user", "content": "\\udfff"}]}'):
            cases.append(("POST", path, {"content": raw, "headers": js}))
        form = {"content-type": "application/x-www-form-urlencoded"}
        cases.append(("POST", path, {"content": b"model=x", "headers": form}))
    bad_speech = [
        {**speech, "input": "\ud800 lone surrogate"},
        {**speech, "input": "x" * 4097},
        {**speech, "input": " \n\t "},
        {**speech, "input": ""},
        {**speech, "input": ["a"]},
        {**speech, "input": None},
        {**speech, "speed": "fast"},
        {**speech, "speed": 0},
        {**speech, "speed": 4.0001},
        {**speech, "speed": True},
        {**speech, "speed": 1e308},
        {**speech, "voice": "../../etc/passwd"},
        {**speech, "voice": {"id": "/etc/passwd"}},
        {**speech, "voice": 7},
        {**speech, "voice": {"id": None}},
        {**speech, "voice": ""},
        {**speech, "model": "../../../etc/passwd"},
        {**speech, "model": "/etc/passwd"},
        {**speech, "model": "C:\\Windows\\win.ini"},
        {**speech, "model": ""},
        {**speech, "model": "whisper-1"},
        {**speech, "response_format": "../wav"},
        {**speech, "response_format": 3},
        {**speech, "stream_format": "ws"},
        {**speech, "instructions": "x" * 4097},
        {**speech, "instructions": 5},
        {**speech, "model": "tts-1", "instructions": "Speak softly."},
        {**speech, "model": "tts-1", "stream_format": "sse"},
        {**speech, "unknown": 1},
        {**speech, "voice": "\u202e\u0000"},
    ]
    cases += [("POST", "/audio/speech", {"json": b}) for b in bad_speech]

    def user(*parts):
        return {**chat, "messages": [{"role": "user", "content": list(parts)}]}

    def assistant(**fields):
        return {**chat, "messages": [{"role": "assistant", "content": None, **fields}, *chat["messages"]]}

    def audio_part(data, fmt="wav"):
        return {"type": "input_audio", "input_audio": {"data": data, "format": fmt}}

    function = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    bad_chat = [
        {**chat, "messages": []},
        {**chat, "messages": "hi"},
        {**chat, "messages": [{"role": "wizard", "content": "x"}]},
        {**chat, "messages": [{"role": "user"}]},
        {**chat, "messages": [{"content": "x"}]},
        user({"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}),
        user(audio_part("%%%")),
        user(audio_part("UklGRg==")),
        user(audio_part("AAAA", "exe")),
        user({"type": "text"}),
        assistant(audio={"id": "../../etc/passwd"}),
        assistant(audio={"id": "audio_" + "A" * 10_000}),
        # found by the spec fuzz: these crashed the chat route before it checked them
        assistant(tool_calls=[None]),
        assistant(tool_calls=[{"type": "custom", "id": "", "custom": {"name": ""}}]),
        assistant(tool_calls=[{"type": "function", "id": "c", "function": -6.1e-05}]),
        assistant(tool_calls=7),
        assistant(function_call=[0]),
        assistant(function_call={"name": 3}),
        {
            **chat,
            "tools": [function],
            "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": 1.8e308}},
        },
        {**chat, "tools": [function], "tool_choice": {"type": "allowed_tools", "allowed_tools": [1]}},
        {**chat, "tools": [function], "tool_choice": {"type": "function", "function": "f"}},
        {**chat, "model": "../../etc/passwd"},
        {**chat, "model": "tts-1"},
        {**chat, "model": None},
        {**chat, "max_tokens": -1},
        {**chat, "max_tokens": "many"},
        {**chat, "temperature": 3},
        {**chat, "temperature": "hot"},
        {**chat, "top_p": -0.5},
        {**chat, "n": 0},
        {**chat, "stop": [1, 2]},
        {**chat, "modalities": ["audio"]},
        {**chat, "modalities": ["text", "audio"], "audio": {"voice": "../x", "format": "wav"}},
        {**chat, "modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "exe"}},
        {**chat, "stream": "yes"},
        {**chat, "stream_options": {"include_usage": True}},
        {**chat, "tools": [{"type": "function"}]},
        {**chat, "tools": "none"},
        {**chat, "tool_choice": "sometimes"},
        {**chat, "response_format": {"type": "yaml"}},
        {**chat, "logprobs": True, "top_logprobs": 50},
    ]
    cases += [("POST", "/chat/completions", {"json": b}) for b in bad_chat]
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        for path in ("/audio/speech", "/audio/transcriptions", "/audio/translations"):
            cases.append((method, path, {}))
    for mid in (
        "..%2F..%2Fetc%2Fpasswd",
        "%2Fetc%2Fpasswd",
        "%00",
        "x" * 5000,
        "%E2%80%AE",
        "whisper-1%00.bin",
        "..",
        "models",
        "%F0%9F%92%A9",
    ):
        cases.append(("GET", f"/models/{mid}", {}))
    cases.append(("GET", "/does-not-exist", {}))
    cases.append(("POST", "/audio/voices", {"json": {}}))
    return cases


def test_malformed_bodies_methods_and_ids_get_openai_shaped_4xx(server):
    problems: list[str] = []
    statuses: collections.Counter = collections.Counter()
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for method, path, kwargs in _malformed_cases():
            if "json" in kwargs:  # httpx refuses lone surrogates: encode them as JSON escapes ourselves
                kwargs = {
                    "content": json.dumps(kwargs["json"]),
                    "headers": {"content-type": "application/json"},
                }
            resp = client.request(method, path, **kwargs)
            status = check_http(resp, problems, f"{method} {path} {str(kwargs)[:100]}")
            statuses[status] += 1
            if status < 400:
                problems.append(f"{method} {path} {str(kwargs)[:100]} was accepted ({status})")
    fives = sum(n for s, n in statuses.items() if s >= 500)
    bad = sum(n for s, n in statuses.items() if 400 <= s < 500)
    tally("malformed HTTP", bad=bad, server_errors=fives)
    print(f"\nmalformed HTTP: {sum(statuses.values())} requests, statuses {dict(sorted(statuses.items()))}")
    assert not problems, "\n".join(problems[:20])
    assert fives == 0 and bad >= 110


def test_server_still_serves_after_fuzzing(server, two_cities_path):
    import openai

    from audiolab.audio import Audio

    client = openai.OpenAI(base_url=server.url, api_key="audiolab-local", max_retries=0)
    assert "whisper-1" in {m.id for m in client.models.list()}
    speech = client.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input="Still here.",
                                        response_format="wav")
    assert Audio.from_bytes(speech.read()).duration > 0.3
    clip = Audio.from_file(two_cities_path).slice(0, 4.0)
    text = client.audio.transcriptions.create(model="whisper-1", file=("clip.wav", clip.to_wav_bytes()))
    assert "best of times" in text.text.lower()

"""Security of the local backend and the kit: secrets never leak, the token is checked, CORS is off
unless configured, uploads are cut off while streaming, and request data never becomes a path.

The secrets test runs the kit end to end with a fake key (``sk-test-FAKE...``) that the server
really requires, through HTTP, SSE, a realtime session, the response cache, the history, a widget
and a failing call, with every logger at DEBUG, then scans all of it for the key.
"""

from __future__ import annotations

import json
import logging
import secrets
import select
import socket
import sys
import time
import urllib.parse

import httpx
import openai
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

import audiolab
from audiolab.audio import Audio
from audiolab.server.serve import start_in_thread
from audiolab.server.settings import Settings
from tests.conftest import speech_clip_path
from tests.reliability.conftest import error_problem, rss_mb

FAKE_KEY = "sk-test-FAKE" + secrets.token_hex(16)
WRONG_KEY = "sk-test-FAKE" + secrets.token_hex(16)
LOGGERS = ("", "openai", "httpx", "httpx2", "httpcore", "httpcore2", "audiolab", "uvicorn", "uvicorn.error",
           "websockets", "asyncio")


@pytest.fixture(scope="module")
def guarded():
    handle = start_in_thread(Settings(api_key=FAKE_KEY))
    yield handle
    handle.stop()


def _leaks(text: str) -> list[str]:
    """The secret (or a recognisable part of it) wherever it appears in ``text``."""
    found = []
    for key in (FAKE_KEY, WRONG_KEY):
        for part in (key, key[12:], key[-16:]):
            i = text.find(part)
            if i >= 0:
                found.append(text[max(0, i - 80): i + len(part) + 20])
                break
    return found


def test_api_key_never_reaches_reprs_logs_history_cache_or_widgets(guarded, tmp_path, caplog, capsys):
    from audiolab.widgets._background import describe_error
    from audiolab.widgets.transcript_lab import TranscriptLab

    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    cache_dir = tmp_path / "cache"
    lab = audiolab.connect(
        guarded.url, api_key=FAKE_KEY, cache="readwrite", cache_dir=cache_dir, max_retries=0
    )
    clip = Audio.from_file(speech_clip_path("beckett.wav")).slice(0, 3)
    shown: list[str] = []

    assert "whisper-1" in lab.models()
    lab.client.audio.speech.create(model="tts-1", voice="alloy", input="A secret is safe.",
                                   response_format="wav").read()
    lab.client.audio.transcriptions.create(model="whisper-1", file=("b.wav", clip.to_wav_bytes()))
    lab.client.chat.completions.create(model="gpt-4o-mini", max_completion_tokens=4,
                                       messages=[{"role": "user", "content": "Hi"}])
    for chunk in lab.client.chat.completions.create(model="gpt-4o-mini", max_completion_tokens=4, stream=True,
                                                    messages=[{"role": "user", "content": "Hi"}]):
        shown.append(repr(chunk))
    with pytest.raises(openai.BadRequestError) as bad:
        lab.client.audio.speech.create(model="tts-1", voice="nobody", input="x")
    shown += [str(bad.value), repr(bad.value), describe_error(bad.value)]
    with lab.client.realtime.connect(model="gpt-realtime") as conn:
        conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        conn.conversation.item.create(item={"type": "message", "role": "user",
                                            "content": [{"type": "input_text", "text": "Hi"}]})
        conn.response.create(response={"max_output_tokens": 4})
        for ev in conn:
            shown.append(repr(ev))
            if ev.type == "response.done":
                break

    wrong = audiolab.connect(guarded.url, api_key=WRONG_KEY, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as denied:
        wrong.client.models.list()
    shown += [
        str(denied.value),
        repr(denied.value),
        describe_error(denied.value),
        repr(wrong),
        wrong._repr_html_(),
    ]

    tl = TranscriptLab(lab, clip, models=["whisper-1"])
    tl.run(progress=False)
    shown += [tl.to_code(), repr(tl.results), repr(tl.errors)]
    shown += [repr(lab), lab._repr_html_(), repr(lab.history), lab.history._repr_html_(),
              lab.history.frame.to_csv(), str(lab.cost_so_far), repr(lab.cache), repr(guarded),
              repr(guarded.app.state.settings), repr(Settings(api_key=FAKE_KEY)), repr(lab.client)]
    assert len(lab.history) >= 8 and lab.history.frame["error"].notna().any()

    cache_files = [p for p in cache_dir.rglob("*") if p.is_file()]
    assert cache_files, "the cache stored nothing"
    captured = capsys.readouterr()
    sources = {"shown to the user": "\n".join(shown), "stdout/stderr": captured.out + captured.err,
               "logs": caplog.text + "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)}
    sources.update({f"cache file {p.name}": p.read_bytes().decode("latin-1") for p in cache_files})
    leaks = {where: found for where, text in sources.items() if (found := _leaks(text))}
    print(f"\nsecrets: scanned {len(caplog.records)} log records at DEBUG, {len(cache_files)} cache files, "
          f"{len(lab.history)} history rows, {len(shown)} reprs and messages: {len(leaks)} leaks")
    assert not leaks, leaks
    assert len(caplog.records) > 20  # the loggers really were on


def test_token_is_required_and_wrong_tokens_get_openai_shaped_401(guarded):
    url = guarded.url
    variants = [
        "",
        FAKE_KEY[:-1],
        FAKE_KEY + "x",
        FAKE_KEY.upper(),
        " " + FAKE_KEY,
        FAKE_KEY[:12],
        "sk-tëst-ü",
        WRONG_KEY,
        "x" * 10_000,
    ]
    for token in variants:
        header = f"Bearer {token}".strip().encode("utf-8")  # a header value cannot end in a space
        r = httpx.get(url + "/models", headers={"Authorization": header}, timeout=30)
        assert r.status_code == 401 and error_problem(401, r.json()) is None, (token[:20], r.status_code)
        assert r.json()["error"]["code"] == "invalid_api_key" and not _leaks(r.text)
    for header in (
        {},
        {"Authorization": f"Basic {FAKE_KEY}"},
        {"Authorization": FAKE_KEY},
        {"X-Api-Key": FAKE_KEY},
    ):
        assert httpx.get(url + "/models", headers=header, timeout=30).status_code == 401
    assert (
        httpx.get(url + "/models", headers={"Authorization": f"bearer {FAKE_KEY}"}, timeout=30).status_code
        == 200
    )
    assert httpx.get(url.removesuffix("/v1") + "/health", timeout=30).status_code == 200
    ws_url = url.replace("http://", "ws://") + "/realtime?model=gpt-realtime"
    for kwargs in ({}, {"subprotocols": ["realtime", f"openai-insecure-api-key.{WRONG_KEY}"]}):
        with pytest.raises(InvalidStatus) as exc, connect(ws_url, open_timeout=30, **kwargs):
            pass
        assert exc.value.response.status_code == 403, exc.value
    with connect(
        ws_url, open_timeout=30, subprotocols=["realtime", f"openai-insecure-api-key.{FAKE_KEY}"]
    ) as ws:
        assert json.loads(ws.recv(timeout=60))["type"] == "session.created"


def _preflight(url: str, origin: str) -> httpx.Response:
    return httpx.options(url + "/audio/speech", timeout=30, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})


def test_cors_is_off_by_default_and_allows_only_configured_origins(server):
    r = _preflight(server.url, "http://evil.example")
    assert "access-control-allow-origin" not in r.headers
    r = httpx.get(server.url + "/models", headers={"Origin": "http://evil.example"}, timeout=30)
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    origin = "http://classroom.example:8888"
    handle = start_in_thread(Settings(cors_origins=(origin,), api_key=FAKE_KEY))
    try:
        ok = _preflight(handle.url, origin)  # browsers send no Authorization on a preflight
        assert ok.status_code == 200 and ok.headers.get("access-control-allow-origin") == origin, ok.headers
        denied = _preflight(handle.url, "http://evil.example")
        assert denied.headers.get("access-control-allow-origin") != "http://evil.example"
        r = httpx.get(
            handle.url + "/models",
            headers={"Origin": origin, "Authorization": f"Bearer {FAKE_KEY}"},
            timeout=30,
        )
        assert r.status_code == 200 and r.headers.get("access-control-allow-origin") == origin
        r = httpx.get(handle.url + "/models", headers={"Origin": origin}, timeout=30)
        assert (
            r.status_code == 401 and r.headers.get("access-control-allow-origin") == origin
        )  # readable error
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def small_limit():
    handle = start_in_thread(Settings(max_upload_bytes=2**20))
    yield handle
    handle.stop()


def _chunked_upload(
    url: str, path: str, content_type: str, head: bytes, total: int
) -> tuple[int, bytes, float]:
    """POST ``head`` then zeros with chunked transfer encoding (no Content-Length) until the server
    answers or ``total`` bytes are sent; returns (bytes sent, response head, seconds)."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall((f"POST {path} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n"
                  f"Content-Type: {content_type}\r\n\r\n").encode())
    block = b"\x00" * 65536
    sent, response, t0 = 0, b"", time.monotonic()
    try:
        first = True
        while sent < total:
            data = head if first else block
            first = False
            sock.sendall(b"%x\r\n" % len(data) + data + b"\r\n")
            sent += len(data)
            if select.select([sock], [], [], 0)[0]:
                break
        if sent >= total:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    sock.settimeout(30)
    try:
        while b"\r\n\r\n" not in response:
            part = sock.recv(65536)
            if not part:
                break
            response += part
        head, _, body = response.partition(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length and (part := sock.recv(65536)):
            body += part
        response = head + b"\r\n\r\n" + body
    except (ConnectionResetError, TimeoutError):
        pass
    sock.close()
    return sent, response, time.monotonic() - t0


def test_upload_limit_is_enforced_while_streaming_a_chunked_body(small_limit):
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--{boundary}\r\n'
        f'Content-Disposition: form-data; name="file"; filename="big.wav"\r\n'
        f"Content-Type: audio/wav\r\n\r\n"
    ).encode()
    total = 256 * 2**20
    results = []
    before = rss_mb()
    for path, ctype, start in (
        ("/v1/audio/transcriptions", f"multipart/form-data; boundary={boundary}", head),
        ("/v1/audio/translations", f"multipart/form-data; boundary={boundary}", head),
        ("/v1/audio/speech", "application/json", b'{"input": "'),
        ("/v1/chat/completions", "application/json", b'{"messages": "'),
    ):
        sent, response, took = _chunked_upload(small_limit.url, path, ctype, start, total)
        status = int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1") else None
        body = response.split(b"\r\n\r\n", 1)[-1]
        results.append((path, status, sent // 2**20, round(took, 2)))
        assert status == 413, (path, response[:300])
        assert sent < 16 * 2**20 and took < 15, results[-1]
        if body.strip().startswith(b"{"):
            assert json.loads(body)["error"]["code"] == "file_too_large"
    grown = rss_mb() - before
    print(f"\nchunked uploads without Content-Length over a 1 MiB limit: {results}; RSS grew {grown:.0f} MB")
    assert grown < 64


class _Audit:
    """Records filesystem events (``open``, ``os.listdir``...) whose path mentions a marker."""

    def __init__(self, marker: str):
        self.marker, self.on, self.hits = marker, False, []
        sys.addaudithook(self)

    def __call__(self, event: str, args) -> None:
        if (
            self.on
            and event
            in (
                "open",
                "os.listdir",
                "os.scandir",
                "os.remove",
                "os.rename",
                "shutil.copyfile",
                "os.mkdir",
                "glob.glob",
                "os.chdir",
            )
            and self.marker in repr(args)
        ):
            self.hits.append((event, repr(args)[:200]))


def test_ids_from_requests_are_looked_up_never_joined_into_paths(server, tmp_path):
    canary = f"CANARY{secrets.token_hex(4)}"
    target = tmp_path / canary
    target.mkdir()
    for name in ("x", "x.onnx", "x.onnx.json", "model.bin", "passwd"):
        (target / name).write_text("not for you")
    ups = "../" * 12
    evil = [
        f"{ups}{str(target).lstrip('/')}/x",
        f"{target}/x",
        f"..\\..\\{canary}\\x",
        f"{ups}etc/passwd{canary}",
        f"file://{target}/x",
        f"{canary}/../../x",
        f"{target}/x.onnx",
    ]
    audit = _Audit(canary)
    statuses = []
    wav = Audio.from_file(speech_clip_path("beckett.wav")).slice(0, 1).to_wav_bytes()
    audit.on = True
    (target / "x").read_text()  # the hook sees an open of the target: the check below can fail
    assert audit.hits and audit.hits.pop()[0] == "open"
    try:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            for bad in evil:
                reqs = [
                    c.post("/audio/speech", json={"model": "tts-1", "voice": bad, "input": "x"}),
                    c.post("/audio/speech", json={"model": "tts-1", "voice": {"id": bad}, "input": "x"}),
                    c.post("/audio/speech", json={"model": bad, "voice": "alloy", "input": "x"}),
                    c.post("/audio/transcriptions", data={"model": bad}, files={"file": ("a.wav", wav)}),
                    c.post(
                        "/audio/transcriptions",
                        data={"model": "whisper-1", "language": bad},
                        files={"file": (bad + ".wav", wav)},
                    ),
                    c.post("/audio/translations", data={"model": bad}, files={"file": ("a.wav", wav)}),
                    c.post(
                        "/chat/completions",
                        json={"model": bad, "messages": [{"role": "user", "content": "x"}]},
                    ),
                    c.post(
                        "/chat/completions",
                        json={
                            "model": "gpt-4o-mini",
                            "messages": [
                                {"role": "assistant", "audio": {"id": bad}},
                                {"role": "user", "content": "x"},
                            ],
                        },
                    ),
                    c.post(
                        "/chat/completions",
                        json={
                            "model": "gpt-4o-mini",
                            "modalities": ["text", "audio"],
                            "audio": {"voice": bad, "format": "wav"},
                            "messages": [{"role": "user", "content": "x"}],
                        },
                    ),
                    c.get("/models/" + bad.replace("/", "%2F")),
                ]
                statuses += [(r.status_code, r.request.url.path) for r in reqs]
            ws_base = server.url.replace("http://", "ws://") + "/realtime"
            for bad in evil[:3]:
                with connect(f"{ws_base}?model={urllib.parse.quote(bad, safe='')}", open_timeout=30) as ws:
                    ev = json.loads(ws.recv(timeout=30))
                    statuses.append((400 if ev["type"] == "error" else 200, "realtime ?model="))
                with connect(f"{ws_base}?model=gpt-realtime", open_timeout=30) as ws:
                    ws.recv(timeout=30)
                    ws.send(json.dumps({"type": "session.update", "session": {
                        "type": "realtime", "audio": {"output": {"voice": bad},
                                                      "input": {"transcription": {"model": bad}}}}}))
                    ev = json.loads(ws.recv(timeout=30))
                    statuses.append((400 if ev["type"] == "error" else 200, "realtime session.update"))
    finally:
        audit.on = False
    print(f"\npath traversal: {len(statuses)} requests, statuses {sorted({s for s, _ in statuses})}, "
          f"filesystem events naming the target: {len(audit.hits)}")
    assert not audit.hits, audit.hits[:5]
    assert all(400 <= s < 500 for s, _ in statuses), [x for x in statuses if not 400 <= x[0] < 500]

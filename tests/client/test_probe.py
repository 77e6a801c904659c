"""lab.probe(): what a backend honours, on the local backend and on a sloppy compatible server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import audiolab
from audiolab.audio import Audio
from audiolab.client.probe import FEATURES, ProbeReport
from audiolab.errors import CacheMiss, InvalidRequest
from tests.conftest import speech_clip_path

VOICES = ("alloy", "coral", "echo")


@pytest.fixture(scope="module")
def local_report():
    lab = audiolab.connect("local")
    return lab, lab.probe(voices=VOICES, stt_formats=("verbose_json", "vtt"))


@pytest.mark.engines
def test_the_local_backend_honours_every_probed_parameter(local_report):
    _, report = local_report
    assert isinstance(report, ProbeReport) and report.backend == "local"
    assert {r.feature for r in report.results} == set(FEATURES)
    not_honoured = [(r.param, r.status, r.detail) for r in report.results if r.status != "honoured"]
    assert not_honoured == []
    assert report.status("instructions") == "honoured"
    assert report.status("timestamp_granularities=word", "whisper-1") == "honoured"
    assert report.status("stream=true") == "honoured"
    assert {report.status(f"voice={v}") for v in VOICES} == {"honoured"}
    assert report.status("response_format=opus", "gpt-4o-mini-tts") == "honoured"
    assert report.status("response_format=vtt", "whisper-1") == "honoured"


@pytest.mark.engines
def test_probe_calls_are_in_the_history(local_report):
    lab, report = local_report
    df = lab.history.frame
    assert len(df) >= len(report.results)
    assert set(df["endpoint"]) >= {"audio/speech", "audio/transcriptions"}
    assert not df["cache_hit"].any()


@pytest.mark.engines
def test_the_report_is_a_table(local_report):
    _, report = local_report
    frame = report.frame
    assert list(frame.columns) == ["feature", "param", "model", "status", "detail"]
    assert len(frame) == len(report.results)
    assert "honoured" in report._repr_html_()


class _Sloppy(BaseHTTPRequestHandler):
    """An 'OpenAI-compatible' server that accepts every parameter and honours none."""

    wav = b""

    def log_message(self, *args):
        pass

    def _send(self, body: bytes, ctype: str):
        self.send_response(200)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        ids = ["tts-1", "gpt-4o-mini-tts", "whisper-1", "gpt-4o-mini-transcribe"]
        data = [{"id": i, "object": "model", "created": 0, "owned_by": "sloppy"} for i in ids]
        self._send(json.dumps({"object": "list", "data": data}).encode(), "application/json")

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path.endswith("/audio/speech"):
            self._send(self.wav, "audio/wav")
        else:
            self._send(b'{"text": "the same words every time"}', "application/json")


@pytest.fixture()
def sloppy_url():
    _Sloppy.wav = Audio.from_file(speech_clip_path("beckett.wav")).slice(0, 1.0).to_wav_bytes()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sloppy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_probe_reports_what_a_sloppy_server_ignores(sloppy_url):
    lab = audiolab.connect(sloppy_url, api_key="not-a-real-key", environ={})
    report = lab.probe(voices=VOICES, stt_formats=("json", "srt"))
    assert report.status("instructions") == "ignored"
    assert report.status("timestamp_granularities=word") == "ignored"
    assert report.status("stream_format=sse") == "ignored"
    assert report.status("stream=true") == "ignored"
    assert report.status("voice=alloy") == "honoured"
    assert report.status("voice=coral") == report.status("voice=echo") == "ignored"
    assert report.status("response_format=wav", "gpt-4o-mini-tts") == "honoured"
    assert report.status("response_format=mp3", "gpt-4o-mini-tts") == "ignored"
    assert report.status("response_format=json", "whisper-1") == "honoured"
    assert report.status("response_format=srt", "whisper-1") == "ignored"
    assert report.backend == sloppy_url


@pytest.mark.engines
def test_probe_bypasses_the_cache(tmp_path):
    lab = audiolab.connect("local", cache="readwrite", cache_dir=tmp_path)
    for _ in range(2):
        lab.probe(features=("streaming",))
    df = lab.history.frame
    probes = df[df["endpoint"] != "models"]
    assert len(probes) == 6 and not probes["cache_hit"].any()  # sample, sse speech, streamed stt; twice
    assert len(lab.cache) == 1, "only the model list (for the catalog) is cached"


@pytest.mark.engines
def test_probe_refuses_replay_and_unknown_features(tmp_path):
    with pytest.raises(CacheMiss):
        audiolab.connect("local", cache="replay", cache_dir=tmp_path, environ={}).probe()
    with pytest.raises(InvalidRequest):
        audiolab.connect("local").probe(features=("telepathy",))

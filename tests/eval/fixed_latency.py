"""A tiny OpenAI-compatible transcription server with a fixed latency, for runner tests and bench.

It answers ``POST /v1/audio/transcriptions`` after sleeping ``latency_s``, with a text looked up
by the uploaded clip's duration (rounded to 10 ms), so a test controls the hypotheses. It counts
requests and the most requests it held at once, can fail its first requests with 503 or 429, and
answers 404 for the model ``no-such-model``.
"""


import asyncio
import io
import socket
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Backend:
    latency_s: float = 0.05
    transcripts: dict[float, str] = field(default_factory=dict)
    fail_first: int = 0
    fail_status: int = 503
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    models: list[str] = field(default_factory=list)
    url: str = ""
    _server: object = None
    _thread: object = None

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(5)


def start(latency_s: float = 0.05, *, transcripts: dict[float, str] | None = None, fail_first: int = 0,
          fail_status: int = 503) -> Backend:
    """Start the server on 127.0.0.1 and a free port; ``.url`` is its OpenAI base URL."""
    import soundfile as sf
    import uvicorn
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    state = Backend(latency_s=latency_s, transcripts=dict(transcripts or {}), fail_first=fail_first,
                    fail_status=fail_status)
    app = FastAPI()

    @app.post("/v1/audio/transcriptions")
    async def transcribe(request: Request):
        form = await request.form()
        data = await form["file"].read()
        state.requests += 1
        state.models.append(form.get("model"))
        if form.get("model") == "no-such-model":
            return JSONResponse(
                {
                    "error": {
                        "message": "The model does not exist.",
                        "type": "invalid_request_error",
                        "param": "model",
                        "code": "model_not_found",
                    }
                },
                status_code=404,
            )
        if state.requests <= state.fail_first:
            headers = {"retry-after": "0.01"} if state.fail_status == 429 else {}
            return JSONResponse({"error": {"message": "try again", "type": "server_error", "param": None,
                                           "code": None}}, status_code=state.fail_status, headers=headers)
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            await asyncio.sleep(state.latency_s)
        finally:
            state.in_flight -= 1
        info = sf.info(io.BytesIO(data))
        text = state.transcripts.get(round(info.frames / info.samplerate, 2), "")
        return {"text": text}

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    state.url, state._server, state._thread = f"http://127.0.0.1:{port}/v1", server, thread
    return state


@dataclass
class FakeLab:
    """The two attributes the runner needs from a :class:`audiolab.client.lab.Lab`."""

    backend: str
    aclient: object


def lab_for(backend: Backend) -> FakeLab:
    import openai

    return FakeLab(backend=backend.url, aclient=openai.AsyncOpenAI(api_key="test", base_url=backend.url))

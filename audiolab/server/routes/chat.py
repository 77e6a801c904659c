"""``POST /v1/chat/completions``: the local LLM, with audio in and audio out, OpenAI wire-exact.

SmolLM2-135M-Instruct answers (:mod:`audiolab.server.engines.llm`); every OpenAI chat and
audio model id is an alias of it. Around it, the route:

* transcribes ``input_audio`` content parts (wav/mp3) with the local STT model (``whisper-1``'s
  engine) and hands the transcript to the LLM;
* speaks the answer with the local TTS voice named by ``audio.voice`` when
  ``modalities`` includes ``"audio"``, and keeps it (:class:`AudioStore`) so a later turn may refer
  to it as ``{"role": "assistant", "audio": {"id": ...}}``;
* streams ``chat.completion.chunk`` events ending in ``data: [DONE]``; with audio, transcript
  deltas arrive as the LLM writes and base64 pcm16 (24 kHz s16le mono) chunks follow each
  sentence, then one update that carries only ``expires_at``. As on OpenAI, streamed audio must
  be ``pcm16``.

Usage, for the README: ``prompt_tokens`` and ``completion_tokens`` are what llama.cpp counted,
except that spoken parts are billed the way OpenAI documents for audio: about 10 tokens per
second of input audio (``prompt_tokens_details.audio_tokens``, which replaces the tokens of its
transcript) and about 20 tokens per second of output audio
(``completion_tokens_details.audio_tokens``, added to the transcript's text tokens). An earlier
answer referred to by audio id counts as input audio. These are estimates for teaching cost
arithmetic, not measurements of any OpenAI model.

Function calling: tools are described to the model in its system prompt. With ``tool_choice``
``"auto"`` a 135M model rarely calls one (the request still succeeds, with a text answer);
``"required"`` or a named function constrains decoding with a grammar so a call always comes back.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import math
import secrets
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from audiolab.audio import PCM_RATE, Audio
from audiolab.errors import AudioDecodeError, AudiolabError, EngineFailure, InvalidRequest
from audiolab.server import sse
from audiolab.server.audio_store import AudioStore, new_audio_id
from audiolab.server.coalesce import sharing_of
from audiolab.server.engines import ChatDelta
from audiolab.server.engines.protocols import ChatOptions, SynthesisOptions
from audiolab.server.jobs import INTERACTIVE, set_priority
from audiolab.server.response_cache import request_key
from audiolab.server.routes import decode_audio, engine_headers, state
from audiolab.server.routes._chat_request import ChatRequest, parse_chat_request
from audiolab.server.text_pieces import PieceCutter, spoken_text
from audiolab.server.validation import loads_strict

__all__ = ["router", "audio_store", "INPUT_AUDIO_TOKENS_PER_S", "OUTPUT_AUDIO_TOKENS_PER_S"]

router = APIRouter(prefix="/v1")
log = logging.getLogger("audiolab.server.chat")

#: OpenAI's documented rates for audio in Chat Completions (≈1 token per 100 ms in, per 50 ms out).
INPUT_AUDIO_TOKENS_PER_S = 10
OUTPUT_AUDIO_TOKENS_PER_S = 20
_STEP_BYTES = PCM_RATE // 4 * 2  # 0.25 s of pcm16 per delta.audio.data (a multiple of 6 bytes)
_ALNUM = string.ascii_letters + string.digits


def audio_store(app_state) -> AudioStore:
    """The app's store of chat audio (created on first use, TTL from ``settings.audio_ttl_s``)."""
    store = getattr(app_state, "audio_store", None)
    if store is None:
        store = app_state.audio_store = AudioStore(ttl_s=app_state.settings.audio_ttl_s)
    return store


@dataclass
class _Conversation:
    """Messages as the LLM reads them, plus what was heard to get there."""

    messages: list[dict] = field(default_factory=list)
    audio_s: float = 0.0  # seconds of audio in the prompt (input_audio parts, earlier audio answers)
    transcripts: list[str] = field(default_factory=list)


def _decode_input_audio(part: dict, where: str) -> Audio:
    ia = part["input_audio"]
    try:
        raw = base64.b64decode(ia["data"], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("The input audio is not valid base64.", param=f"{where}.input_audio.data",
                             code="invalid_base64") from None
    try:
        return decode_audio(raw, ia["format"], param=f"{where}.input_audio.data")
    except AudioDecodeError as exc:
        raise AudioDecodeError(f"The input audio could not be decoded as {ia['format']}: {exc.message}",
                               param=f"{where}.input_audio.data", code=exc.code) from None


async def _conversation(req: ChatRequest, st, store: AudioStore) -> _Conversation:
    conv = _Conversation()
    stt = None
    for i, m in enumerate(req.messages):
        role, content = m["role"], m.get("content")
        texts: list[str] = []
        if role == "assistant" and m.get("audio"):
            item = store.get(m["audio"]["id"], param="messages")  # checked even when content is given
            if not content:  # the model hears its earlier answer again: billed as input audio
                texts.append(item.transcript)
                conv.transcripts.append(item.transcript)
                conv.audio_s += item.duration
        if isinstance(content, str):
            texts.append(content)
        for j, part in enumerate(content if isinstance(content, list) else ()):
            if part["type"] != "input_audio":
                texts.append(part.get("text") or part.get("refusal") or "")
                continue
            clip = await st.jobs.run(_decode_input_audio, part, f"messages[{i}].content[{j}]")  # off the loop
            if stt is None:
                spec, _ = st.registry.resolve("whisper-1", "stt")
                stt = await st.jobs.run(st.registry.engine_for, spec)
            heard = (await st.jobs.run(stt.transcribe, clip)).text.strip()
            texts.append(heard)
            conv.transcripts.append(heard)
            conv.audio_s += clip.duration
        msg = {"role": role, "content": "\n".join(t for t in texts if t)}
        for key in ("name", "tool_call_id", "tool_calls"):
            if m.get(key):
                msg[key] = m[key]
        if role == "assistant" and m.get("function_call") and not m.get("tool_calls"):
            msg["tool_calls"] = [{"type": "function", "function": m["function_call"]}]
        conv.messages.append(msg)
    return conv


def _speak(tts, voice, text: str) -> Iterator[Audio]:
    """``text`` spoken, piece by piece, as mono clips at :data:`PCM_RATE` (markdown marks not read out)."""
    spoken = spoken_text(text)
    if not spoken:
        return
    for clip in tts.synthesize(spoken, **SynthesisOptions(voice=voice).kwargs()):
        yield clip.to_mono().resample(PCM_RATE)


def _usage(final: ChatDelta, *, conv: _Conversation, heard_tokens: int, out_audio_s: float | None) -> dict:
    audio_in = math.ceil(conv.audio_s * INPUT_AUDIO_TOKENS_PER_S) if conv.audio_s else 0
    text_in = max(final.prompt_tokens - heard_tokens, 0)
    audio_out = math.ceil(out_audio_s * OUTPUT_AUDIO_TOKENS_PER_S) if out_audio_s else 0
    text_out = final.completion_tokens
    return {
        "prompt_tokens": text_in + audio_in,
        "completion_tokens": text_out + audio_out,
        "total_tokens": text_in + audio_in + text_out + audio_out,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": audio_in, "text_tokens": text_in},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": audio_out, "text_tokens": text_out,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    }


def _logprobs(deltas, req: ChatRequest) -> dict | None:
    if not req.logprobs:
        return None
    return {"content": [c.to_openai() for d in deltas for c in d.logprobs], "refusal": None}


def _tool_message(final: ChatDelta, req: ChatRequest) -> dict:
    calls = [c.to_openai() for c in final.tool_calls]
    if req.legacy_functions:
        return {"function_call": calls[0]["function"]}
    return {"tool_calls": calls}


class _Reply:
    """What every response and chunk of one completion shares."""

    def __init__(self, req: ChatRequest, *, version: str):
        self.req = req
        self.id = "chatcmpl-" + "".join(secrets.choice(_ALNUM) for _ in range(29))
        self.created = int(time.time())
        self.fingerprint = "fp_" + hashlib.sha1(f"{req.spec.id}:{version}".encode()).hexdigest()[:10]

    def envelope(self, obj: str) -> dict:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.req.model,
                "service_tier": "default", "system_fingerprint": self.fingerprint}

    def chunk(self, delta: dict | None, *, finish: str | None = None, logprobs=None, usage=None) -> str:
        body = self.envelope("chat.completion.chunk")
        body["choices"] = [] if delta is None else [
            {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}]
        if self.req.include_usage:
            body["usage"] = usage
        return sse.frame(body)


def _data(pcm: bytes, audio_id: str | None) -> dict:
    audio = {"data": base64.b64encode(pcm).decode("ascii")}
    return audio if audio_id is None else {"id": audio_id, **audio}


def _engine_options(req: ChatRequest) -> dict:
    """The request as :class:`ChatOptions`, spread into ``llm.chat``'s keyword options."""
    return ChatOptions(max_tokens=req.max_tokens, temperature=req.temperature, top_p=req.top_p, stop=req.stop,
                       seed=req.seed, tools=req.tools, tool_choice=req.tool_choice,
                       response_format=req.response_format, frequency_penalty=req.frequency_penalty,
                       presence_penalty=req.presence_penalty,
                       logprobs=req.top_logprobs if req.logprobs else None).kwargs()


@router.post("/chat/completions")
async def create_chat_completion(request: Request):
    st = state(request)
    try:
        body = loads_strict(await request.body())
    except ValueError:
        raise InvalidRequest("We could not parse the JSON body of your request. The body must be a JSON "
                             "object (Content-Type: application/json).", code="invalid_json") from None
    req = parse_chat_request(body, st.registry)
    if req.stream or req.wants_audio or _hears_audio(body):
        set_priority(INTERACTIVE)  # an answer read as it is written, or a spoken exchange, goes ahead of bulk work
    store = audio_store(request.app.state)
    llm = await st.jobs.run(st.registry.engine_for, req.spec)
    conv = await _conversation(req, st, store)
    heard = await st.jobs.run(lambda: sum(llm.count_tokens(t) for t in conv.transcripts))
    tts = await st.jobs.run(st.registry.engine, req.audio_voice.engine) if req.wants_audio else None
    reply = _Reply(req, version=request.app.version)
    if req.stream:
        return await _stream(request, req, reply, llm, tts, conv, heard, store)

    async def make(_listeners):
        return await _complete(st, req, reply, llm, tts, conv, heard, store)

    # Greedy text answers are shared by identical requests; sampled ones (temperature > 0) never.
    key = None
    if req.temperature == 0 and not req.wants_audio:
        key = request_key("chat", body)
    return await sharing_of(st).respond("chat", key, make, request=request)


def _hears_audio(body: dict) -> bool:
    """Whether a (validated) request body holds spoken input (an ``input_audio`` part)."""
    return any(isinstance(part, dict) and part.get("type") == "input_audio"
               for m in body.get("messages") or () if isinstance(m, dict) and isinstance(m.get("content"), list)
               for part in m["content"])


async def _complete(st, req: ChatRequest, reply: _Reply, llm, tts, conv: _Conversation, heard: int, store):
    """The non-streaming answer, as one ``chat.completion``."""
    # token by token under the scheduler: a job that waits gets a slot within a token, not an answer
    deltas = [d async for d in st.jobs.generate(llm, lambda: llm.chat(conv.messages, **_engine_options(req)))]
    final, text = deltas[-1], "".join(d.text for d in deltas[:-1])
    message: dict = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
    out_s = None
    if final.tool_calls:
        message.update(content=None, **_tool_message(final, req))
    elif req.wants_audio:
        clips = await st.jobs.run(lambda: list(_speak(tts, req.audio_voice, text)))
        speech = Audio.concat(clips) if clips else Audio.from_array(np.zeros(PCM_RATE // 10), PCM_RATE)
        fmt = "pcm" if req.audio_format == "pcm16" else req.audio_format
        data = await st.jobs.run(speech.encode, fmt)
        item = store.put(text, speech)
        out_s = speech.duration
        message.update(content=None, audio={"id": item.id, "data": base64.b64encode(data).decode("ascii"),
                                            "expires_at": item.expires_at, "transcript": text})
    finish = "function_call" if final.tool_calls and req.legacy_functions else final.finish_reason
    body = reply.envelope("chat.completion")
    body["choices"] = [{"index": 0, "message": message, "logprobs": _logprobs(deltas, req), "finish_reason": finish}]
    body["usage"] = _usage(final, conv=conv, heard_tokens=heard, out_audio_s=out_s)
    return JSONResponse(body, headers=engine_headers(req.spec, req.alias))


def _produce(jobs, llm, tts, req: ChatRequest, conv: _Conversation, out: asyncio.Queue) -> asyncio.Task:
    """Start the answer: ``("text", delta)`` as the LLM writes, ``("audio", clip)`` as the TTS voices
    each finished piece, ``("final", delta)`` last, or ``("error", exc)``, all put on ``out``.

    The LLM and the TTS run as separate jobs, so the model's lock is free again as soon as the
    text is written, and piece n is spoken while piece n+1 is being written. The answer is cut
    into pieces as a Realtime response cuts it (:class:`~audiolab.server.text_pieces.PieceCutter`).
    """
    sentences: asyncio.Queue = asyncio.Queue()

    async def think() -> ChatDelta:
        cutter, final = PieceCutter(), None
        try:
            async for d in jobs.generate(llm, lambda: llm.chat(conv.messages, **_engine_options(req))):
                if d.finish_reason is not None:
                    final = d
                    continue
                await out.put(("text", d))
                if tts is not None:
                    for piece in cutter.feed(d.text):
                        sentences.put_nowait(piece)
            if tts is not None and not final.tool_calls:
                for piece in cutter.finish():
                    sentences.put_nowait(piece)
        finally:
            sentences.put_nowait(None)
        return final

    async def speak() -> None:
        while (text := await sentences.get()) is not None:
            for clip in await jobs.run(lambda: list(_speak(tts, req.audio_voice, text))):
                await out.put(("audio", clip))

    async def run() -> None:
        try:
            final, _ = await asyncio.gather(think(), speak() if tts is not None else asyncio.sleep(0))
            await out.put(("final", final))
        except AudiolabError as exc:
            await out.put(("error", exc))
        except Exception as exc:  # a stream must end with an error event, never hang
            log.exception("chat completion failed mid-stream")
            await out.put(("error", EngineFailure(f"The local model failed: {type(exc).__name__}: {exc}")))

    return asyncio.create_task(run())


async def _stream(request: Request, req: ChatRequest, reply: _Reply, llm, tts, conv, heard: int, store):
    out: asyncio.Queue = asyncio.Queue()
    task = _produce(state(request).jobs, llm, tts, req, conv, out)
    try:
        first = await out.get()
    except BaseException:
        task.cancel()
        raise
    if first[0] == "error":  # failures before the first token still get a proper 4xx/5xx
        raise first[1]
    audio_id = new_audio_id() if req.wants_audio else None

    async def frames():
        item, said, clips, pcm = first, [], [], b""
        sent_id = False
        try:
            yield reply.chunk({"role": "assistant", "content": None if audio_id else "", "refusal": None})
            while True:
                kind, value = item
                if kind == "text" and value.text:
                    said.append(value.text)
                    logprobs = _logprobs([value], req)
                    if audio_id:
                        audio = {"transcript": value.text} if sent_id else {"id": audio_id, "transcript": value.text}
                        sent_id = True
                        yield reply.chunk({"audio": audio}, logprobs=logprobs)
                    else:
                        yield reply.chunk({"content": value.text}, logprobs=logprobs)
                elif kind == "audio":
                    clips.append(value)
                    pcm += value.to_pcm16()
                    # Whole 6-byte groups only (3 for base64, 2 per sample): the concatenated data
                    # strings then decode as one base64 text, as the SDK's stream helper joins them.
                    while len(pcm) >= _STEP_BYTES:
                        piece, pcm = pcm[:_STEP_BYTES], pcm[_STEP_BYTES:]
                        yield reply.chunk({"audio": _data(piece, None if sent_id else audio_id)})
                        sent_id = True
                elif kind == "final":
                    if pcm:
                        yield reply.chunk({"audio": _data(pcm, None if sent_id else audio_id)})
                        sent_id, pcm = True, b""
                    yield _final_chunks(reply, req, value, audio_id if sent_id else None, said, clips, store,
                                        unsent_id=audio_id if not sent_id else None)
                    if req.include_usage:
                        out_s = sum(c.duration for c in clips) if audio_id and not value.tool_calls else None
                        yield reply.chunk(None, usage=_usage(value, conv=conv, heard_tokens=heard, out_audio_s=out_s))
                    yield sse.DONE
                    return
                elif kind == "error":
                    yield sse.frame(value.to_openai())
                    return
                item = await out.get()
        finally:
            task.cancel()

    return sse.response(frames(), headers=engine_headers(req.spec, req.alias), on_close=task.cancel)


def _final_chunks(reply: _Reply, req: ChatRequest, final: ChatDelta, audio_id, said, clips, store, *,
                  unsent_id: str | None = None) -> str:
    """Tool calls or the audio expiry update, then the chunk with ``finish_reason``."""
    out = []
    if final.tool_calls:
        if req.legacy_functions:
            out.append(reply.chunk({"function_call": final.tool_calls[0].to_openai()["function"]}))
        else:
            calls = [{"index": k, **c.to_openai()} for k, c in enumerate(final.tool_calls)]
            out.append(reply.chunk({"tool_calls": calls}))
    elif audio_id or unsent_id:
        speech = Audio.concat(clips) if clips else None
        item = store.put("".join(said), speech, audio_id=audio_id or unsent_id)
        update = {"expires_at": item.expires_at} if audio_id else {"id": unsent_id, "expires_at": item.expires_at}
        out.append(reply.chunk({"audio": update}))
    finish = "function_call" if final.tool_calls and req.legacy_functions else final.finish_reason
    out.append(reply.chunk({}, finish=finish))
    return "".join(out)

"""``POST /v1/audio/translations``: speech in any language to English text (Whisper's translate
task), as json, text, srt, vtt or verbose_json, OpenAI wire-exact.

OpenAI serves this endpoint with ``whisper-1`` only; locally ``whisper-1`` and the local
``whisper-*`` ids work, other ids are refused with a 400 naming ``model``.
"""

from __future__ import annotations

import functools

from fastapi import APIRouter, Request

from audiolab.server.coalesce import mark_sampled, sharing_of
from audiolab.server.engines import Transcript
from audiolab.server.routes import state
from audiolab.server.routes._stt import decode_upload, parse_request, render, stt_key

router = APIRouter(prefix="/v1")


@router.post("/audio/translations")
async def create_translation(request: Request):
    st = state(request)
    req = await parse_request(request, task="translate")

    async def make(listeners):
        audio = await decode_upload(request, req)
        engine = await st.jobs.run(st.registry.engine_for, req.spec)
        # Segment by segment: between two, a bulk job gives way to interactive work and other clients.
        parts = [p async for p in st.jobs.iterate(functools.partial(
            engine.stream, audio, **req.options(task="translate").kwargs()))]
        transcript = Transcript.join(parts, duration=audio.duration)
        mark_sampled(listeners, transcript)
        return render(transcript, req, task="translate", spec=req.spec)

    return await sharing_of(st).respond("translations", await stt_key(req, task="translate"), make,
                                        request=request)

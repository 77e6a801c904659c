"""``POST /v1/audio/translations``: speech in any language to English text (Whisper's translate
task), as json, text, srt, vtt or verbose_json, OpenAI wire-exact.

OpenAI serves this endpoint with ``whisper-1`` only; locally ``whisper-1`` and the local
``whisper-*`` ids work, other ids are refused with a 400 naming ``model``.
"""

from __future__ import annotations

import functools

from fastapi import APIRouter, Request

from audiolab.server.routes import state
from audiolab.server.routes._stt import decode_upload, parse_request, render

router = APIRouter(prefix="/v1")


@router.post("/audio/translations")
async def create_translation(request: Request):
    st = state(request)
    req = await parse_request(request, task="translate")
    audio = await decode_upload(request, req)
    engine = await st.jobs.run(st.registry.engine_for, req.spec)
    transcript = await st.jobs.run(functools.partial(
        engine.transcribe, audio, prompt=req.prompt, temperature=req.temperature, task="translate"))
    return render(transcript, req, task="translate", spec=req.spec)

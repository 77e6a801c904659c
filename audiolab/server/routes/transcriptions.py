"""``POST /v1/audio/transcriptions``: speech to text in the language spoken, OpenAI wire-exact.

Formats json, text, srt, vtt, verbose_json (segments, and words with
``timestamp_granularities[]=word``) and diarized_json; ``include[]=logprobs``; ``keywords[]`` and
``languages[]`` (``gpt-transcribe``); ``known_speaker_names[]``/``known_speaker_references[]``
(``gpt-4o-transcribe-diarize``, named speakers in diarized_json); ``stream=true`` as server-sent
``transcript.text.delta`` / ``transcript.text.done`` events. Which model id may use which option
is the alias table in :mod:`audiolab.server.registry` and :mod:`audiolab.server.routes._stt_fields`.
"""

from __future__ import annotations

import dataclasses
import functools

from fastapi import APIRouter, Request

from audiolab.errors import InvalidRequest
from audiolab.server.coalesce import mark_sampled, sharing_of
from audiolab.server.engines import Transcript
from audiolab.server.engines.diarize import diarize as diarize_transcript
from audiolab.server.jobs import INTERACTIVE, set_priority
from audiolab.server.routes import decode_audio, state
from audiolab.server.routes._stt import (
    decode_upload,
    parse_request,
    render,
    sse_response,
    stt_key,
    token_counter,
)
from audiolab.server.routes._stt_fields import decode_references, resolve_language

router = APIRouter(prefix="/v1")

# OpenAI: chunking_strategy is "Required when using gpt-4o-transcribe-diarize for inputs longer
# than 30 seconds".
_DIARIZE_MAX_UNCHUNKED_S = 30.0
#: An upload this short is a spoken turn someone waits on (a chained voice agent transcribes each
#: question this way): interactive work. Longer files are bulk work.
INTERACTIVE_MAX_S = 15.0


@router.post("/audio/transcriptions")
async def create_transcription(request: Request):
    st = state(request)
    req = await parse_request(request, task="transcribe")
    if req.stream:
        set_priority(INTERACTIVE)  # text shown as it is decoded goes ahead of bulk work

    async def make(listeners):
        audio = await decode_upload(request, req)
        if audio.duration <= INTERACTIVE_MAX_S:
            set_priority(INTERACTIVE)  # a spoken turn (a voice agent's question), not a file to work through
        diarize = None
        if req.response_format == "diarized_json":
            if req.alias is not None and audio.duration > _DIARIZE_MAX_UNCHUNKED_S and req.vad is None:
                raise InvalidRequest(
                    f"chunking_strategy is required for inputs longer than 30 seconds with model "
                    f"'{req.model}' ({audio.duration:.1f} s given). Pass chunking_strategy='auto'.",
                    param="chunking_strategy", code="missing_required_parameter")
            refs = await decode_references(st.jobs.run, req.speaker_refs, decode_audio)
            diarize = functools.partial(diarize_transcript, audio, names=req.speaker_names, references=refs)
        engine = await st.jobs.run(st.registry.engine_for, req.spec)
        language = req.language
        if req.languages:  # gpt-transcribe's candidates: the one given, or the likeliest of several
            language = await st.jobs.run(functools.partial(resolve_language, engine, audio, language=language,
                                                           languages=req.languages))
        options = dataclasses.replace(req, language=language).options(task="transcribe").kwargs()
        if req.stream:
            # Options are checked (and the audio resampled) before the 200 goes out; decoding then
            # runs segment by segment as the client reads.
            parts = await st.jobs.run(functools.partial(engine.stream, audio, **options))
            decoded = _greedy_only(st.jobs.iterate(lambda: parts), listeners)
            return sse_response(request, req, decoded, audio=audio, count_tokens=token_counter(engine),
                                diarize=diarize)
        # Segment by segment: between two, a bulk job gives way to interactive work and other clients.
        parts = [p async for p in st.jobs.iterate(functools.partial(engine.stream, audio, **options))]
        transcript = Transcript.join(parts, duration=audio.duration, language=language)
        if diarize is not None:
            transcript = await st.jobs.run(diarize, transcript)
        mark_sampled(listeners, transcript)
        return render(transcript, req, task="transcribe", spec=req.spec)

    return await sharing_of(st).respond("transcriptions", await stt_key(req, task="transcribe"), make,
                                        request=request)


async def _greedy_only(parts, listeners):
    """``parts`` as they come, marking the result as sampled if Whisper fell back to sampling."""
    try:
        async for part in parts:
            mark_sampled(listeners, part)
            yield part
    finally:
        await parts.aclose()

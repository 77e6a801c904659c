"""What the transcription and translation routes share: reading OpenAI's multipart request,
checking it the way OpenAI does, decoding the upload, and sending the chosen format back.

The SDK sends arrays as ``include[]=logprobs`` and objects as ``chunking_strategy[type]=...``
(multipart "brackets" style); both spellings, and repeated plain keys, are accepted.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.datastructures import FormData, UploadFile

from audiolab.audio import Audio
from audiolab.errors import AudioDecodeError, AudiolabError, InvalidRequest, PayloadTooLarge
from audiolab.server import formats, sse
from audiolab.server.engines import Transcript
from audiolab.server.engines.protocols import TranscribeOptions
from audiolab.server.registry import STT_ALL_FORMATS, Alias, ModelSpec
from audiolab.server.routes import decode_audio, engine_headers, state
from audiolab.server.routes._stt_fields import form_text, transcribe_fields

__all__ = [
    "UPLOAD_EXTENSIONS",
    "SttRequest",
    "parse_request",
    "decode_upload",
    "allowed_formats",
    "render",
    "sse_response",
    "stt_key",
    "token_counter",
    "partial_header",
    "PARTIAL_HEADER",
]

#: File extensions OpenAI accepts for uploads (its error message lists these).
UPLOAD_EXTENSIONS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")
_MAX_FIELD_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SttRequest:
    """A checked transcription/translation request (the upload is not decoded yet)."""

    upload: UploadFile
    model: str
    spec: ModelSpec
    alias: Alias | None
    response_format: str = "json"
    language: str | None = None
    prompt: str | None = None
    temperature: float = 0.0
    granularities: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    stream: bool = False
    vad: Mapping | None = None
    keywords: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    speaker_names: tuple[str, ...] = ()
    speaker_refs: tuple[str, ...] = ()

    @property
    def logprobs(self) -> bool:
        return "logprobs" in self.include

    def options(self, *, task: str) -> TranscribeOptions:
        """What the engine is asked (OpenAI's ``keywords`` become ``hotwords``, ``chunking_strategy``
        becomes ``vad``); a translation passes only its prompt and temperature, as OpenAI's does.

        The keywords reach Whisper as a short glossary in its context ("Kubrenix, Siobhan."): a
        name the decoder has just "read" is what it then spells (ended as a sentence, the
        glossary keeps the transcript's own casing and punctuation).
        """
        if task == "translate":
            return TranscribeOptions(prompt=self.prompt, temperature=self.temperature, task="translate")
        return TranscribeOptions(language=self.language, prompt=self.prompt, temperature=self.temperature,
                                 word_timestamps="word" in self.granularities, logprobs=self.logprobs,
                                 hotwords=", ".join(self.keywords) + "." if self.keywords else None, vad=self.vad)


def allowed_formats(spec: ModelSpec, alias: Alias | None, *, task: str) -> tuple[str, ...]:
    """Response formats a model id supports: the alias's OpenAI list, or all a local model can make."""
    if task == "translate":
        return STT_ALL_FORMATS
    if alias is not None:
        return alias.response_formats
    return (*STT_ALL_FORMATS, "diarized_json") if spec.engine == "whisper" else STT_ALL_FORMATS


def _response_format(form: FormData, spec: ModelSpec, alias: Alias | None, model: str, *, task: str) -> str:
    fmt = (form_text(form, "response_format") or "json").strip()
    known = (*STT_ALL_FORMATS, "diarized_json") if task == "transcribe" else STT_ALL_FORMATS
    if fmt not in known:
        raise InvalidRequest(f"Invalid value for 'response_format': '{fmt}'. Supported values are: "
                             f"{', '.join(repr(f) for f in known)}.", param="response_format", code="invalid_value")
    allowed = allowed_formats(spec, alias, task=task)
    if fmt not in allowed:
        raise InvalidRequest(f"response_format '{fmt}' is not compatible with model '{model}'. Use "
                             f"{' or '.join(repr(f) for f in allowed)}.", param="response_format",
                             code="unsupported_value")
    return fmt


def _temperature(form: FormData) -> float:
    raw = form_text(form, "temperature")
    if raw in (None, ""):
        return 0.0
    try:
        temperature = float(raw)
    except ValueError:
        raise InvalidRequest(f"Invalid value for 'temperature': {raw!r} is not a number.",
                             param="temperature", code="invalid_type") from None
    if not 0.0 <= temperature <= 1.0:
        raise InvalidRequest(f"Invalid 'temperature': {temperature} is not between 0 and 1.",
                             param="temperature", code="decimal_out_of_range")
    return temperature


async def parse_request(request: Request, *, task: str) -> SttRequest:
    """Read and check the multipart form of a transcription (``task="transcribe"``) or translation.

    Raises:
        InvalidRequest: a missing file or model, or a parameter OpenAI would refuse.
        UnsupportedModel: an unknown model id.
        PayloadTooLarge: an upload over ``settings.max_upload_bytes``.
    """
    st = state(request)
    try:
        form = await request.form(max_files=4, max_fields=200, max_part_size=_MAX_FIELD_BYTES)
    except AudiolabError:
        raise
    except Exception as exc:  # malformed multipart body
        raise InvalidRequest(f"Could not parse the multipart form: {exc}. Send multipart/form-data with "
                             "'file' and 'model'.", param=None, code="invalid_request") from exc
    uploads = [v for v in form.getlist("file") if not isinstance(v, str)]
    if not uploads:
        raise InvalidRequest("Missing required parameter: 'file'.", param="file", code="missing_required_parameter")
    upload = uploads[0]
    size = upload.size if upload.size is not None else len(await upload.read())
    if size > st.settings.max_upload_bytes:
        raise PayloadTooLarge(f"Maximum content size limit ({st.settings.max_upload_bytes} bytes) exceeded "
                              f"({size} bytes read).", param="file", code="file_too_large")
    model = form_text(form, "model")
    if not model:
        raise InvalidRequest("Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
    spec, alias = st.registry.resolve(model, "stt")
    if task == "translate" and (spec.engine != "whisper" or (alias is not None and alias.id != "whisper-1")):
        raise InvalidRequest(f"The model '{model}' cannot translate: translations use whisper-1 "
                             "(or a local whisper-* model).", param="model", code="unsupported_model")

    fmt = _response_format(form, spec, alias, model, task=task)
    temperature = _temperature(form)
    language = (form_text(form, "language") or "").strip().lower() or None
    prompt = form_text(form, "prompt") or None

    fields = {"language": language}
    if task == "transcribe":
        fields = {**fields, **transcribe_fields(form, model=model, alias=alias, fmt=fmt, prompt=prompt)}
    return SttRequest(upload=upload, model=model, spec=spec, alias=alias, response_format=fmt, prompt=prompt,
                      temperature=temperature, **fields)


async def stt_key(req: SttRequest, *, task: str) -> str | None:
    """The content address of a transcription or translation (model, every option, the uploaded
    bytes and file name), or ``None`` when it is not deterministic (``temperature`` > 0 samples)."""
    from audiolab.server.response_cache import request_key

    if req.temperature > 0:
        return None
    await req.upload.seek(0)
    data = await req.upload.read()
    fields = {"task": task, "model": req.model, "format": req.response_format, "language": req.language,
              "prompt": req.prompt, "granularities": req.granularities, "include": req.include,
              "stream": req.stream, "vad": dict(req.vad) if req.vad is not None else None,
              "keywords": req.keywords, "languages": req.languages, "speakers": req.speaker_names,
              "file": req.upload.filename}
    return request_key(task, fields, blobs=(data, *(r.encode() for r in req.speaker_refs)))


def _extension(filename: str | None) -> str | None:
    if not filename:
        return None
    ext = os.path.splitext(filename)[1].lower().lstrip(".")
    return ext or None


async def decode_upload(request: Request, req: SttRequest) -> Audio:
    """The uploaded file as :class:`Audio`, decoded by content (off the event loop).

    Raises:
        InvalidRequest: a file name whose extension OpenAI does not accept.
        AudioDecodeError: empty, corrupt or non-audio bytes.
    """
    ext = _extension(req.upload.filename)
    if ext is not None and ext not in UPLOAD_EXTENSIONS:
        raise InvalidRequest(f"Invalid file format. Supported formats: {list(UPLOAD_EXTENSIONS)}",
                             param="file", code="invalid_value")
    await req.upload.seek(0)
    data = await req.upload.read()
    if not data:
        raise AudioDecodeError("The audio file is empty (0 bytes). Send a non-empty audio file.")
    audio = await state(request).jobs.run(decode_audio, data, source=req.upload.filename or "upload")
    if audio.duration < 0.1:
        raise InvalidRequest(f"Audio file is too short. Minimum audio length is 0.1 seconds "
                             f"(got {audio.duration:.3f} s).", param="file", code="audio_too_short")
    return audio


def render(t: Transcript, req: SttRequest, *, task: str, spec: ModelSpec) -> Response:
    """The non-streaming response in ``req.response_format``, with the engine header (and
    ``x-audiolab-partial`` when the decode budget ended the transcript early)."""
    headers = {**engine_headers(spec), **partial_header(t)}
    fmt = req.response_format
    if fmt == "text":
        return PlainTextResponse(formats.to_text(t), headers=headers)
    if fmt == "srt":
        return PlainTextResponse(formats.to_srt(t), headers=headers)
    if fmt == "vtt":
        return PlainTextResponse(formats.to_vtt(t), headers=headers)
    if fmt == "verbose_json":
        gran = req.granularities or ("segment",)
        body = formats.to_verbose_json(t, task=task, segments="segment" in gran, words="word" in gran,
                                       usage=task == "transcribe")
    elif fmt == "diarized_json":
        body = formats.to_diarized_json(t)
    elif task == "translate":
        body = {"text": t.text}
    else:
        body = formats.to_json(t, logprobs=req.logprobs, languages=_reports_languages(req))
    return JSONResponse(body, headers=headers)


#: Response header of a transcript cut short by the server's decode budget (``Settings.stt_budget_s``).
PARTIAL_HEADER = "x-audiolab-partial"


def partial_header(t: Transcript) -> dict[str, str]:
    """``{PARTIAL_HEADER: ...}`` saying how much of the audio a partial transcript covers, else ``{}``."""
    if not t.partial:
        return {}
    covered = t.segments[-1].end if t.segments else 0.0
    return {PARTIAL_HEADER: f"decode budget reached; the text covers 0-{covered:.1f} s of {t.duration:.1f} s"}


def _reports_languages(req: SttRequest) -> bool:
    return req.alias is not None and req.alias.id == "gpt-transcribe"


def token_counter(engine) -> Callable[[str], int]:
    """The engine's own token count (Whisper BPE), or a word count for engines without one."""
    return getattr(engine, "count_tokens", None) or (lambda text: len(text.split()))


def sse_response(request: Request, req: SttRequest, parts: AsyncIterator[Transcript], *, audio: Audio,
                 count_tokens: Callable[[str], int], diarize=None) -> Response:
    """``transcript.text.delta`` events as segments are decoded, then ``transcript.text.done``.

    With ``diarize`` (a callable turning the final :class:`Transcript` into a speaker-labelled
    one), ``transcript.text.segment`` events follow the deltas, as ``diarized_json`` streams do.
    An engine error mid-stream becomes an OpenAI ``error`` event and the stream ends; a client
    that goes away closes ``parts``, which stops the decoding.
    """

    async def events():
        segments = []
        lps = []
        language = req.language or "en"
        try:
            async for part in parts:
                language = part.language
                for seg in part.segments:
                    delta = seg.text if segments else seg.text.lstrip()
                    segments.append(seg)
                    if part.logprobs is not None:
                        lps.extend(part.logprobs)
                    if delta:
                        seg_id = f"seg_{seg.id:03d}" if diarize is not None else None
                        yield sse.frame(formats.delta_event(delta, logprobs=part.logprobs if req.logprobs else None,
                                                       segment_id=seg_id))
            final = Transcript(text="".join(s.text for s in segments).strip(), language=language,
                               duration=audio.duration, segments=tuple(segments),
                               logprobs=tuple(lps) if req.logprobs else None)
            if diarize is not None:
                final = await state(request).jobs.run(diarize, final)
                for seg in final.segments:
                    if seg.text.strip():
                        yield sse.frame(formats.segment_event(seg))
            usage = await state(request).jobs.run(
                lambda: (count_tokens(req.prompt) if req.prompt else 0, count_tokens(final.text) if final.text else 0))
            yield sse.frame(formats.done_event(final, logprobs=req.logprobs, languages=_reports_languages(req),
                                          prompt_tokens=usage[0], output_tokens=usage[1]))
        except AudiolabError as exc:
            yield sse.frame(exc.to_openai())
        finally:
            await parts.aclose()

    return sse.response(events(), headers=engine_headers(req.spec))

"""Multipart form fields of the speech-to-text routes, and the transcription-only options checked
against what the model id allows: ``timestamp_granularities[]``, ``include[]``, ``chunking_strategy``,
``keywords[]`` and ``languages[]`` (``gpt-transcribe``), ``known_speaker_names[]`` and
``known_speaker_references[]`` (``gpt-4o-transcribe-diarize``).

A local model id (``whisper-base``...) takes every option its engine can serve; an OpenAI id takes
those OpenAI documents for it, and any other is a 400 ``unsupported_parameter`` naming the field.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Mapping, Sequence

from starlette.datastructures import FormData

from audiolab.audio import Audio
from audiolab.errors import AudioDecodeError, InvalidRequest
from audiolab.server.registry import Alias

__all__ = ["form_text", "form_list", "form_bool", "transcribe_fields", "decode_references",
           "resolve_language", "MAX_KNOWN_SPEAKERS", "REFERENCE_SECONDS"]

#: OpenAI: "Up to 4 speakers are supported" (``maxItems: 4`` on both arrays).
MAX_KNOWN_SPEAKERS = 4
#: OpenAI: "Each sample must be between 2 and 10 seconds".
REFERENCE_SECONDS = (2.0, 10.0)
# OpenAI documents these options for these ids only (openai-openapi.yaml, CreateTranscriptionRequest).
_KEYWORD_IDS = ("gpt-transcribe",)
_SPEAKER_IDS = ("gpt-4o-transcribe-diarize",)


def _values(form: FormData, name: str) -> list:
    return [*form.getlist(name), *form.getlist(name + "[]")]


def form_text(form: FormData, name: str) -> str | None:
    """The last value of a string field (``None`` when absent); a file there is a 400."""
    vals = _values(form, name)
    if not vals:
        return None
    val = vals[-1]
    if not isinstance(val, str):
        raise InvalidRequest(f"'{name}' must be a string, not a file.", param=name, code="invalid_type")
    return val


def form_list(form: FormData, name: str) -> tuple[str, ...]:
    """An array field, sent as ``name[]=a&name[]=b`` (the SDK's style) or repeated ``name``."""
    out = []
    for v in _values(form, name):
        if not isinstance(v, str):
            raise InvalidRequest(f"'{name}' must hold strings, not files.", param=name, code="invalid_type")
        out.append(v)
    return tuple(out)


def form_bool(form: FormData, name: str) -> bool:
    raw = form_text(form, name)
    if raw is None or raw.strip().lower() in ("", "false", "0", "null", "none"):
        return False
    if raw.strip().lower() in ("true", "1"):
        return True
    raise InvalidRequest(f"Invalid value for '{name}': expected a boolean, got {raw!r}.", param=name,
                         code="invalid_type")


def _chunking(form: FormData) -> Mapping | None:
    """OpenAI's ``chunking_strategy`` as faster-whisper VAD options (``None``: one block)."""
    flat = form_text(form, "chunking_strategy")
    nested = {k[len("chunking_strategy["):-1]: v for k, v in form.multi_items()
              if k.startswith("chunking_strategy[") and k.endswith("]")}
    if flat is not None and flat.strip().startswith("{"):  # a raw client sending the object as JSON
        try:
            nested = json.loads(flat)
        except ValueError:
            raise InvalidRequest("chunking_strategy is not valid JSON.", param="chunking_strategy",
                                 code="invalid_value") from None
        flat = None
    if flat is not None and not nested:
        if flat in ("", "null"):
            return None
        if flat != "auto":
            raise InvalidRequest(f"Invalid value for 'chunking_strategy': {flat!r}. Use 'auto' or an object "
                                 "with type 'server_vad'.", param="chunking_strategy", code="invalid_value")
        return {}
    if not nested:
        return None
    if nested.get("type") != "server_vad":
        raise InvalidRequest("chunking_strategy.type must be 'server_vad'.", param="chunking_strategy.type",
                             code="invalid_value")
    vad: dict = {}
    names = {"threshold": ("threshold", float), "silence_duration_ms": ("min_silence_duration_ms", int),
             "prefix_padding_ms": ("speech_pad_ms", int)}
    for key, (target, cast) in names.items():
        if key in nested:
            try:
                vad[target] = cast(nested[key])
            except (TypeError, ValueError):
                raise InvalidRequest(f"Invalid value for 'chunking_strategy.{key}': {nested[key]!r}.",
                                     param=f"chunking_strategy.{key}", code="invalid_value") from None
    if "threshold" in vad and not 0.0 <= vad["threshold"] <= 1.0:
        raise InvalidRequest("chunking_strategy.threshold must be between 0 and 1.",
                             param="chunking_strategy.threshold", code="invalid_value")
    return vad


def _unsupported(name: str, model: str, ids: Sequence[str]) -> InvalidRequest:
    return InvalidRequest(f"Unsupported parameter: '{name}' is not supported with model '{model}'. It is "
                          f"supported by {', '.join(repr(i) for i in ids)} (or a local whisper-* model).",
                          param=name, code="unsupported_parameter")


def _words(form: FormData, name: str) -> tuple[str, ...]:
    """A list of non-empty strings (each stripped)."""
    out = tuple(v.strip() for v in form_list(form, name))
    if any(not v for v in out):
        raise InvalidRequest(f"Invalid value for '{name}': entries must be non-empty strings.", param=name,
                             code="invalid_value")
    return out


def _speakers(form: FormData, *, model: str, alias: Alias | None) -> dict:
    names = _words(form, "known_speaker_names")
    refs = form_list(form, "known_speaker_references")
    if (names or refs) and alias is not None and alias.id not in _SPEAKER_IDS:
        raise _unsupported("known_speaker_names" if names else "known_speaker_references", model, _SPEAKER_IDS)
    for field, vals in (("known_speaker_names", names), ("known_speaker_references", refs)):
        if len(vals) > MAX_KNOWN_SPEAKERS:
            raise InvalidRequest(f"Invalid '{field}': array too long. Expected an array with maximum length "
                                 f"{MAX_KNOWN_SPEAKERS}, but got an array with length {len(vals)} instead.",
                                 param=field, code="array_above_max_length")
    if len(names) != len(refs):
        raise InvalidRequest(f"known_speaker_names ({len(names)}) and known_speaker_references ({len(refs)}) "
                             "must have the same length: one reference clip per name.",
                             param="known_speaker_references" if names else "known_speaker_names",
                             code="invalid_value")
    if len(set(names)) != len(names):
        raise InvalidRequest("known_speaker_names must be distinct.", param="known_speaker_names",
                             code="invalid_value")
    return dict(speaker_names=names, speaker_refs=refs)


def transcribe_fields(form: FormData, *, model: str, alias: Alias | None, fmt: str, prompt: str | None) -> dict:
    """The fields only transcriptions have, checked against what the model id allows."""
    diarize = alias is not None and alias.id == "gpt-4o-transcribe-diarize"
    granularities = form_list(form, "timestamp_granularities")
    bad = [g for g in granularities if g not in ("word", "segment")]
    if bad:
        raise InvalidRequest(f"Invalid value for 'timestamp_granularities': {bad[0]!r}. Supported values "
                             "are: 'word' and 'segment'.", param="timestamp_granularities", code="invalid_value")
    if granularities and (diarize or (alias is not None and not alias.timestamps)):
        raise InvalidRequest(f"timestamp_granularities is not supported with model '{model}'.",
                             param="timestamp_granularities", code="unsupported_parameter")
    if granularities and fmt != "verbose_json":
        raise InvalidRequest("timestamp_granularities[] is only supported with response_format "
                             "'verbose_json'.", param="timestamp_granularities", code="unsupported_value")
    include = form_list(form, "include")
    bad = [i for i in include if i != "logprobs"]
    if bad:
        raise InvalidRequest(f"Invalid value for 'include': {bad[0]!r}. Supported values are: 'logprobs'.",
                             param="include", code="invalid_value")
    if include and (alias is not None and not alias.logprobs):
        raise InvalidRequest(f"include[]=logprobs is not supported with model '{model}'.",
                             param="include", code="unsupported_parameter")
    if include and fmt != "json":
        raise InvalidRequest("include[]=logprobs is only supported with response_format 'json'.",
                             param="include", code="unsupported_value")
    if diarize and prompt:
        raise InvalidRequest(f"prompt is not supported with model '{model}'.", param="prompt",
                             code="unsupported_parameter")
    keywords = _words(form, "keywords")
    languages = tuple(c.lower() for c in _words(form, "languages"))
    for name, vals in (("keywords", keywords), ("languages", languages)):
        if vals and alias is not None and alias.id not in _KEYWORD_IDS:
            raise _unsupported(name, model, _KEYWORD_IDS)
    return dict(
        granularities=granularities,
        include=include,
        # OpenAI: "Streaming is not supported for the whisper-1 model and will be ignored."
        stream=form_bool(form, "stream") and (alias is None or alias.sse),
        vad=_chunking(form),
        keywords=keywords,
        languages=languages,
        **_speakers(form, model=model, alias=alias),
    )


def resolve_language(engine, audio: Audio, *, language: str | None, languages: Sequence[str]) -> str | None:
    """The language to decode in: ``language`` if given, else the one candidate of ``languages``,
    else the most probable of several (the engine's ``detect_language(audio, among=...)``).

    Raises:
        InvalidRequest: a candidate the engine does not know (``param="languages"``).
    """
    known = getattr(engine, "languages", None)
    bad = [c for c in languages if known is not None and c not in known]
    if bad:
        raise InvalidRequest(f"Invalid value for 'languages': {bad[0]!r}. Languages must be given in ISO-639-1 "
                             f"format (one of {', '.join(known)}).", param="languages",
                             code="invalid_language_format")
    if language is not None or not languages:
        return language
    if len(languages) == 1 or not hasattr(engine, "detect_language"):
        return languages[0]
    return engine.detect_language(audio, among=tuple(languages))


async def decode_references(run, refs: Sequence[str], decode_audio) -> tuple[Audio, ...]:
    """``known_speaker_references[]`` (base64 data URLs) as :class:`Audio`, each 2 to 10 s long.

    ``run`` runs a blocking call off the event loop (the job scheduler's ``run``).
    """
    out = []
    param = "known_speaker_references"
    for i, url in enumerate(refs):
        head, _, payload = url.partition(",")
        if not head.startswith("data:") or not head.endswith(";base64") or not payload:
            raise InvalidRequest(f"known_speaker_references[{i}] must be a base64 data URL "
                                 "(data:audio/wav;base64,...).", param=param, code="invalid_value")
        try:
            data = base64.b64decode(payload, validate=True)
        except ValueError:
            raise InvalidRequest(f"known_speaker_references[{i}] is not valid base64.", param=param,
                                 code="invalid_value") from None
        try:
            clip = await run(functools.partial(decode_audio, data, source=f"known_speaker_references[{i}]",
                                               param=param))
        except AudioDecodeError as exc:
            raise AudioDecodeError(f"known_speaker_references[{i}]: {exc.message}", param=param) from exc
        low, high = REFERENCE_SECONDS
        if not low <= clip.duration <= high:
            raise InvalidRequest(f"known_speaker_references[{i}] lasts {clip.duration:.1f} s; each sample must be "
                                 f"between {low:g} and {high:g} seconds.", param=param, code="invalid_value")
        out.append(clip)
    return tuple(out)

"""Shaping a :class:`Transcript` into OpenAI's transcription formats: json, text, srt, vtt,
verbose_json and diarized_json, plus the streaming events. Pure functions, no HTTP.

Field names and layouts follow OpenAI's published schemas (``CreateTranscriptionResponseJson``,
``CreateTranscriptionResponseVerboseJson``, ``CreateTranscriptionResponseDiarizedJson``,
``TranscriptTextDeltaEvent``, ``TranscriptTextDoneEvent``).

Example:
    >>> from audiolab.server.engines import Segment, Transcript
    >>> t = Transcript("Hi there.", "en", 1.5, (Segment(0, 0.0, 1.2, " Hi there."),))
    >>> print(to_srt(t))
    1
    00:00:00,000 --> 00:00:01,200
    Hi there.
    <BLANKLINE>
    <BLANKLINE>
"""

from __future__ import annotations

import math

from audiolab.server.engines import Segment, TokenLogprob, Transcript

__all__ = [
    "LANGUAGE_NAMES",
    "language_name",
    "usage_duration",
    "to_json",
    "to_text",
    "to_srt",
    "to_vtt",
    "to_verbose_json",
    "to_diarized_json",
    "logprobs_json",
    "delta_event",
    "segment_event",
    "done_event",
    "timestamp",
]

# Whisper's language table: ISO-639-1 code -> the lower-case name OpenAI returns in verbose_json.
LANGUAGE_NAMES = {
    "en": "english", "zh": "chinese", "de": "german", "es": "spanish", "ru": "russian", "ko": "korean",
    "fr": "french", "ja": "japanese", "pt": "portuguese", "tr": "turkish", "pl": "polish", "ca": "catalan",
    "nl": "dutch", "ar": "arabic", "sv": "swedish", "it": "italian", "id": "indonesian", "hi": "hindi",
    "fi": "finnish", "vi": "vietnamese", "he": "hebrew", "uk": "ukrainian", "el": "greek", "ms": "malay",
    "cs": "czech", "ro": "romanian", "da": "danish", "hu": "hungarian", "ta": "tamil", "no": "norwegian",
    "th": "thai", "ur": "urdu", "hr": "croatian", "bg": "bulgarian", "lt": "lithuanian", "la": "latin",
    "mi": "maori", "ml": "malayalam", "cy": "welsh", "sk": "slovak", "te": "telugu", "fa": "persian",
    "lv": "latvian", "bn": "bengali", "sr": "serbian", "az": "azerbaijani", "sl": "slovenian",
    "kn": "kannada", "et": "estonian", "mk": "macedonian", "br": "breton", "eu": "basque",
    "is": "icelandic", "hy": "armenian", "ne": "nepali", "mn": "mongolian", "bs": "bosnian",
    "kk": "kazakh", "sq": "albanian", "sw": "swahili", "gl": "galician", "mr": "marathi", "pa": "punjabi",
    "si": "sinhala", "km": "khmer", "sn": "shona", "yo": "yoruba", "so": "somali", "af": "afrikaans",
    "oc": "occitan", "ka": "georgian", "be": "belarusian", "tg": "tajik", "sd": "sindhi", "gu": "gujarati",
    "am": "amharic", "yi": "yiddish", "lo": "lao", "uz": "uzbek", "fo": "faroese", "ht": "haitian creole",
    "ps": "pashto", "tk": "turkmen", "nn": "nynorsk", "mt": "maltese", "sa": "sanskrit",
    "lb": "luxembourgish", "my": "myanmar", "bo": "tibetan", "tl": "tagalog", "mg": "malagasy",
    "as": "assamese", "tt": "tatar", "haw": "hawaiian", "ln": "lingala", "ha": "hausa", "ba": "bashkir",
    "jw": "javanese", "su": "sundanese", "yue": "cantonese",
}


def language_name(code: str) -> str:
    """``"en"`` -> ``"english"``, as OpenAI's verbose_json reports it (unknown codes unchanged)."""
    return LANGUAGE_NAMES.get(code, code)


def usage_duration(t: Transcript) -> dict:
    """OpenAI's ``TranscriptTextUsageDuration``: input seconds, billed rounded up."""
    return {"type": "duration", "seconds": int(math.ceil(t.duration - 1e-9)) if t.duration > 0 else 0}


def logprobs_json(lps: tuple[TokenLogprob, ...] | None) -> list[dict]:
    return [{"token": lp.token, "logprob": lp.logprob, "bytes": list(lp.bytes)} for lp in (lps or ())]


def to_json(t: Transcript, *, logprobs: bool = False, languages: bool = False) -> dict:
    """``CreateTranscriptionResponseJson``: text and usage (+ logprobs, + detected languages)."""
    body: dict = {"text": t.text}
    if logprobs:
        body["logprobs"] = logprobs_json(t.logprobs)
    if languages:
        body["languages"] = [{"code": t.language}] if t.language else []
    body["usage"] = usage_duration(t)
    return body


def to_text(t: Transcript) -> str:
    """``response_format=text``: the transcript and a newline, as OpenAI sends it."""
    return t.text + "\n"


def timestamp(seconds: float, *, sep: str = ",", always_hours: bool = True) -> str:
    """``HH:MM:SS,mmm`` (srt) or ``HH:MM:SS.mmm`` (vtt with ``sep="."``)."""
    ms = max(0, int(round(seconds * 1000)))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    head = f"{h:02d}:" if always_hours or h else ""
    return f"{head}{m:02d}:{s:02d}{sep}{ms:03d}"


def _cues(t: Transcript) -> list[Segment]:
    segs = [s for s in t.segments if s.text.strip()]
    if not segs and t.text.strip():
        segs = [Segment(0, 0.0, t.duration, t.text)]
    return segs


def to_srt(t: Transcript) -> str:
    """SubRip subtitles, one cue per segment."""
    return "".join(f"{i}\n{timestamp(s.start)} --> {timestamp(s.end)}\n{s.text.strip()}\n\n"
                   for i, s in enumerate(_cues(t), start=1))


def to_vtt(t: Transcript) -> str:
    """WebVTT subtitles, one cue per segment."""
    cues = "".join(f"{timestamp(s.start, sep='.')} --> {timestamp(s.end, sep='.')}\n{s.text.strip()}\n\n"
                   for s in _cues(t))
    return "WEBVTT\n\n" + cues


def _segment_json(s: Segment) -> dict:
    return {
        "id": s.id,
        "seek": s.seek,
        "start": s.start,
        "end": s.end,
        "text": s.text,
        "tokens": list(s.tokens),
        "temperature": s.temperature,
        "avg_logprob": s.avg_logprob,
        "compression_ratio": s.compression_ratio,
        "no_speech_prob": s.no_speech_prob,
    }


def to_verbose_json(t: Transcript, *, task: str = "transcribe", segments: bool = True, words: bool = False,
                    usage: bool = True) -> dict:
    """``CreateTranscriptionResponseVerboseJson`` (or the translation one with ``task="translate"``).

    Args:
        segments: include ``segments`` (``timestamp_granularities`` has ``segment``).
        words: include ``words`` (``timestamp_granularities`` has ``word``).
        usage: include ``usage``; OpenAI's translation object has none.
    """
    body: dict = {
        "task": task,
        "language": "english" if task == "translate" else language_name(t.language),
        "duration": round(t.duration, 3),
        "text": t.text,
    }
    if words:
        body["words"] = [{"word": w.word.strip(), "start": w.start, "end": w.end} for w in t.words]
    if segments:
        body["segments"] = [_segment_json(s) for s in t.segments]
    if usage:
        body["usage"] = usage_duration(t)
    return body


def _speaker_segments(t: Transcript) -> list[Segment]:
    return [s for s in t.segments if s.text.strip()]


def to_diarized_json(t: Transcript) -> dict:
    """``CreateTranscriptionResponseDiarizedJson``: segments labelled with speakers ``A``, ``B``..."""
    segs = _speaker_segments(t)
    return {
        "task": "transcribe",
        "duration": round(t.duration, 3),
        "text": "\n".join(f"{s.speaker or 'A'}: {s.text.strip()}" for s in segs),
        "segments": [segment_event(s) for s in segs],
        "usage": usage_duration(t),
    }


def segment_event(s: Segment) -> dict:
    """A ``transcript.text.segment`` object (also the items of diarized_json ``segments``)."""
    return {"type": "transcript.text.segment", "id": f"seg_{s.id:03d}", "start": s.start, "end": s.end,
            "text": s.text.strip(), "speaker": s.speaker or "A"}


def delta_event(delta: str, *, logprobs: tuple[TokenLogprob, ...] | None = None,
                segment_id: str | None = None) -> dict:
    """A ``transcript.text.delta`` event."""
    ev: dict = {"type": "transcript.text.delta", "delta": delta}
    if logprobs is not None:
        ev["logprobs"] = logprobs_json(logprobs)
    if segment_id is not None:
        ev["segment_id"] = segment_id
    return ev


def done_event(t: Transcript, *, logprobs: bool = False, languages: bool = False, prompt_tokens: int = 0,
               output_tokens: int = 0) -> dict:
    """A ``transcript.text.done`` event with token usage.

    OpenAI's schema types this event's ``usage`` as ``TranscriptTextUsageTokens``, so tokens are
    counted the local model's way: audio tokens are Whisper encoder positions (50 per second of
    input), text tokens the prompt's, output tokens those of the transcript.
    """
    audio_tokens = int(math.ceil(t.duration * 50))
    ev: dict = {"type": "transcript.text.done", "text": t.text}
    if logprobs:
        ev["logprobs"] = logprobs_json(t.logprobs)
    if languages:
        ev["languages"] = [{"code": t.language}] if t.language else []
    ev["usage"] = {
        "type": "tokens",
        "input_tokens": audio_tokens + prompt_tokens,
        "input_token_details": {"text_tokens": prompt_tokens, "audio_tokens": audio_tokens},
        "output_tokens": output_tokens,
        "total_tokens": audio_tokens + prompt_tokens + output_tokens,
    }
    return ev

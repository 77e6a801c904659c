"""Text made fit for scoring: Whisper's normaliser, and TTS input read as spoken.

Reference and hypothesis both go through Whisper's text normaliser before scoring:
``EnglishTextNormalizer`` for English (lower case, punctuation removed, numbers and currency
standardised, "Mr." -> "mister", British -> American spelling, fillers such as "uh" dropped),
``BasicTextNormalizer`` for other languages. Package: ``whisper_normalizer``.

Example:
    >>> normalize("Uh, the colour grey.")
    'the color gray'
"""

from __future__ import annotations

import functools
import re

__all__ = ["normalize", "as_spoken"]


@functools.cache
def _normalizer(english: bool):
    if english:
        from whisper_normalizer.english import EnglishTextNormalizer

        return EnglishTextNormalizer()
    from whisper_normalizer.basic import BasicTextNormalizer

    return BasicTextNormalizer()


def _is_english(language: str | None) -> bool:
    return (language or "en").lower() in ("en", "eng", "english") or (language or "").lower().startswith(
        "en-"
    )


def normalize(text: str | None, *, language: str = "en") -> str:
    """Whisper's normaliser: English rules for ``"en"``, the basic one for any other language.

    Example:
        >>> normalize("Mr. Smith paid $20.")
        'mister smith paid $20'
        >>> normalize("Mister Smith paid twenty dollars")
        'mister smith paid $20'
        >>> normalize("¿Qué tal, Señor?", language="es")
        'qué tal señor'
    """
    return _normalize_cached(text or "", _is_english(language))


_BRACKETS = re.compile(r"[()\[\]<>]")


def as_spoken(text: str) -> str:
    """Text that a TTS reads aloud, made fit to be a reference: its brackets go, their words stay.

    Whisper's normaliser drops whatever is in brackets, because in a human transcript that is an
    annotation ("[laughter]"). A TTS reads "(the capital)" aloud, and whisper hears those words.

    Example:
        >>> normalize("Rome (the capital) is old.")
        'rome is old'
        >>> normalize(as_spoken("Rome (the capital) is old."))
        'rome the capital is old'
    """
    return " ".join(_BRACKETS.sub(" ", text).split())


@functools.lru_cache(maxsize=8192)
def _normalize_cached(text: str, english: bool) -> str:
    # References repeat across models and conditions: normalise each text once.
    return " ".join(_normalizer(english)(text).split())

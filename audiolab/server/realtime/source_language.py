"""Which language a live speaker speaks, decided from whisper's guesses over successive passes.

Whisper detects a language from one window at a time, and whisper-base guesses poorly on a second
or two of speech, above all accented speech. A streaming decoder re-decodes a growing window every
half second: :class:`SourceLanguage` sums the guesses so that the passes keep one language token
(and can agree) and fixes the language once it is sure.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["SourceLanguage", "LANGUAGE_SURE"]

LANGUAGE_SURE = 0.8  # whisper's language probability on one pass that fixes the language at once


class SourceLanguage:
    """The speaker's language: whisper's guesses summed over the passes, fixed once it is sure.

    Each pass adds whisper's probability of every language, times the seconds of audio it heard,
    and is decoded in the language with the most so far. Successive passes over a growing window
    then keep one language token, so that they can agree, and one bad guess on a second of accented
    speech does not decide. The language is fixed (no more detection) when a pass is sure of it
    (probability >= :data:`LANGUAGE_SURE` on a second or more) or when a window of two seconds or
    more ends. Measured on Kokoro's Spanish through whisper-base: Russian (0.76) on the first
    second, Lithuanian (0.22) on 1.6 s; the former rule (the first guess on 2 s) fixed Lithuanian
    for the whole session.

    Example:
        >>> lang = SourceLanguage()
        >>> lang.choose({"es": 0.45, "pl": 0.2}, 1.0, final=False)
        'es'
        >>> lang.choose({"it": 0.52, "es": 0.4}, 2.0, final=False)  # es: 0.45 + 0.8; it: 1.04
        'es'
        >>> lang.code is None  # not sure yet
        True
        >>> lang.choose({"es": 0.82, "it": 0.1}, 4.3, final=True), lang.code
        ('es', 'es')
        >>> SourceLanguage().choose({"fr": 0.93, "pt": 0.05}, 1.0, final=False)
        'fr'
    """

    def __init__(self):
        self.code: str | None = None  # fixed: no more detection
        self._evidence: dict[str, float] = {}

    @property
    def best(self) -> str | None:
        """The fixed language, else the one with the most evidence so far (``None`` before any)."""
        return self.code or (max(self._evidence, key=self._evidence.get) if self._evidence else None)

    def choose(self, probabilities: Mapping[str, float], seconds: float, *, final: bool) -> str | None:
        """Add one pass's language ``probabilities`` over ``seconds`` of audio; the language to
        decode that pass in. ``final`` when the pass ends a window."""
        if self.code is not None:
            return self.code
        for code, p in probabilities.items():
            self._evidence[code] = self._evidence.get(code, 0.0) + p * seconds
        top = max(probabilities, key=probabilities.get, default=None)
        if top is not None and probabilities[top] >= LANGUAGE_SURE and seconds >= 1.0:
            self.code = top
        elif final and seconds >= 2.0:
            self.code = self.best
        return self.best

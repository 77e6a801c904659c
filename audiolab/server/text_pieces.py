"""Cutting text into the pieces a voice speaks: the one cutter of the TTS engines, Chat Completions
audio and Realtime responses.

Two uses share one sentence rule. A TTS engine gets a whole text and speaks it piece by piece
(:func:`split_pieces`). A streamed answer arrives in deltas and each piece is spoken as soon as it
is complete (:class:`PieceCutter`, over :func:`ready_pieces`), so ``/v1/chat/completions`` audio
and a Realtime response cut the same answer at the same places.

A sentence ends at ``. ! ? …`` (and CJK ``。！？``) followed by a space or the end, except after
common abbreviations (Dr., e.g.) and single initials; a line break ends a piece too. To start
speaking sooner, the first piece may be a phrase: a clause of five words or more, or the cut a
TTS engine makes in a long first sentence.

Example:
    >>> split_pieces("Dr. Smith arrived. He sat down!")
    ['Dr. Smith arrived.', 'He sat down!']
    >>> cutter = PieceCutter()
    >>> cutter.feed("Dr. Smith arr"), cutter.feed("ived. He sat"), cutter.finish()
    ([], ['Dr. Smith arrived.'], ['He sat'])
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = [
    "split_pieces",
    "ready_pieces",
    "first_piece",
    "PieceCutter",
    "pieces",
    "speakable",
    "spoken_text",
    "ends_sentence",
    "gap_after",
    "SENTENCE_GAP_S",
    "CLAUSE_GAP_S",
]

#: Silence between sentences at pause=1 and speed=1, in seconds.
SENTENCE_GAP_S = 0.22
#: Silence after a piece cut inside a sentence, at pause=1 and speed=1, in seconds.
CLAUSE_GAP_S = 0.06

# fmt: off
_ABBREVIATIONS = frozenset((
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "fig", "no", "vol", "mt",
    "ave", "approx", "dept", "est", "inc", "ltd", "co", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
    "sep", "sept", "oct", "nov", "dec", "u.s", "u.k", "a.m", "p.m",
))
# fmt: on
_END = re.compile(r"([.!?\u2026]+|[\u3002\uff01\uff1f])([\"'\u201d\u2019)\]]*)(\s+|$)")
_CLAUSE = re.compile(r"[,;:\u2013\u2014]\s")
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+")
_FINAL = re.compile(r"[.!?\u2026\u3002\uff01\uff1f][\"'\u201d\u2019)\]]*$")
_LINES = re.compile(r"\s*\n\s*")
_MARKDOWN = re.compile(r"[*_#`>|~]+")
_FIRST_SLACK = 12  # cut the first sentence only if at least this many characters would follow
_LATER_SLACK = 6  # and cut its next parts only if a word or more would follow
_FIRST_CLAUSE_WORDS = 5


def _sentence_ends(line: str) -> Iterator[re.Match]:
    """The sentence-end matches in one line of text, skipping abbreviations and initials."""
    start = 0
    for m in _END.finditer(line):
        head = line[start : m.start()]
        last = head.rsplit(None, 1)[-1].lower() if head.split() else ""
        is_abbrev = m.group(1) == "." and (
            last.rstrip(".") in _ABBREVIATIONS or re.fullmatch(r"[a-z]", last) is not None
        )
        if is_abbrev and m.end() < len(line):
            continue
        yield m
        start = m.end()


def _sentences(line: str) -> list[str]:
    out, start = [], 0
    for m in _sentence_ends(line):
        out.append(line[start : m.end()].strip())
        start = m.end()
    if line[start:].strip():
        out.append(line[start:].strip())
    return out


def _split_long(piece: str, limit: int, first_limit: int) -> list[str]:
    """Cut ``piece`` into parts of at most ``limit`` characters; the first part at most ``first_limit``,
    each next one up to twice the one before (until ``limit``), so that while one part plays the
    next, twice as long, has time to be synthesized. A part is cut only when a few words would
    follow it."""
    out: list[str] = []
    now = first_limit
    while len(piece) > now + (0 if now >= limit else _FIRST_SLACK if not out else _LATER_SLACK):
        cut = max((m.end() for m in _CLAUSE.finditer(piece, 0, now)), default=0)
        if cut < now // 3:
            cut = piece.rfind(" ", 0, now) + 1 or now
        out.append(piece[:cut].strip())
        piece = piece[cut:].strip()
        now = min(limit, now * 2)
    return out + ([piece] if piece else [])


def split_pieces(text: str, *, max_chars: int = 300, first_max_chars: int = 30) -> list[str]:
    """Split a whole text into the pieces an engine synthesizes (and a stream sends) one by one.

    A piece longer than ``max_chars`` is cut at a clause mark or a space. The first sentence,
    when it is longer than ``first_max_chars`` by more than a few words, is cut the same way at
    ``first_max_chars``, and its rest in parts up to twice as long each: the first streamed audio
    then needs a phrase, not a sentence, of synthesis, and each next part is ready before the
    one playing ends (an engine about twice as fast as real time keeps up). A slower engine
    asks for a shorter first phrase (``first_max_chars``).
    Pieces with nothing to say (only punctuation) are merged into their neighbour.
    Engines speak a piece cut mid-sentence with :func:`speakable` (continuation intonation) and
    follow it with a short :func:`gap_after`.

    Example:
        >>> split_pieces("Dr. Smith arrived. He sat down! Was it 3.5 p.m.? Yes.")
        ['Dr. Smith arrived.', 'He sat down!', 'Was it 3.5 p.m.?', 'Yes.']
        >>> split_pieces("The quick brown fox jumps over the lazy dog. It ran.")
        ['The quick brown fox jumps', 'over the lazy dog.', 'It ran.']
    """
    found = [s for line in _LINES.split(text.strip()) for s in _sentences(line)]
    merged: list[str] = []
    for p in found:
        if merged and (not re.search(r"\w", p) or not re.search(r"\w", merged[-1])):
            merged[-1] = f"{merged[-1]} {p}"
        else:
            merged.append(p)
    out: list[str] = []
    for p in merged:
        out += _split_long(p, max_chars, min(first_max_chars, max_chars) if not out else max_chars)
    return [p for p in out if p]


def _first_phrase(text: str) -> str | None:
    """The phrase :func:`split_pieces` speaks first from the unfinished sentence ``text``, once complete
    words follow it."""
    stripped = text.strip()
    head = (split_pieces(stripped) or [""])[0]
    if not head or head == stripped or not stripped.startswith(head) or not stripped[len(head)].isspace():
        return None
    return head


def ready_pieces(text: str, *, first: bool = False) -> tuple[list[str], str]:
    """The complete pieces at the start of a text still being written, and the unfinished rest.

    A sentence is complete once a space or a line break follows its end mark. With
    ``first=True`` (nothing spoken yet) a clause of five words or more also counts, and so does
    the first phrase of a long unfinished sentence, cut where :func:`split_pieces` cuts it.

    Example:
        >>> ready_pieces("Paris is lovely. It has")
        (['Paris is lovely.'], 'It has')
        >>> ready_pieces("It is 3.")
        ([], 'It is 3.')
        >>> ready_pieces("I am a voice assistant designed to provide information on", first=True)
        (['I am a voice assistant'], 'designed to provide information on')
    """
    *lines, last = re.split(r"\n", text)
    out = [s for line in lines for s in _sentences(line.strip())]
    start = 0
    for m in _sentence_ends(last):
        if not m.group(3):  # the end of the text so far: the sentence may go on ("3." then "5")
            break
        if last[start : m.end()].strip():
            out.append(last[start : m.end()].strip())
        start = m.end()
    rest = last[start:]
    if out or not first:
        return out, rest
    clause = next(
        (c for c in _CLAUSE_END.finditer(rest) if len(rest[: c.start()].split()) >= _FIRST_CLAUSE_WORDS), None
    )
    if clause is not None:
        return [rest[: clause.start()].strip()], rest[clause.end() :]
    head = _first_phrase(rest)
    if head is not None:
        return [head], rest[rest.index(head) + len(head) :].lstrip()
    return [], rest


def first_piece(text: str) -> tuple[str | None, str]:
    """The first piece an answer speaks, once ``text`` (the answer so far) holds it, and the rest.

    Example:
        >>> first_piece("Yes. I can")
        ('Yes.', 'I can')
        >>> first_piece("Well")
        (None, 'Well')
    """
    ready, rest = ready_pieces(text, first=True)
    if not ready:
        return None, rest
    return ready[0], " ".join([*ready[1:], rest]) if len(ready) > 1 else rest


class PieceCutter:
    """Cuts a text that arrives in deltas into pieces to speak, each as soon as it is complete.

    Example:
        >>> cut = PieceCutter()
        >>> cut.feed("Hello there. How"), cut.feed(" are you?"), cut.finish()
        (['Hello there.'], [], ['How are you?'])
    """

    def __init__(self):
        self._pending = ""
        self._first = True

    def feed(self, delta: str) -> list[str]:
        """Add ``delta``; returns the pieces it completed (often none)."""
        ready, self._pending = ready_pieces(self._pending + delta, first=self._first)
        if ready:
            self._first = False
        return ready

    def finish(self) -> list[str]:
        """The text is complete: returns what is left as a last piece (if anything is left)."""
        rest, self._pending = self._pending.strip(), ""
        return [rest] if rest else []


def ends_sentence(piece: str) -> bool:
    """Whether a piece ends a sentence (rather than being cut at a clause or a space).

    Example:
        >>> ends_sentence("Done."), ends_sentence("The quick brown fox jumps")
        (True, False)
    """
    return _FINAL.search(piece.strip()) is not None


def speakable(piece: str) -> str:
    """The text to synthesize for a piece: a comma is added where it was cut mid-sentence, so the
    engine gives it a continuation contour instead of a sentence-final fall.

    Example:
        >>> speakable("The quick brown fox jumps"), speakable("Done."), speakable("So,")
        ('The quick brown fox jumps,', 'Done.', 'So,')
    """
    piece = piece.strip()
    return piece if re.search(r"[^\w\s]$", piece) else piece + ","


def spoken_text(text: str) -> str:
    """``text`` as a voice reads it: markdown marks (``*``, ``#``, backticks...) are not read out.

    Example:
        >>> spoken_text("**Paris** is `lovely`.")
        'Paris  is  lovely .'
    """
    return _MARKDOWN.sub(" ", text).strip()


def gap_after(piece: str, *, last: bool) -> float:
    """Base silence after a piece, in seconds: none at the end, a sentence or a clause gap.

    Example:
        >>> gap_after("Done.", last=False) == SENTENCE_GAP_S, gap_after("Done.", last=True)
        (True, 0.0)
    """
    if last:
        return 0.0
    return SENTENCE_GAP_S if ends_sentence(piece) else CLAUSE_GAP_S


def pieces(text: str, *, first_max_chars: int = 30) -> Iterator[tuple[int, str, float]]:
    """``(index, piece, gap_after_s)`` for each piece a TTS engine speaks in turn (see :func:`split_pieces`).

    Example:
        >>> [(i, p, round(g, 2)) for i, p, g in pieces("Hi. Bye.")]
        [(0, 'Hi.', 0.22), (1, 'Bye.', 0.0)]
        >>> [p for _, p, _ in pieces("The quick brown fox jumps over the lazy dog.", first_max_chars=12)]
        ['The quick', 'brown fox jumps over', 'the lazy dog.']
    """
    found = split_pieces(text, first_max_chars=first_max_chars) or [text]
    for i, piece in enumerate(found):
        yield i, piece, gap_after(piece, last=i == len(found) - 1)

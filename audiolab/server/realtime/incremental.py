"""A turn transcribed while it is spoken: pieces cut at pauses, so that at the end only the tail is left.

A realtime session transcribes a turn speculatively each time the speaker pauses (see
:mod:`~audiolab.server.realtime.session`). When the speaker goes on, that transcript is not
wasted: it covers the audio up to a point inside a silence, which is a clean place to cut. The
:class:`TurnPieces` of the turn keeps it as a *piece*, and the next decode starts where the piece
ends, with the pieces' text as Whisper's prompt (the context it would have had decoding the
turn in one go). At ``speech_stopped`` only the audio since the last kept pause is decoded;
:meth:`TurnPieces.join` then makes one transcript of the whole turn, with segment times on the
turn's clock.

A piece is kept only when it is long enough for Whisper to read reliably (:data:`MIN_PIECE_MS`)
and holds text; otherwise the next decode simply starts from the earlier cut, as before.

Example:
    >>> from audiolab.server.engines import Segment, Transcript
    >>> turn = TurnPieces(start_ms=1000)
    >>> hello = Transcript("Hello there.", "en", 1.5, (Segment(0, 0.0, 1.4, " Hello there."),))
    >>> turn.keep(hello, end_ms=2500)
    True
    >>> turn.cut_ms, turn.prompt
    (2500, 'Hello there.')
    >>> whole = turn.join(Transcript("How are you?", "en", 1.0, (Segment(0, 0.1, 0.9, " How are you?"),)))
    >>> whole.text, [(s.id, s.start) for s in whole.segments]
    ('Hello there. How are you?', [(0, 0.0), (1, 1.6)])
"""

from __future__ import annotations

import dataclasses

from audiolab.server.engines import Transcript

__all__ = ["TurnPieces", "MIN_PIECE_MS"]

#: Shortest audio kept as a piece: below about a second Whisper has too little context.
MIN_PIECE_MS = 1200


class TurnPieces:
    """The transcribed pieces of one turn, and where the audio still to decode begins.

    Args:
        start_ms: the turn's start on the session clock (``audio_start_ms``).
    """

    def __init__(self, *, start_ms: int):
        self.start_ms = start_ms
        self.cut_ms = start_ms  # audio before this (session clock) is transcribed in ``pieces``
        self.pieces: list[tuple[int, Transcript]] = []  # (offset from the turn start in ms, transcript)
        self._offer: tuple[int, int, Transcript] | None = None

    def copy(self) -> TurnPieces:
        """The pieces as they are now (a decode joins the pieces it was conditioned on)."""
        out = TurnPieces(start_ms=self.start_ms)
        out.cut_ms, out.pieces = self.cut_ms, list(self.pieces)
        return out

    @property
    def prompt(self) -> str:
        """The text so far, to condition the next decode on."""
        return " ".join(t.text.strip() for _, t in self.pieces if t.text.strip())

    def keep(self, transcript: Transcript | None, *, end_ms: int) -> bool:
        """Keep ``transcript`` of the audio from :attr:`cut_ms` to ``end_ms`` as a piece, if worth it."""
        if (transcript is None or end_ms - self.cut_ms < MIN_PIECE_MS or not transcript.text.strip()
                or getattr(transcript, "partial", False)):
            return False
        self.pieces.append((self.cut_ms - self.start_ms, transcript))
        self.cut_ms = end_ms
        return True

    def offer(self, transcript: Transcript, *, start_ms: int, end_ms: int) -> None:
        """Remember a pause's transcript: a piece, if the speaker goes on (:meth:`keep_offer`)."""
        self._offer = (start_ms, end_ms, transcript)

    def keep_offer(self) -> bool:
        """The speaker went on after the offered pause: keep its transcript as a piece, if it fits."""
        if self._offer is None:
            return False
        start_ms, end_ms, transcript = self._offer
        self._offer = None
        return start_ms == self.cut_ms and self.keep(transcript, end_ms=end_ms)

    def join(self, tail: Transcript) -> Transcript:
        """One transcript of the turn: the pieces, then ``tail`` (the audio from :attr:`cut_ms`)."""
        if not self.pieces:
            return tail
        parts = [*self.pieces, (self.cut_ms - self.start_ms, tail)]
        segments = []
        for offset_ms, part in parts:
            shift = offset_ms / 1000
            for seg in part.segments:
                segments.append(dataclasses.replace(seg, id=len(segments), start=round(seg.start + shift, 3),
                                                    end=round(seg.end + shift, 3)))
        text = " ".join(p.text.strip() for _, p in parts if p.text.strip())
        logprobs = None
        if all(p.logprobs is not None for _, p in parts):
            logprobs = tuple(lp for _, p in parts for lp in p.logprobs)
        duration = (self.cut_ms - self.start_ms) / 1000 + tail.duration
        return dataclasses.replace(tail, text=text, duration=round(duration, 3), segments=tuple(segments),
                                   logprobs=logprobs)

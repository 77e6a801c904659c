"""Turning re-decoded hypotheses of a growing audio window into append-only text.

A streaming translation decodes the same window again as it grows, and each pass may change its
last words (a word cut in half, a clause not yet heard). Deltas on the wire are append-only, so
only words that two consecutive passes agree on are sent (*local agreement*, as in
whisper-streaming, Macháček et al. 2023); when the window ends (a pause, or the session closes)
its last hypothesis is sent whole. Words are compared without case and punctuation, and sent as
the latest pass wrote them.

Example:
    >>> a = Agreement()
    >>> a.update("Good morning every")
    ''
    >>> a.update("Good morning everyone. Today we")
    'Good morning'
    >>> a.finish("Good morning everyone. Today we are here.")
    ' everyone. Today we are here.'
    >>> a.update("I saw")
    ''
    >>> a.update("I saw the sea")
    ' I saw'
    >>> a.finish("We saw the sea.")  # 'I saw' was sent: what follows 'saw'
    ' the sea.'
    >>> a.update("Hello everyone!"), a.update("Hello everyone! Today")
    ('', ' Hello everyone!')
    >>> a.finish("Hello to all of you. Today we talk.")  # a sentence was sent: on from the next
    ' Today we talk.'
    >>> a.update("Next")  # a new window: the next delta starts with a space
    ''
    >>> a.before_window  # whisper's prompt for this window: never the window's own words
    'Good morning everyone. Today we are here. I saw the sea. Hello everyone! Today we talk.'
    >>> a.finish("Next one.")
    ' Next one.'
"""

from __future__ import annotations

import re

__all__ = ["Agreement"]

_NON_WORD = re.compile(r"[^\w']+")
_SENTENCE_END = (".", "!", "?")


def _key(word: str) -> str:
    return _NON_WORD.sub("", word.lower())


class Agreement:
    """Append-only text from successive hypotheses of one window at a time (see the module doc)."""

    def __init__(self):
        self.text = ""  # everything sent so far, over all windows
        self._sent = 0  # words of the current window already sent
        self._window: list[str] = []  # those words
        self._previous: list[str] | None = None
        self.before_window = ""  # what was sent before the current window: whisper's prompt for it

    def _emit(self, words: list[str]) -> str:
        return self._emit_from(words, self._sent)

    def _emit_from(self, words: list[str], start: int) -> str:
        new = words[start:]
        if not new:
            return ""
        self._window = self._window[:self._sent] + new
        self._sent = len(self._window)
        delta = " ".join(new)
        if self.text:
            delta = " " + delta
        self.text += delta
        return delta

    def update(self, hypothesis: str) -> str:
        """A new pass over the (grown) window; returns the newly agreed words as a delta ('' if none)."""
        words = hypothesis.split()
        previous, self._previous = self._previous, words
        if previous is None:
            return ""
        agreed = 0
        for a, b in zip(previous, words):
            if _key(a) != _key(b):
                break
            agreed += 1
        if agreed <= self._sent:
            return ""
        return self._emit(words[:agreed])

    def finish(self, hypothesis: str) -> str:
        """The window's last pass: send the rest of it and start a new window.

        Words already sent cannot be taken back. If the last pass changed them, what follows is
        taken from after the last sent word where the last pass has it too (``a b c`` sent, last
        pass ``a x c d``: `` d``), else after as many words as were sent.
        """
        words = hypothesis.split()
        sent = self._window[:self._sent]
        start = self._sent
        if sent and [_key(w) for w in words[:len(sent)]] != [_key(w) for w in sent]:
            last = _key(sent[-1])
            found = [j for j, w in enumerate(words[:len(sent) + 3]) if _key(w) == last]
            if found:
                start = found[-1] + 1
            elif sent[-1][-1:] in _SENTENCE_END:  # a whole sentence was sent: go on at the last pass's next one
                same = next((j for j, (a, b) in enumerate(zip(sent, words)) if _key(a) != _key(b)), len(sent))
                ends = [j for j in range(same, len(words)) if words[j][-1:] in _SENTENCE_END]
                if ends:
                    start = ends[0] + 1
        delta = self._emit_from(words, start)
        self.reset_window()
        return delta

    def reset_window(self) -> None:
        """Start a new window without sending anything more of this one."""
        self._sent, self._previous, self._window = 0, None, []
        self.before_window = self.text

"""A blind A/B listening test over labelled clips, with Bradley-Terry ranking and pooled votes.

Each round plays two clips under the names "A" and "B", in random order, and records which one
the listener preferred (or a tie). Pairs are drawn so that every pair is heard about equally
often. Votes go to a DataFrame and to a CSV file of their own per session
(:data:`SESSION_VOTES`), so two runs never pool into one file by accident; a class pools its
files on purpose with :func:`load_votes` and ranks all the clips with one Bradley-Terry fit
(bootstrap CIs) and a win-rate matrix (:mod:`audiolab.eval.preference`).

Example:
    >>> import numpy as np
    >>> from audiolab.audio import Audio
    >>> clips = {k: Audio.from_array(np.zeros(800), 8000) for k in ("calm", "excited", "whisper")}
    >>> ab = BlindAB(clips, votes_path=None, seed=1)
    >>> a, b = ab.next_pair()
    >>> ab.vote("A")["winner"] == a
    True
"""

from __future__ import annotations

import csv
import datetime as _dt
import itertools
import os
import random
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

from audiolab.audio import Audio
from audiolab.errors import InvalidRequest

__all__ = ["BlindAB", "load_votes", "VOTE_COLUMNS", "SESSION_VOTES"]

#: Columns of the votes table and CSV; ``a``/``b`` are clip labels in the order they were played.
VOTE_COLUMNS = ("timestamp", "session", "rater", "a", "b", "winner", "choice", "context")
#: Default votes file: ``{session}`` becomes the session id (UTC start time and a random suffix).
SESSION_VOTES = "output/votes/{session}.csv"
_CHOICES = {"a": "A", "b": "B", "tie": "tie", "=": "tie", "draw": "tie", "same": "tie"}


class BlindAB:
    """Anonymised pairwise comparisons of labelled clips.

    Args:
        clips: label -> clip; at least two.
        votes_path: CSV the votes are appended to; ``{session}`` in it becomes this session's id,
            so each session writes its own file (``None``: keep them in memory only). A path
            without ``{session}`` is shared on purpose: every session appends to it (a class pool).
        rater: who is listening, stored with each vote (for pooling a class's votes).
        context: stored with each vote, e.g. the text that was spoken.
        seed: for the pair order (reproducible sessions).

    Raises:
        InvalidRequest: fewer than two clips.
    """

    def __init__(
        self,
        clips: Mapping[str, Audio],
        *,
        votes_path: str | os.PathLike | None = SESSION_VOTES,
        rater: str = "",
        context: str = "",
        seed: int | None = None,
    ):
        if len(clips) < 2:
            raise InvalidRequest("A blind A/B test needs at least two clips.", param="clips")
        self.clips = dict(clips)
        self.session = f"{_dt.datetime.now(_dt.UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
        self.votes_path = None if votes_path is None else Path(str(votes_path).replace("{session}", self.session))
        self.rater, self.context = rater, context
        self._rng = random.Random(seed)
        self._rows: list[dict] = []
        self._heard = {frozenset(p): 0 for p in itertools.combinations(self.clips, 2)}
        self.current: tuple[str, str] | None = None

    def next_pair(self) -> tuple[str, str]:
        """Draw the next pair (labels, in playing order) among the least-heard pairs."""
        fewest = min(self._heard.values())
        pair = list(self._rng.choice([p for p, n in self._heard.items() if n == fewest]))
        self._rng.shuffle(pair)
        self.current = (pair[0], pair[1])
        return self.current

    def vote(self, choice: str) -> dict:
        """Record the listener's choice for the current pair and draw the next one.

        Args:
            choice: ``"A"``, ``"B"`` or ``"tie"`` (case-insensitive), or a clip label.

        Returns:
            The vote as a row of :attr:`votes`.

        Raises:
            InvalidRequest: no pair has been drawn, or the choice is not A, B, tie or a label.
        """
        if self.current is None:
            self.next_pair()
        a, b = self.current
        key = str(choice).strip()
        picked = _CHOICES.get(key.lower()) or ("A" if key == a else "B" if key == b else None)
        if picked is None:
            raise InvalidRequest(f"A vote is 'A', 'B' or 'tie' (or {a!r} / {b!r}), got {choice!r}.",
                                 param="winner")
        row = {"timestamp": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
               "session": self.session, "rater": self.rater, "a": a, "b": b,
               "winner": a if picked == "A" else b if picked == "B" else "tie",
               "choice": picked, "context": self.context}
        self._rows.append(row)
        self._heard[frozenset((a, b))] += 1
        if self.votes_path is not None:
            _append_csv(self.votes_path, row)
        self.next_pair()
        return row

    @property
    def votes(self):
        """This session's votes (pandas DataFrame with :data:`VOTE_COLUMNS`)."""
        import pandas as pd

        return pd.DataFrame(self._rows, columns=list(VOTE_COLUMNS))

    def ranking(self, *, n_boot: int = 1000, seed: int = 0, votes=None):
        """Bradley-Terry strengths with bootstrap 95% CIs (of this session, or of ``votes``)."""
        from audiolab.eval.preference import bradley_terry

        return bradley_terry(self.votes if votes is None else votes, n_boot=n_boot, seed=seed)

    def win_rates(self, *, votes=None):
        """Share of votes each row clip won against each column clip (ties count half)."""
        from audiolab.eval.preference import win_rate_matrix

        return win_rate_matrix(self.votes if votes is None else votes)


def _append_csv(path: Path, row: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(VOTE_COLUMNS))
        if new:
            writer.writeheader()
        writer.writerow(row)


def load_votes(paths: str | os.PathLike | Iterable[str | os.PathLike]):
    """Pool vote CSVs (one per listener or per session) into one DataFrame.

    Example:
        >>> from audiolab.eval.preference import bradley_terry
        >>> votes = load_votes(["alice.csv", "bob.csv"])          # doctest: +SKIP
        >>> bradley_terry(votes).ranking()                        # doctest: +SKIP
    """
    import pandas as pd

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    frames = [pd.read_csv(p, keep_default_na=False) for p in paths]
    if not frames:
        return pd.DataFrame(columns=list(VOTE_COLUMNS))
    return pd.concat(frames, ignore_index=True)

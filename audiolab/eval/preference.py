"""Pairwise preference statistics for listening tests: Bradley-Terry strengths and win rates.

A vote says which of two items (voices, models) a listener preferred. The Bradley-Terry model
gives each item a strength ``s`` with P(i beats j) = 1 / (1 + exp(s_j - s_i)); it is the model
behind Chatbot Arena's leaderboard and most TTS A/B studies. It is fitted here with Hunter's
(2004) MM algorithm or, as here, Newton-Raphson (same optimum, fewer steps), ties counted as half
a win each way, plus (by default) one virtual tied game
of every item against a fixed anchor so that an item that won (or lost) every vote still has a
finite strength. Confidence intervals are a percentile bootstrap over votes.

The Voice Lab widget collects votes as a table with columns ``a``, ``b`` and ``winner``, where
``winner`` is the name of ``a`` or ``b``, the letter ``"a"``/``"b"``, or ``"tie"`` (also
``None``, ``"draw"``, ``"both"``, ``"neither"``).

Example:
    >>> import pandas as pd
    >>> votes = pd.DataFrame({"a": ["x", "x", "y"], "b": ["y", "z", "z"], "winner": ["x", "x", "tie"]})
    >>> bt = bradley_terry(votes, n_boot=200)
    >>> bt.ranking()[0]
    'x'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audiolab.errors import InvalidRequest

__all__ = ["BTResult", "bradley_terry", "win_rate_matrix"]

_TIES = {"tie", "draw", "both", "neither", "", "none", "nan"}


def _parse(votes) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(items, index of a, index of b, score of a in {1, 0.5, 0})."""
    import pandas as pd

    df = votes if isinstance(votes, pd.DataFrame) else pd.DataFrame(votes)
    missing = {"a", "b", "winner"} - set(df.columns)
    if missing:
        raise InvalidRequest(f"votes need columns a, b, winner (missing: {', '.join(sorted(missing))}).",
                             param="votes")
    items = sorted(set(df["a"].astype(str)) | set(df["b"].astype(str)))
    pos = {name: k for k, name in enumerate(items)}
    ia, ib, sa = [], [], []
    for a, b, w in zip(df["a"].astype(str), df["b"].astype(str), df["winner"]):
        w = "tie" if w is None or (isinstance(w, float) and np.isnan(w)) else str(w)
        if w == a or w.lower() == "a":
            s = 1.0
        elif w == b or w.lower() == "b":
            s = 0.0
        elif w.lower() in _TIES:
            s = 0.5
        else:
            raise InvalidRequest(f"winner {w!r} is neither {a!r}, {b!r}, 'a', 'b' nor 'tie'.", param="votes")
        ia.append(pos[a])
        ib.append(pos[b])
        sa.append(s)
    return items, np.array(ia, int), np.array(ib, int), np.array(sa, float)


def _fit(k: int, ia: np.ndarray, ib: np.ndarray, sa: np.ndarray, prior: float,
         counts: np.ndarray | None = None, iters: int = 100, tol: float = 1e-10) -> np.ndarray:
    """Maximum-likelihood log-strengths (mean 0), for one or many reweightings of the votes at once.

    Newton-Raphson on the Bradley-Terry log-likelihood (a few iterations; the same optimum as
    Hunter's MM algorithm, much faster for bootstraps). ``counts`` (replicates × votes) says how
    often each vote is drawn in each replicate; ``None`` fits the votes once. ``prior`` adds that
    many tied games of every item against an anchor of strength 0.
    """
    c = np.ones((1, len(sa))) if counts is None else np.asarray(counts, float)
    a, b = np.eye(k)[ia], np.eye(k)[ib]  # votes × items, one-hot
    games = np.einsum("rv,vi,vj->rij", c, a, b)
    games = games + games.transpose(0, 2, 1)
    wins = c @ (a * sa[:, None]) + c @ (b * (1 - sa)[:, None])
    s = np.zeros_like(wins)
    eye = np.eye(k)
    for _ in range(iters):
        sig = 1.0 / (1.0 + np.exp(s[:, None, :] - s[:, :, None]))  # P(i beats j)
        anchor = 1.0 / (1.0 + np.exp(-s))
        grad = wins - (games * sig).sum(2) + prior / 2 - prior * anchor
        curv = games * sig * (1 - sig)
        hess = curv - eye * (curv.sum(2) + prior * anchor * (1 - anchor) + 1e-9)[:, :, None]
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        step = np.clip(step, -2.0, 2.0)  # damped: an unbeaten item without prior drifts, never jumps
        s = s - step
        s -= s.mean(1, keepdims=True) if not prior else 0.0
        if np.max(np.abs(step)) < tol:
            break
    s = s - s.mean(1, keepdims=True)
    return s[0] if counts is None else s


@dataclass(frozen=True)
class BTResult:
    """Bradley-Terry strengths with bootstrap intervals.

    Attributes:
        items: item names.
        scores: log-strengths, centred to mean 0 (a difference of 1.0 means odds of e ≈ 2.7:1).
        ci_low, ci_high: 95% percentile bootstrap bounds of each score.
        wins, games: votes won (ties count half) and votes taken part in, per item.
        n_votes, n_boot: votes fitted and bootstrap resamples drawn.
    """

    items: tuple[str, ...]
    scores: tuple[float, ...]
    ci_low: tuple[float, ...]
    ci_high: tuple[float, ...]
    wins: tuple[float, ...]
    games: tuple[int, ...]
    n_votes: int
    n_boot: int

    def prob(self, a: str, b: str) -> float:
        """Modelled probability that ``a`` is preferred to ``b``."""
        sa, sb = self.scores[self.items.index(a)], self.scores[self.items.index(b)]
        return float(1.0 / (1.0 + np.exp(sb - sa)))

    def ranking(self) -> list[str]:
        """Items from strongest to weakest."""
        return [self.items[i] for i in np.argsort(self.scores)[::-1]]

    def to_frame(self):
        """A table sorted by score: item, score, ci_low, ci_high, wins, games."""
        import pandas as pd

        df = pd.DataFrame({"item": self.items, "score": self.scores, "ci_low": self.ci_low,
                           "ci_high": self.ci_high, "wins": self.wins, "games": self.games})
        return df.sort_values("score", ascending=False, ignore_index=True)


def bradley_terry(votes, *, n_boot: int = 1000, seed: int = 0, prior: float = 1.0) -> BTResult:
    """Fit Bradley-Terry strengths to pairwise votes, with bootstrap 95% intervals.

    Args:
        votes: a DataFrame (or dict of columns) with ``a``, ``b``, ``winner``.
        n_boot: bootstrap resamples of the votes (0 for none: the CI is then the point).
        seed: bootstrap seed.
        prior: virtual games (all ties) of each item against a fixed anchor; keeps unbeaten or
            winless items finite. ``0`` gives the plain maximum-likelihood fit.

    Raises:
        InvalidRequest: missing columns, no votes, or a winner that names neither side.

    Example:
        >>> bradley_terry({"a": ["x"] * 8, "b": ["y"] * 8, "winner": ["x"] * 6 + ["y"] * 2}).ranking()
        ['x', 'y']
    """
    items, ia, ib, sa = _parse(votes)
    if not len(sa):
        raise InvalidRequest("bradley_terry() needs at least one vote.", param="votes")
    k = len(items)
    s = _fit(k, ia, ib, sa, prior)
    if n_boot > 0:
        # Resampling votes with replacement = a multinomial draw over the distinct kinds of vote.
        kinds, weight = np.unique(np.stack([ia, ib, sa * 2]).T, axis=0, return_counts=True)
        draws = np.random.default_rng(seed).multinomial(len(sa), weight / len(sa), size=n_boot)
        boots = _fit(k, kinds[:, 0].astype(int), kinds[:, 1].astype(int), kinds[:, 2] / 2, prior,
                     counts=draws, tol=1e-7)
        lo, hi = np.percentile(boots, [2.5, 97.5], axis=0)
    else:
        lo = hi = s
    wins = np.bincount(ia, weights=sa, minlength=k) + np.bincount(ib, weights=1 - sa, minlength=k)
    games = np.bincount(ia, minlength=k) + np.bincount(ib, minlength=k)
    return BTResult(items=tuple(items), scores=tuple(float(x) for x in s), ci_low=tuple(float(x) for x in lo),
                    ci_high=tuple(float(x) for x in hi), wins=tuple(float(x) for x in wins),
                    games=tuple(int(x) for x in games), n_votes=len(sa), n_boot=n_boot)


def win_rate_matrix(votes):
    """Share of votes the row item won against the column item (ties half; NaN if never met).

    Example:
        >>> m = win_rate_matrix({"a": ["x", "x"], "b": ["y", "y"], "winner": ["x", "tie"]})
        >>> float(m.loc["x", "y"]), float(m.loc["y", "x"])
        (0.75, 0.25)
    """
    import pandas as pd

    items, ia, ib, sa = _parse(votes)
    k = len(items)
    won, met = np.zeros((k, k)), np.zeros((k, k))
    np.add.at(won, (ia, ib), sa)
    np.add.at(won, (ib, ia), 1 - sa)
    np.add.at(met, (ia, ib), 1)
    np.add.at(met, (ib, ia), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(met > 0, won / met, np.nan)
    return pd.DataFrame(rate, index=items, columns=items)

"""ASR metrics the way the field reports them: normalised WER/CER, S/D/I, bootstrap CIs, RTFx.

Conventions, so that numbers here compare with published ones (the Hugging Face Open ASR
Leaderboard, the Whisper paper):

* **Normalisation.** Reference and hypothesis both go through Whisper's text normaliser before
  scoring: ``EnglishTextNormalizer`` for English (lower case, punctuation removed, numbers and
  currency standardised, "Mr." -> "mister", British -> American spelling, fillers such as "uh"
  dropped), ``BasicTextNormalizer`` for other languages (lower case, punctuation and brackets
  removed). Package: ``whisper_normalizer``.
* **Counting.** jiwer 4 aligns words by Levenshtein distance and counts substitutions (S),
  deletions (D), insertions (I) and hits (H). Corpus WER = (S + D + I) / N, with N the total
  number of reference words over all utterances (not a mean of per-utterance WERs). CER is the
  same on characters (spaces included) of the normalised texts.
* **Uncertainty.** A 95% percentile bootstrap over utterances, or over speakers when ``groups``
  is given (utterances of one speaker are not independent). 1000 resamples, seeded.
* **Paired comparison.** Both systems resampled on the same utterances; the probability of
  improvement is the share of resamples where B's corpus WER is below A's (ties count half).
* **Speed.** RTFx = total audio seconds / total wall seconds (higher is faster), as on the Open
  ASR Leaderboard.

Text normalisation (:func:`normalize`, :func:`as_spoken`) lives in :mod:`audiolab.eval.text`.
The TTS measures (:func:`prosody`, :func:`f0_contour`, :func:`loudness`) live in
:mod:`audiolab.eval.prosody` and are re-exported here; preference statistics (Bradley-Terry)
live in :mod:`audiolab.eval.preference`.

Example:
    >>> s = score(["the cat sat on the mat"], ["the cat sat on a mat"])
    >>> s.wer, s.substitutions, s.ref_words
    (0.16666666666666666, 1, 6)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audiolab.errors import InvalidRequest
from audiolab.eval.preference import BTResult, bradley_terry, win_rate_matrix
from audiolab.eval.prosody import ProsodyFeatures, f0_contour, loudness, prosody
from audiolab.eval.text import as_spoken, normalize

__all__ = [
    "normalize",
    "as_spoken",
    "Score",
    "score",
    "wer",
    "cer",
    "WordOp",
    "word_diff",
    "bootstrap_ci",
    "Comparison",
    "compare_scores",
    "rtfx",
    "summarize",
    "ProsodyFeatures",
    "prosody",
    "f0_contour",
    "loudness",
    "BTResult",
    "bradley_terry",
    "win_rate_matrix",
]

N_BOOT = 1000


@dataclass(frozen=True)
class Score:
    """Word and character error rates of a set of hypotheses against references.

    Attributes:
        wer: corpus WER, (S + D + I) / ref_words.
        cer: corpus CER on the normalised texts.
        substitutions, deletions, insertions, hits: summed word counts.
        ref_words: total reference words (N).
        n: number of utterances.
        ci: bootstrap 95% interval of ``wer`` (over groups when given, else utterances).
        references, hypotheses: the normalised texts that were scored.
        utterance_errors, utterance_ref_words: per-utterance S+D+I and N (for resampling).
        groups: the grouping used for the CI (speakers), or ``None``.
        alignments: jiwer's alignment chunks, one list per utterance.
    """

    wer: float
    cer: float
    substitutions: int
    deletions: int
    insertions: int
    hits: int
    ref_words: int
    n: int
    ci: tuple[float, float]
    references: tuple[str, ...] = ()
    hypotheses: tuple[str, ...] = ()
    utterance_errors: tuple[int, ...] = ()
    utterance_ref_words: tuple[int, ...] = ()
    utterance_counts: tuple[tuple[int, int, int, int], ...] = ()
    groups: tuple | None = None
    alignments: list = field(default_factory=list, repr=False, compare=False)

    @property
    def errors(self) -> int:
        """S + D + I."""
        return self.substitutions + self.deletions + self.insertions

    def to_frame(self):
        """One row per utterance: reference, hypothesis, wer, S, D, I, hits, ref_words (pandas)."""
        import pandas as pd

        rows = []
        for i, (ref, hyp) in enumerate(zip(self.references, self.hypotheses)):
            s, d, ins, h = self.utterance_counts[i]
            n = self.utterance_ref_words[i]
            rows.append({"utterance": i, "group": None if self.groups is None else self.groups[i],
                         "reference": ref, "hypothesis": hyp,
                         "wer": (s + d + ins) / n if n else (np.nan if s + d + ins else 0.0),
                         "substitutions": s, "deletions": d, "insertions": ins, "hits": h,
                         "ref_words": n})
        return pd.DataFrame(rows)

    def __str__(self) -> str:
        lo, hi = self.ci
        return (f"WER {self.wer:.1%} [{lo:.1%}, {hi:.1%}] on {self.n} utterances, {self.ref_words} words "
                f"(S={self.substitutions} D={self.deletions} I={self.insertions}); CER {self.cer:.1%}")


def _counts(chunks) -> tuple[int, int, int, int]:
    s = d = i = h = 0
    for c in chunks:
        if c.type == "equal":
            h += c.ref_end_idx - c.ref_start_idx
        elif c.type == "substitute":
            s += c.ref_end_idx - c.ref_start_idx
        elif c.type == "delete":
            d += c.ref_end_idx - c.ref_start_idx
        elif c.type == "insert":
            i += c.hyp_end_idx - c.hyp_start_idx
    return s, d, i, h


def _as_list(x: str | Sequence[str] | None, param: str) -> list[str]:
    if isinstance(x, str) or x is None:
        return [x or ""]
    out = list(x)
    if any(t is not None and not isinstance(t, str) for t in out):
        raise InvalidRequest(f"{param} must be strings (or None for an empty hypothesis).", param=param)
    return [t or "" for t in out]


def score(refs: str | Sequence[str], hyps: str | Sequence[str | None], *, language: str = "en",
          groups: Sequence | None = None, normalize_text: bool = True, n_boot: int = N_BOOT,
          seed: int = 0, with_cer: bool = True) -> Score:
    """Score hypotheses against references (Whisper-normalised, jiwer-aligned).

    Args:
        refs: reference transcripts (one string or a sequence).
        hyps: hypotheses, same length; ``None`` counts as an empty hypothesis (all deletions).
        language: picks the normaliser (see :func:`normalize`).
        groups: a speaker (or any cluster) label per utterance; the CI then resamples groups.
        normalize_text: ``False`` scores the raw texts (not comparable with published WERs).
        n_boot, seed: bootstrap resamples and seed for ``ci``.
        with_cer: ``False`` skips the character alignment (``cer`` is then NaN), for speed.

    Raises:
        InvalidRequest: refs and hyps (or groups) differ in length, or are empty.

    Example:
        >>> s = score(["a b c d", "x y"], ["a x c d e", "x"])
        >>> (s.substitutions, s.deletions, s.insertions, s.ref_words, s.wer)
        (1, 1, 1, 6, 0.5)
    """
    import jiwer

    r, h = _as_list(refs, "refs"), _as_list(hyps, "hyps")
    if len(r) != len(h):
        raise InvalidRequest(f"refs and hyps must have the same length ({len(r)} vs {len(h)}).", param="hyps")
    if not r:
        raise InvalidRequest("score() needs at least one utterance.", param="refs")
    if groups is not None:
        groups = tuple(groups)
        if len(groups) != len(r):
            raise InvalidRequest(f"groups has {len(groups)} labels for {len(r)} utterances.", param="groups")
    if normalize_text:
        r = [normalize(t, language=language) for t in r]
        h = [normalize(t, language=language) for t in h]
    words = jiwer.process_words(r, h)
    counts = [_counts(a) for a in words.alignments]
    errs = np.array([s + d + i for s, d, i, _ in counts])
    nref = np.array([len(x) for x in words.references])
    subs, dels, ins, hits = (int(sum(c[k] for c in counts)) for k in range(4))
    n_ref = int(nref.sum())
    if with_cer:
        chars = jiwer.process_characters(r, h)
        cer_value = _ratio(chars.substitutions + chars.deletions + chars.insertions,
                           sum(len(x) for x in chars.references))
    else:
        cer_value = float("nan")
    return Score(
        wer=_ratio(subs + dels + ins, n_ref), cer=cer_value, substitutions=subs, deletions=dels,
        insertions=ins, hits=hits, ref_words=n_ref, n=len(r),
        ci=bootstrap_ci(errs, nref, groups=groups, n_boot=n_boot, seed=seed),
        references=tuple(r), hypotheses=tuple(h), utterance_errors=tuple(int(e) for e in errs),
        utterance_ref_words=tuple(int(x) for x in nref), utterance_counts=tuple(counts),
        groups=groups, alignments=words.alignments,
    )


def _ratio(num: float, den: float) -> float:
    if den:
        return num / den
    return 0.0 if not num else float("inf")


def wer(ref: str | Sequence[str], hyp: str | Sequence[str], **kw: Any) -> float:
    """Corpus WER of ``hyp`` against ``ref`` (strings or sequences); a thin wrapper over :func:`score`.

    Example:
        >>> wer("It was the best of times.", "it was the best of time")
        0.16666666666666666
    """
    return score(ref, hyp, n_boot=0, **kw).wer


def cer(ref: str | Sequence[str], hyp: str | Sequence[str], **kw: Any) -> float:
    """Corpus CER of ``hyp`` against ``ref``, after normalisation.

    Example:
        >>> round(cer("abcd", "abce"), 2)
        0.25
    """
    return score(ref, hyp, n_boot=0, **kw).cer


@dataclass(frozen=True)
class WordOp:
    """One step of a word alignment: ``op`` is "equal", "substitute", "delete" or "insert"."""

    op: str
    ref: str | None
    hyp: str | None


def word_diff(ref: str, hyp: str, *, language: str = "en", normalize_text: bool = True) -> list[WordOp]:
    """Word-by-word alignment of one hypothesis against its reference, for coloured diffs.

    Example:
        >>> [(o.op, o.ref, o.hyp) for o in word_diff("the cat sat", "the bat sat down")]
        [('equal', 'the', 'the'), ('substitute', 'cat', 'bat'), ('equal', 'sat', 'sat'),
         ('insert', None, 'down')]
    """
    import jiwer

    if normalize_text:
        ref, hyp = normalize(ref, language=language), normalize(hyp, language=language)
    out = jiwer.process_words(ref or "", hyp or "")
    r, h = out.references[0], out.hypotheses[0]
    ops: list[WordOp] = []
    for c in out.alignments[0]:
        rw, hw = r[c.ref_start_idx:c.ref_end_idx], h[c.hyp_start_idx:c.hyp_end_idx]
        if c.type == "equal" or c.type == "substitute":
            ops += [WordOp(c.type, a, b) for a, b in zip(rw, hw)]
        elif c.type == "delete":
            ops += [WordOp("delete", a, None) for a in rw]
        else:
            ops += [WordOp("insert", None, b) for b in hw]
    return ops


def _group_sums(errors: np.ndarray, ref_words: np.ndarray, groups) -> tuple[np.ndarray, np.ndarray]:
    if groups is None:
        return errors, ref_words
    labels = {g: k for k, g in enumerate(dict.fromkeys(groups))}
    idx = np.array([labels[g] for g in groups])
    return (np.bincount(idx, weights=errors, minlength=len(labels)),
            np.bincount(idx, weights=ref_words, minlength=len(labels)))


def _boot_index(n: int, n_boot: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def bootstrap_ci(errors: Sequence[float], ref_words: Sequence[float], *, groups: Sequence | None = None,
                 n_boot: int = N_BOOT, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the corpus error rate sum(errors) / sum(ref_words).

    Resamples utterances with replacement, or whole groups (speakers) when ``groups`` is given,
    and recomputes the ratio of sums each time.

    Returns:
        ``(low, high)``; ``(nan, nan)`` when ``n_boot`` is 0 or there is nothing to resample.

    Example:
        >>> lo, hi = bootstrap_ci([0, 1, 2, 0, 1], [10, 10, 10, 10, 10])
        >>> lo <= 0.08 <= hi
        True
    """
    e, n = _group_sums(np.asarray(errors, float), np.asarray(ref_words, float), groups)
    if n_boot <= 0 or len(e) == 0:
        return (float("nan"), float("nan"))
    idx = _boot_index(len(e), n_boot, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = e[idx].sum(1) / n[idx].sum(1)
    rates = rates[np.isfinite(rates)]
    if not rates.size:
        return (float("nan"), float("nan"))
    a = (1 - level) / 2 * 100
    lo, hi = np.percentile(rates, [a, 100 - a])
    return (float(lo), float(hi))


@dataclass(frozen=True)
class Comparison:
    """Paired bootstrap comparison of system A (baseline) with system B (candidate).

    Attributes:
        wer_a, wer_b: corpus WERs.
        delta: ``wer_b - wer_a`` (negative means B makes fewer errors).
        delta_ci: 95% bootstrap interval of ``delta``.
        p_improvement: probability that B's WER is below A's (ties count half).
        n_boot: resamples used.
    """

    wer_a: float
    wer_b: float
    delta: float
    delta_ci: tuple[float, float]
    p_improvement: float
    n_boot: int

    @property
    def p_a_better(self) -> float:
        """Probability that A's WER is below B's: ``1 - p_improvement``."""
        return 1.0 - self.p_improvement

    def __str__(self) -> str:
        return (
            f"WER {self.wer_a:.1%} -> {self.wer_b:.1%} (delta {self.delta:+.1%}, 95% CI "
            f"[{self.delta_ci[0]:+.1%}, {self.delta_ci[1]:+.1%}]); P(B better) = {self.p_improvement:.2f}"
        )


def compare_scores(score_a: Score, score_b: Score, *, n_boot: int = N_BOOT, seed: int = 0) -> Comparison:
    """Paired bootstrap: resample the same utterances (or speakers) for both systems.

    Raises:
        InvalidRequest: the two scores are not on the same references.

    Example:
        >>> refs = ["one two three"] * 20
        >>> a, b = score(refs, ["one two tree"] * 20), score(refs, refs)
        >>> compare_scores(a, b).p_improvement > 0.95
        True
    """
    if score_a.references != score_b.references:
        raise InvalidRequest("compare_scores() needs two scores of the same references, in the same order.",
                             param="score_b")
    groups = score_a.groups
    ea, n = _group_sums(np.asarray(score_a.utterance_errors, float),
                        np.asarray(score_a.utterance_ref_words, float), groups)
    eb, _ = _group_sums(np.asarray(score_b.utterance_errors, float),
                        np.asarray(score_b.utterance_ref_words, float), groups)
    idx = _boot_index(len(ea), n_boot, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        tot = n[idx].sum(1)
        d = (eb[idx].sum(1) - ea[idx].sum(1)) / tot
    d = d[np.isfinite(d)]
    p = float(np.mean(d < 0) + 0.5 * np.mean(d == 0)) if d.size else float("nan")
    ci = tuple(float(x) for x in np.percentile(d, [2.5, 97.5])) if d.size else (float("nan"),) * 2
    return Comparison(wer_a=score_a.wer, wer_b=score_b.wer, delta=score_b.wer - score_a.wer,
                      delta_ci=ci, p_improvement=p, n_boot=n_boot)


def rtfx(audio_seconds: float | Sequence[float], wall_seconds: float | Sequence[float]) -> float:
    """Inverse real-time factor: total audio seconds / total wall seconds (higher is faster).

    Example:
        >>> rtfx([10.0, 20.0], [1.0, 2.0])
        10.0
    """
    a, w = float(np.nansum(audio_seconds)), float(np.nansum(wall_seconds))
    return a / w if w > 0 else float("inf")


def summarize(df, *, by: Sequence[str] = ("model", "condition"), n_boot: int = N_BOOT, seed: int = 0,
              group_col: str | None = None):
    """Corpus-level table of an :func:`audiolab.eval.runner.evaluate` frame.

    One row per ``by`` combination: corpus ``wer`` with ``ci_low``/``ci_high`` (bootstrap over
    rows, or over ``group_col`` values such as ``"speaker"``), summed S/D/I and ref_words, ``n``
    clips, ``errors`` (failed requests), ``rtfx`` (audio seconds / latency seconds), latency
    median and p90, and total ``cost_usd``. Failed cells are left out of the WER.

    Example:
        >>> summarize(df)   # doctest: +SKIP
    """
    import pandas as pd

    by = list(by)
    rows = []
    for key, g in df.groupby(by, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        ok = g[g["error"].isna()] if "error" in g else g
        errs = (ok["substitutions"] + ok["deletions"] + ok["insertions"]).to_numpy(float)
        nref = ok["ref_words"].to_numpy(float)
        groups = ok[group_col].tolist() if group_col and group_col in ok else None
        lo, hi = bootstrap_ci(errs, nref, groups=groups, n_boot=n_boot, seed=seed)
        lat = ok["latency_s"].to_numpy(float) if "latency_s" in ok else np.array([])
        row = dict(zip(by, key))
        row.update(wer=_ratio(errs.sum(), nref.sum()) if len(ok) else float("nan"), ci_low=lo, ci_high=hi,
                   substitutions=int(ok["substitutions"].sum()), deletions=int(ok["deletions"].sum()),
                   insertions=int(ok["insertions"].sum()), ref_words=int(nref.sum()), n=len(ok),
                   errors=len(g) - len(ok))
        if "audio_seconds" in ok and lat.size:
            row["rtfx"] = rtfx(ok["audio_seconds"].to_numpy(float), lat)
            row["latency_p50"] = float(np.nanpercentile(lat, 50))
            row["latency_p90"] = float(np.nanpercentile(lat, 90))
        if "cost_usd" in g:
            row["cost_usd"] = (
                float(g["cost_usd"].sum(min_count=1)) if g["cost_usd"].notna().any() else float("nan")
            )
        rows.append(row)
    return pd.DataFrame(rows)

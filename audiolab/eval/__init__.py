"""Evaluate speech models and voices: datasets, perturbations, metrics, a runner, preferences.

Submodules load on first use, so ``import audiolab.eval`` stays light:

* :mod:`~audiolab.eval.datasets`: bundled real speech with references, synthetic sets, your data;
* :mod:`~audiolab.eval.perturb`: noise at a set SNR, speed, codecs, and condition grids;
* :mod:`~audiolab.eval.metrics`: normalised WER/CER, S/D/I, bootstrap CIs, paired comparison, RTFx;
* :mod:`~audiolab.eval.prosody`: F0, speaking rate, pauses, loudness of TTS output;
* :mod:`~audiolab.eval.preference`: Bradley-Terry strengths and win rates from listening votes;
* :mod:`~audiolab.eval.runner`: every clip × model × condition through the API, resumable;
* :mod:`~audiolab.eval.report`: STT and voices evaluations as one self-contained HTML report
  (built from :mod:`~audiolab.eval.html`);
* :mod:`~audiolab.eval.agent_report`: scripted voice-agent scenarios
  (:mod:`~audiolab.eval.scenarios`) through a realtime (:mod:`~audiolab.eval.agent_realtime`)
  and a chained (:mod:`~audiolab.eval.agent_eval`) agent, as an HTML report and ``results.csv``.

The most used functions are also reachable here (``audiolab.eval.evaluate``,
``audiolab.eval.score``, ``audiolab.eval.real_speech``...).

Example:
    >>> from audiolab import eval as ev
    >>> ev.score(["the cat sat"], ["the bat sat"]).wer
    0.3333333333333333
"""

from __future__ import annotations

import importlib

__all__ = [
    "datasets", "perturb", "metrics", "prosody", "preference", "runner",
    "report", "html", "scenarios", "agent_eval", "agent_realtime", "agent_report",
    "evaluate", "aevaluate", "summarize", "score", "wer", "compare_scores", "word_diff",
    "real_speech", "synthetic_speech", "from_folder", "from_recordings", "Dataset", "Utterance",
    "add_noise", "codec", "change_speed", "conditions", "Condition", "SNR_GRID",
    "bradley_terry", "win_rate_matrix",
]

_SUBMODULES = {"datasets", "perturb", "metrics", "prosody", "preference", "runner", "report", "html", "scenarios",
               "agent_eval", "agent_realtime", "agent_report"}
_FROM = {
    "evaluate": "runner", "aevaluate": "runner",
    "summarize": "metrics", "score": "metrics", "wer": "metrics", "compare_scores": "metrics", "word_diff": "metrics",
    "real_speech": "datasets", "synthetic_speech": "datasets", "from_folder": "datasets",
    "from_recordings": "datasets", "Dataset": "datasets", "Utterance": "datasets",
    "add_noise": "perturb", "codec": "perturb", "change_speed": "perturb", "conditions": "perturb",
    "Condition": "perturb", "SNR_GRID": "perturb",
    "bradley_terry": "preference", "win_rate_matrix": "preference",
}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"audiolab.eval.{name}")
    if name in _FROM:
        value = getattr(importlib.import_module(f"audiolab.eval.{_FROM[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'audiolab.eval' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))

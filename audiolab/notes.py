"""Sentences for the notebooks, computed from this run: what model answered, and who was faster.

A notebook's prose must not claim what its own run did not show. These helpers turn the run's
measurements (and the backend it is connected to) into the sentences the notebooks print:

* :func:`model_note` says which model answers behind an id, its size and its limits (on the local
  backend a small quantized model stands in for OpenAI's);
* :func:`keyword_verdict` says whether ``keywords`` fixed a name the plain transcription misspelled;
* :func:`latency_verdict` compares the agents of a :func:`audiolab.agents.compare_agents` table
  by median time to first audio and says why the faster one won, from the stage timings.

Example:
    >>> import pandas as pd
    >>> rows = [{"agent": "chained", "pipeline": "chained", "time_to_first_audio_s": 1.9, "stage_stt_s": 0.4,
    ...          "stage_llm_s": 0.9, "stage_tts_s": 0.6},
    ...         {"agent": "realtime", "pipeline": "realtime", "time_to_first_audio_s": 1.5, "stage_vad_s": 0.6,
    ...          "stage_respond_s": 0.9}]
    >>> latency_verdict(pd.DataFrame(rows))  # doctest: +NORMALIZE_WHITESPACE
    'Median time to first audio here: realtime 1500 ms, chained 1900 ms. realtime was faster here by 400 ms,
    although its clock includes 600 ms of end-of-turn detection (vad) that the chained agents, given a
    finished file, do not pay.'
"""

from __future__ import annotations

__all__ = ["model_note", "latency_verdict", "keyword_verdict"]


def model_note(lab, model: str) -> str:
    """One sentence: which model answers for ``model`` on ``lab``'s backend, its size and limits."""
    if getattr(lab, "backend", None) != "local":
        return f"`{model}` is served by {getattr(lab, 'backend', 'the backend')}."
    from audiolab.server.engines.llm import GGUFS
    from audiolab.server.registry import ALIASES, MODELS

    alias = ALIASES.get(model)
    spec = MODELS.get(alias.target if alias else model)
    if spec is None or spec.engine != "llm":
        return f"`{model}` is served by the local backend."
    g = GGUFS[spec.options["model"]]
    stands_in = f"`{model}` is answered here by `{spec.id}`" if alias else f"`{model}` is"
    return f"{stands_in}: {g.description}, {g.size_note}. {g.limits}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def latency_verdict(results) -> str:
    """Which agent reached first audio sooner in ``results`` (medians), by how much, and why.

    Args:
        results: the DataFrame of :func:`audiolab.agents.compare_agents` (columns ``agent``,
            ``pipeline``, ``time_to_first_audio_s`` and ``stage_*_s``).
    """
    med = results.groupby("agent", sort=False)["time_to_first_audio_s"].median().sort_values()
    if med.empty:
        return "No agent answered."
    head = "Median time to first audio here: " + ", ".join(f"{a} {_ms(t)}" for a, t in med.items()) + "."
    if len(med) < 2:
        return head
    kind = results.groupby("agent", sort=False)["pipeline"].first()
    best, runner = med.index[0], med.index[1]
    gap = med.iloc[1] - med.iloc[0]
    realtime = [a for a in med.index if kind[a] == "realtime"]
    chained = [a for a in med.index if kind[a] != "realtime"]
    if not realtime or not chained:
        return f"{head} {best} was faster here than {runner} by {_ms(gap)}."
    rt = realtime[0]
    if len(chained) > 1:  # pipelined vs plain chain, in the order measured
        a, b = chained[0], chained[1]
        head += f" {a} reached first audio {_ms(med[b] - med[a])} sooner than {b}."
    stages = results[results["agent"] == rt].filter(like="stage_").median()
    vad = float(stages.get("stage_vad_s", 0.0))
    if kind[best] == "realtime":
        fastest_chain = chained[0]
        why = (f", although its clock includes {_ms(vad)} of end-of-turn detection (vad) that the chained agents, "
               "given a finished file, do not pay" if vad > 0 else "")
        return f"{head} {best} was faster here by {_ms(med[fastest_chain] - med[best])}{why}."
    respond = float(stages.get("stage_respond_s", med[rt] - vad))
    if vad >= med[rt] - med[best]:
        why = (f"because its clock starts on a finished file, while realtime first waits {_ms(vad)} for the "
               "end of the turn (vad)")
    else:
        why = (f"because realtime took {_ms(respond)} from the end of the turn to its first audio, slower than "
               f"the whole chain, on top of {_ms(vad)} of end-of-turn detection")
    return f"{head} Here the {best} was faster than realtime by {_ms(med[rt] - med[best])}, {why}."


def keyword_verdict(rows) -> str:
    """Whether ``keywords=[name]`` fixed a name that the plain transcription got wrong, per row.

    Args:
        rows: records (or a DataFrame) with ``name``, ``without`` and ``with`` (the two transcripts).

    Example:
        >>> keyword_verdict([{"name": "Xiomara", "without": "CMR won.", "with": "Xiomara won."}])
        "Without keywords the name Xiomara came out as 'CMR won.'; with keywords=['Xiomara'] it was spelled right."
        >>> keyword_verdict([{"name": "Ann", "without": "Ann won.", "with": "Ann won."}])
        'In this run the model already spelled Ann right without keywords: nothing to fix.'
    """
    records = rows.to_dict("records") if hasattr(rows, "to_dict") else list(rows)
    for r in records:
        if r["name"] not in r["without"] and r["name"] in r["with"]:
            return (f"Without keywords the name {r['name']} came out as {r['without']!r}; "
                    f"with keywords=[{r['name']!r}] it was spelled right.")
    right = [r["name"] for r in records if r["name"] in r["without"]]
    if right and len(right) == len(records):
        return f"In this run the model already spelled {', '.join(right)} right without keywords: nothing to fix."
    missed = [r["name"] for r in records if r["name"] not in r["with"]]
    return f"In this run the keywords did not fix {', '.join(missed)}: the names stayed misspelled with them too."

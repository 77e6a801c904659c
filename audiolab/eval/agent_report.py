"""``audiolab eval agent``: run the voice-agent scenarios through both architectures, write the report.

:func:`agent_report` speaks every scenario's lines with the TTS, runs each scenario through the
realtime and the chained agent (:mod:`audiolab.eval.agent_eval`), judges every turn with explicit
checks (:mod:`audiolab.eval.scenarios`), and writes one self-contained HTML report plus
``results.csv`` (one row per turn) beside it.

Summary measures, per architecture:

* ``task_completion``: share of scenarios whose every turn passed its check;
* ``turn_pass_rate``: share of turns that passed;
* ``ttfa_p50_s`` / ``ttfa_p90_s``: latency to first audio over the answered turns;
* ``barge_in_stop_ms``: median time from the start of the user's interrupting speech to the
  moment the assistant's audio stops playing;
* ``response_rate``: share of spoken turns that got an audible answer;
* ``silent_turns_ignored``: share of silent turns left unanswered (the right behaviour).

Example:
    >>> rep = agent_report(backend="local", output="agent/agent-report.html")   # doctest: +SKIP
    >>> rep.summary.set_index("architecture")["task_completion"]               # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from audiolab.eval import html as H
from audiolab.eval.agent_eval import RESULT_COLUMNS, AgentModels, run_chained, user_clips
from audiolab.eval.agent_realtime import run_realtime
from audiolab.eval.report import Report, _plots, _write, connect_lab
from audiolab.eval.scenarios import Scenario, default_scenarios

__all__ = ["agent_report", "summarize_agents", "ARCHITECTURES"]

ARCHITECTURES = ("realtime", "chained")


def summarize_agents(df):
    """One row per architecture: completion, pass rate, latency P50/P90, barge-in stop, response rate."""
    import pandas as pd

    rows = []
    for arch, g in df.groupby("architecture", sort=False):
        spoken = g[g["user_text"] != "(silence)"]
        silent = g[g["user_text"] == "(silence)"]
        ttfa = g["ttfa_s"].dropna().to_numpy(float)
        stops = g["barge_in_stop_s"].dropna().to_numpy(float)
        per_scenario = g.groupby("scenario", sort=False)["passed"].all()
        rows.append(
            {
                "architecture": arch,
                "scenarios": len(per_scenario),
                "turns": len(g),
                "task_completion": float(per_scenario.mean()),
                "turn_pass_rate": float(g["passed"].mean()),
                "ttfa_p50_s": float(np.percentile(ttfa, 50)) if ttfa.size else np.nan,
                "ttfa_p90_s": float(np.percentile(ttfa, 90)) if ttfa.size else np.nan,
                "barge_in_stop_ms": float(np.median(stops) * 1000) if stops.size else np.nan,
                "response_rate": float(spoken["responded"].mean()) if len(spoken) else np.nan,
                "silent_turns_ignored": float((~silent["responded"].astype(bool)).mean())
                if len(silent)
                else np.nan,
                "tool_calls": int((g["tool_calls"] != "").sum()),
            }
        )
    return pd.DataFrame(rows)


def _plot_ttfa(df):
    from audiolab.plots import new_figure

    fig = new_figure(figsize=(6.0, 3.2), layout="constrained")
    ax = fig.add_subplot()
    archs = list(dict.fromkeys(df["architecture"]))
    data = [df.loc[df["architecture"] == a, "ttfa_s"].dropna().to_numpy(float) for a in archs]
    ax.boxplot(data, tick_labels=archs, orientation="horizontal", showfliers=False)
    for i, d in enumerate(data):
        ax.plot(d, np.full(len(d), i + 1) + np.linspace(-0.12, 0.12, len(d)), "o", alpha=0.6, markersize=4)
        if d.size:
            ax.plot(np.percentile(d, [50, 90]), [i + 1.3] * 2, "|", color="k", markersize=10)
    ax.set_xlabel("latency to first audio per turn (s); | = P50, P90")
    ax.set_ylabel("architecture")
    return fig


def _plot_grid(df):
    from audiolab.plots import new_figure

    grid = df.groupby(["scenario", "architecture"], sort=False)["passed"].mean().unstack("architecture")
    fig = new_figure(figsize=(5.5, 0.35 * len(grid) + 1.4), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(grid.to_numpy(float), cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(grid.shape[1]), list(grid.columns))
    ax.set_yticks(range(grid.shape[0]), list(grid.index))
    ax.set_xlabel("architecture")
    ax.set_ylabel("scenario")
    fig.colorbar(im, ax=ax, label="share of turns passed")
    return fig


def agent_report(
    lab: Any = None,
    *,
    backend: str | None = None,
    scenarios: Sequence[Scenario] | None = None,
    models: AgentModels | None = None,
    architectures: Sequence[str] = ARCHITECTURES,
    output: str | Path = "agent-report.html",
    progress: bool = True,
) -> Report:
    """Run the voice-agent evaluation and write ``output`` (HTML) and ``results.csv`` beside it.

    Args:
        lab, backend: a connection, or the backend to connect to (as for ``connect()``).
        scenarios: the scenarios (default :func:`~audiolab.eval.scenarios.default_scenarios`).
        models: the models of both architectures (:class:`~audiolab.eval.agent_eval.AgentModels`).
        architectures: ``"realtime"`` and/or ``"chained"``.
        output: the HTML path; ``results.csv`` is written in the same folder.

    Returns:
        A :class:`~audiolab.eval.report.Report`: ``frame`` has one row per turn (the columns of
        ``results.csv``), ``summary`` one row per architecture (see the module doc).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    lab = connect_lab(lab, backend)
    m = models or AgentModels()
    scen = list(scenarios or default_scenarios())
    t0 = time.perf_counter()
    runners = {"realtime": run_realtime, "chained": run_chained}
    lines = {t for sc in scen for turn in sc.turns for t in (turn.say, turn.barge_in) if t}
    bar = tqdm(
        total=len(lines) + len(scen) * len(architectures),
        desc="agent eval",
        unit="step",
        disable=not progress,
    )
    clips = user_clips(lab, scen, m, progress=bar)
    results = []
    for sc in scen:
        for arch in architectures:
            bar.set_postfix_str(f"{arch}: {sc.name}")
            results += runners[arch](lab, sc, clips, m)
            bar.update(1)
    bar.close()
    wall = time.perf_counter() - t0
    df = pd.DataFrame([r.row() for r in results])
    df["scenario_passed"] = df.groupby(["scenario", "architecture"])["passed"].transform("all")
    df = df[RESULT_COLUMNS]
    summary = summarize_agents(df)
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out.parent / "results.csv", index=False)
    turns = df.assign(
        result=[
            '<span class="pass">pass</span>' if p else '<span class="fail">fail</span>' for p in df["passed"]
        ],
        user=[H.audio_player(r.user_audio, caption=r.user_text) for r in results],
        assistant=[H.audio_player(r.reply_audio, caption=r.reply or "(no reply)") for r in results],
    )
    turns = turns[
        [
            "scenario",
            "architecture",
            "turn",
            "user",
            "heard",
            "assistant",
            "tool_calls",
            "check",
            "result",
            "why",
            "ttfa_s",
            "barge_in_stop_s",
        ]
    ]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lead = "; ".join(
        f"{r.architecture}: task completion {r.task_completion:.0%}, first audio P50 "
        f"{r.ttfa_p50_s:.2f} s / P90 {r.ttfa_p90_s:.2f} s"
        for r in summary.itertuples()
    )
    sections = [
        H.section(
            "Summary",
            H.table(summary, table_id="summary"),
            note="Checks are explicit rules on the reply text and the tool call (no LLM judge). "
            "Latency to first audio: realtime from the end of the user's speech as sent; chained "
            "from the end of the user's clip. Barge-in stop: from the start of the interrupting "
            "speech to the moment the client stops the assistant's audio. "
            f"Timings are indicative: load average {load} during a {wall:.0f} s run.",
        ),
        H.section(
            "Plots",
            _plots(
                ("Latency to first audio", lambda: _plot_ttfa(df)),
                ("Turns passed per scenario", lambda: _plot_grid(df)),
            ),
        ),
        H.section("Every turn", H.table(turns, html_cols=("user", "assistant", "result"), table_id="turns")),
    ]
    prov = H.provenance(
        lab,
        dataset=f"{len(scen)} scripted scenarios, {len(df)} turns (synthetic user speech, "
        f"voice {m.user_voice})",
        licence="scenarios written for audiolab",
        models=f"realtime {m.realtime}; chained {m.stt} → {m.chat} → {m.tts}; voice {m.voice}",
        **{"run time": f"{wall:.0f} s", "load average at the end": load},
    )
    page = H.document("Voice-agent evaluation", sections, provenance=prov, summary=lead)
    return _write(out, page, df, summary, {"wall_s": wall, "results_csv": out.parent / "results.csv"})

"""The figure of a Realtime session: the input waveform with one row per event type under it.

Example:
    >>> import numpy as np
    >>> from audiolab.audio import Audio
    >>> from audiolab.realtime.timeline import RealtimeRun, Timeline, TimedEvent
    >>> clip = Audio.from_array(np.zeros(24_000, np.float32), 24_000)
    >>> events = Timeline((TimedEvent(0.2, "input_audio_buffer.speech_started", audio_ms=200),
    ...                    TimedEvent(0.8, "input_audio_buffer.speech_stopped", audio_ms=800)))
    >>> run = RealtimeRun(kind="transcription", model="gpt-4o-mini-transcribe", input=clip,
    ...                   timeline=events, transcript="")
    >>> fig = plot_events(run)
    >>> [t.get_text() for t in fig.axes[1].get_yticklabels()]
    ['speech_started', 'speech_stopped']
"""

from __future__ import annotations

import numpy as np

from audiolab.plots.figure import new_figure
from audiolab.realtime.timeline import TIMELINE_ROWS, RealtimeRun

__all__ = ["plot_events", "played_answers"]


def played_answers(run: RealtimeRun) -> list[tuple[float, object, float | None]]:
    """Each spoken answer as the listener heard it: ``(start_s, audio, cut_s)``.

    An answer plays from its first audio delta (session time); ``cut_s`` is how far into it a
    ``conversation.item.truncate`` (barge-in) stopped it, None when it played to the end.
    """
    cuts = {e.item_id: (e.data or {}).get("audio_end_ms", e.audio_ms)
            for e in run.timeline.of("conversation.item.truncate", direction="client")}
    out = []
    for r in run.responses:
        if r.get("audio") is None or r.get("t_first_audio") is None:
            continue
        items = {e.item_id for e in run.timeline.events if e.response_id == r["id"] and e.item_id}
        cut_ms = next((cuts[i] for i in items if cuts.get(i) is not None), None)
        out.append((float(r["t_first_audio"]), r["audio"], None if cut_ms is None else cut_ms / 1000))
    return out


def plot_events(run: RealtimeRun, *, ax=None):
    """Draw the input waveform and, under it, one row per event type against session time.

    Args:
        run: a :class:`RealtimeRun`.
        ax: a pair of Axes (waveform, events) to draw on; a new figure when None.

    Returns:
        The matplotlib Figure.
    """
    if ax is None:
        fig = new_figure(figsize=(10, 4.5), layout="constrained")
        ax_wave, ax_ev = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1.6]})
    else:
        ax_wave, ax_ev = ax
        fig = ax_wave.figure
    x = np.asarray(run.input.samples)
    t = np.arange(len(x)) / run.input.sr
    ax_wave.plot(t, x, lw=0.5, color="0.3", label="you (sent)")
    for k, (start, clip, cut_s) in enumerate(played_answers(run)):
        y = np.asarray(clip.samples)
        ty = start + np.arange(len(y)) / clip.sr
        heard = ty < start + cut_s if cut_s is not None else np.ones(len(y), bool)
        colour = ("tab:orange", "tab:purple", "tab:brown", "tab:pink")[k % 4]
        ax_wave.plot(ty[heard], y[heard], lw=0.5, color=colour, alpha=0.85, label=f"answer {k + 1} (as played)")
        if cut_s is not None:
            ax_wave.axvline(start + cut_s, color="tab:red", lw=1.2)
            ax_wave.annotate(f"answer {k + 1} cut at {cut_s:.2f} s", (start + cut_s, 1.0), fontsize=7,
                             xycoords=("data", "axes fraction"), ha="left", va="top", color="tab:red")
    if run.responses and run.output is not None:
        ax_wave.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    ax_wave.set_ylabel("amplitude")
    rows = [r for r in TIMELINE_ROWS if run.timeline.of(r)]
    for i, etype in enumerate(rows):
        ts = [e.t for e in run.timeline.of(etype)]
        colour = "tab:red" if etype in ("error", "conversation.item.truncate") else f"C{i % 10}"
        ax_ev.scatter(ts, [i] * len(ts), marker="|", s=200, color=colour)
    for e in run.timeline.of("input_audio_buffer.speech_started") + run.timeline.of(
        "input_audio_buffer.speech_stopped"
    ):
        if e.audio_ms is not None:
            ax_wave.axvline(e.audio_ms / 1000, color="tab:green", ls="--", lw=0.8)
    ax_ev.set_yticks(range(len(rows)))
    ax_ev.set_yticklabels(
        [r.replace("input_audio_buffer.", "").replace("conversation.item.", "item.") for r in rows],
        fontsize=7,
    )
    ax_ev.set_xlabel("session time (s) since the first audio chunk")
    ax_ev.invert_yaxis()
    ax_ev.grid(axis="x", alpha=0.3)
    ax_wave.set_title(f"{run.kind} session ({run.model}): green dashes = VAD speech start/stop in the audio")
    return fig

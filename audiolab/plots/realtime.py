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

__all__ = ["plot_events"]


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
    if run.output is not None and run.responses:
        start = run.responses[0]["t_first_audio"] or 0.0
        y = np.asarray(run.output.samples)
        ax_wave.plot(start + np.arange(len(y)) / run.output.sr, y, lw=0.5, color="tab:orange", alpha=0.8,
                     label="assistant (as received, played from first delta)")
        ax_wave.legend(loc="upper right", fontsize=7)
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

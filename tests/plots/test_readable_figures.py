"""What a class reads off the figures: dB-scaled spectrograms with a labelled colorbar, one legend
entry per voice and per instruction, answers drawn as they were heard, legends that hide nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audiolab import plots
from audiolab.agents import plot_breakdown
from audiolab.audio import Audio
from audiolab.eval.datasets import real_speech
from audiolab.eval.prosody import prosody
from audiolab.plots.audio import TOP_DB, spectrogram_db
from audiolab.plots.realtime import played_answers
from audiolab.realtime.timeline import RealtimeRun, TimedEvent, Timeline

ROOT = Path(__file__).resolve().parents[2]


def test_spectrogram_is_in_db_below_the_loudest_bin_with_a_labelled_colorbar():
    clip = real_speech()[0].audio.slice(0, 2)
    db = spectrogram_db(clip)
    assert db.max() == 0.0 and db.min() == pytest.approx(-TOP_DB)  # speech spans more than 80 dB
    quiet = clip.replace(samples=clip.samples * 0.01)
    assert np.allclose(spectrogram_db(quiet), db, atol=0.5)  # relative to the clip's own loudest bin
    fig = plots.plot_audio(clip)
    spec = fig.axes[1]
    image = spec.images[0]
    assert image.get_clim() == (-TOP_DB, 0)
    (bar,) = spec.child_axes
    assert "dB" in bar.get_ylabel()


def _two_answers(cut_ms: int | None) -> RealtimeRun:
    sr = 24_000
    answer = lambda s: Audio.from_array(0.3 * np.sin(np.arange(int(s * sr)) / 5), sr)  # noqa: E731
    events = [TimedEvent(1.0, "response.output_audio.delta", item_id="item_1", response_id="resp_1"),
              TimedEvent(4.0, "response.output_audio.delta", item_id="item_2", response_id="resp_2")]
    if cut_ms is not None:
        events.insert(1, TimedEvent(1.8, "conversation.item.truncate", direction="client", item_id="item_1",
                                    audio_ms=cut_ms, data={"audio_end_ms": cut_ms}))
    first, second = answer(2.5), answer(1.5)
    responses = ({"id": "resp_1", "audio": first, "t_first_audio": 1.0},
                 {"id": "resp_2", "audio": second, "t_first_audio": 4.0})
    return RealtimeRun(kind="realtime", model="gpt-realtime", input=Audio.from_array(np.zeros(6 * sr), sr),
                       timeline=Timeline(tuple(events)), transcript="", output=Audio.concat([first, second]),
                       responses=responses)


def test_a_barged_in_answer_is_drawn_only_up_to_its_cut_and_the_second_answer_is_drawn():
    run = _two_answers(cut_ms=800)
    assert [(s, c) for s, _, c in played_answers(run)] == [(1.0, 0.8), (4.0, None)]
    fig = plots.plot_events(run)
    lines = {ln.get_label(): ln for ln in fig.axes[0].lines if ln.get_label().startswith("answer")}
    assert set(lines) == {"answer 1 (as played)", "answer 2 (as played)"}
    assert max(lines["answer 1 (as played)"].get_xdata()) <= 1.8 + 1e-9
    x2 = lines["answer 2 (as played)"].get_xdata()
    assert min(x2) == pytest.approx(4.0) and max(x2) == pytest.approx(5.5, abs=1e-3)
    uncut = played_answers(_two_answers(cut_ms=None))
    assert [c for _, _, c in uncut] == [None, None]


def test_the_f0_legend_has_one_entry_per_voice_and_per_instruction():
    from audiolab.plots.voice import style_by_vibe_and_voice

    t = np.linspace(0, 1, 20)
    voices, vibes = ["alloy", "coral", "onyx", "marin"], ["neutral", "calm", "excited", "whisper"]
    cells = [(v, i) for v in voices for i in vibes]
    fig = plots.plot_f0_contours({f"{v} · {i}": (t, 100 + 10 * k + 0 * t) for k, (v, i) in enumerate(cells)})
    ax = fig.axes[0]
    style_by_vibe_and_voice(ax, [i for _, i in cells], [v for v, _ in cells])
    labels = [x.get_text() for x in ax.get_legend().get_texts()]
    assert labels == ["instruction", *vibes, "voice", *voices]  # 10 entries, not 16 lines
    assert len(ax.get_lines()) == 16
    fig.canvas.draw()
    legend_box = ax.get_legend().get_window_extent()
    assert legend_box.x0 >= ax.get_window_extent().x1 - 1  # beside the traces, not over them


def test_breakdown_legend_sits_outside_the_bars_and_their_ticks():
    df = pd.DataFrame({"agent": ["chained", "realtime"], "stage_stt_s": [0.4, np.nan],
                       "stage_llm_s": [0.6, np.nan], "stage_first_audio_s": [0.3, 0.9],
                       "time_to_first_audio_s": [1.3, 0.9], "total_s": [3.0, 2.5]})
    fig = plot_breakdown(df)
    ax = fig.axes[0]
    fig.canvas.draw()
    assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1 - 1


def test_speaking_rate_is_words_per_second_in_the_lab_the_plots_and_the_notebook():
    clip = real_speech()[0].audio
    assert prosody(clip, text=clip.text).speaking_rate_unit == "words/s"  # VoiceLab passes its text
    assert "words/s" in plots.FEATURE_LABELS["speaking_rate"]
    nb = json.loads((ROOT / "notebooks" / "02-voices-and-tone.ipynb").read_text())
    text = " ".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert "`speaking_rate` words per second" in text and "syllables per second" not in text

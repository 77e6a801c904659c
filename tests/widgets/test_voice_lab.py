"""Voice Lab against the local backend: real TTS, real measurements, real votes."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest

import audiolab
from audiolab.errors import InvalidRequest
from audiolab.widgets.blind_ab import load_votes
from audiolab.widgets.voice_lab import VoiceLab

TEXT = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background."
VOICES = ["alloy", "coral"]  # a Piper voice and a Kokoro voice on the local backend


@pytest.fixture(scope="module")
def lab():
    return audiolab.connect("local")


@pytest.fixture(scope="module")
def grid(lab, tmp_path_factory):
    vl = VoiceLab(lab, text=TEXT, voices=VOICES, instructions=["neutral", "whisper", "excited", "slow"],
                  votes_path=tmp_path_factory.mktemp("votes") / "votes.csv", seed=7)
    features = vl.run(progress=False)
    return vl, features


def feature(df: pd.DataFrame, voice: str, vibe: str, name: str) -> float:
    return float(df.loc[(df.voice == voice) & (df.vibe == vibe), name].iloc[0])


@pytest.mark.engines
def test_grid_has_one_measured_cell_per_voice_and_instruction(grid):
    vl, df = grid
    assert len(df) == 8 and df["error"].isna().all()
    assert set(zip(df.voice, df.vibe)) == {
        (v, i) for v in VOICES for i in ("neutral", "whisper", "excited", "slow")
    }
    assert set(df.model) == {"gpt-4o-mini-tts"}  # chosen from lab.models(): takes instructions
    assert (df.ttfb_s > 0).all() and (df.ttfb_s <= df.latency_s).all()
    assert df[["lufs", "duration_s", "speaking_rate"]].notna().all().all()
    voiced = df[df.vibe != "whisper"]  # a whisper may have no voiced frame at all: no F0 is right
    assert voiced[["f0_mean_hz", "f0_range_semitones"]].notna().all().all()
    take = vl.take("coral", "whisper")
    assert take.audio.sr == 24000 and take.audio.text == TEXT and take.instructions == "Whisper softly."


@pytest.mark.engines
@pytest.mark.parametrize("voice", VOICES)
def test_whisper_is_quieter_than_neutral(grid, voice):
    _, df = grid
    assert feature(df, voice, "whisper", "lufs") < feature(df, voice, "neutral", "lufs") - 6.0


@pytest.mark.engines
@pytest.mark.parametrize("voice", VOICES)
def test_slow_is_longer_and_slower_than_neutral(grid, voice):
    _, df = grid
    assert feature(df, voice, "slow", "duration_s") > 1.25 * feature(df, voice, "neutral", "duration_s")
    assert feature(df, voice, "slow", "speaking_rate") < feature(df, voice, "neutral", "speaking_rate")


@pytest.mark.engines
@pytest.mark.parametrize("voice", VOICES)
def test_excited_raises_pitch_mean_or_range(grid, voice):
    _, df = grid
    higher = feature(df, voice, "excited", "f0_mean_hz") > 1.05 * feature(df, voice, "neutral", "f0_mean_hz")
    wider = (
        feature(df, voice, "excited", "f0_range_semitones")
        > feature(df, voice, "neutral", "f0_range_semitones") + 1
    )
    assert higher or wider


@pytest.mark.engines
def test_deltas_are_differences_from_neutral(grid):
    vl, df = grid
    d = vl.deltas()
    row = d[(d.voice == "alloy") & (d.vibe == "whisper")].iloc[0]
    assert row.lufs == pytest.approx(
        feature(df, "alloy", "whisper", "lufs") - feature(df, "alloy", "neutral", "lufs")
    )
    assert set(d.vibe) == {"whisper", "excited", "slow"}
    assert len(vl.plot_deltas().axes) == 6
    f0_fig = vl.plot_f0()
    assert len(f0_fig.axes[0].get_lines()) == 8


@pytest.mark.engines
def test_blind_votes_give_a_bradley_terry_ranking_and_pool_from_csv(grid):
    vl, _ = grid
    favourite = vl.take("alloy", "neutral").label
    for _ in range(40):
        a, b = vl.ab.current
        vl.vote("A" if a == favourite else "B" if b == favourite else "tie")
    votes = vl.votes
    assert len(votes) == 40 and set(votes.columns) >= {"a", "b", "winner", "choice", "rater"}
    assert favourite not in set(votes.loc[votes.choice == "tie", "a"]) | set(
        votes.loc[votes.choice == "tie", "b"]
    )
    bt = vl.ranking(n_boot=200)
    assert bt.ranking()[0] == favourite
    lo = bt.ci_low[bt.items.index(favourite)]
    others_hi = max(h for i, h in zip(bt.items, bt.ci_high) if i != favourite)
    assert lo > 0 and lo > np.median([s for i, s in zip(bt.items, bt.scores) if i != favourite])
    assert others_hi < bt.ci_high[bt.items.index(favourite)]
    rates = vl.ab.win_rates()
    assert rates.loc[favourite].drop(favourite).dropna().eq(1.0).all()
    pooled = load_votes([vl.votes_path, vl.votes_path])  # two listeners' files
    assert len(pooled) == 80 and list(pooled.winner[:40]) == list(votes.winner)


@pytest.mark.engines
def test_a_vote_must_be_a_b_or_tie(grid):
    vl, _ = grid
    with pytest.raises(InvalidRequest):
        vl.vote("C")


@pytest.mark.engines
def test_the_widget_renders_cells_comparison_and_ab_results(grid):
    vl, _ = grid
    ui = vl.widget
    cells = vl._ui._cells
    assert len(cells) == 8
    html = cells[vl.take("alloy", "slow").label].value
    assert "<audio" in html and "data:image/png" in html and "first audio" in html
    assert len(vl._ui.compare.children) == 5  # the two pickers, the pair, the table, F0 overlay, deltas
    vl._ui._ab_round()
    results = vl._ui.ab_box.children[-1].value
    assert "Bradley–Terry ranking" in results and results.count("data:image/png") == 2
    assert ui is vl.widget


@pytest.mark.engines
def test_a_lab_shown_after_a_headless_run_is_complete_and_labelled(grid):
    from audiolab.widgets._voice_ui import THUMBNAIL_KEY, VoiceLabUI

    vl, _ = grid
    ui = VoiceLabUI(vl)  # what a notebook shows after vl.run(): the bar is full, not empty at 8 / 8
    assert ui.progress.value == ui.progress.max == 8 and ui.status.value.startswith("8 / 8")
    assert ui.grid.children[0].value == f"<small>{THUMBNAIL_KEY}</small>" and "spectrogram" in THUMBNAIL_KEY
    captions = [c.value for c in ui._cells.values()]
    assert all('class="alv-caption"' in c and "white-space:nowrap" in c and "text-overflow:ellipsis" in c
               for c in captions)
    assert ui.speed.readout and ui.speed.readout_format == ".2f"
    assert ui.models.layout.width == "26em" and ui.models.rows >= len(ui.models.options)


@pytest.mark.engines
def test_compare_plays_two_picked_clips_and_tabulates_their_feature_changes(grid):
    from audiolab.widgets._voice_ui import FEATURE_NAMES, VoiceLabUI

    vl, df = grid
    a, b = vl.take("alloy", "neutral"), vl.take("coral", "whisper")
    table = vl.compare(a, b.label)
    assert list(table.columns) == ["A", "B", "B − A"]
    for feat in ("lufs", "f0_mean_hz", "speaking_rate"):
        fa, fb = feature(df, "alloy", "neutral", feat), feature(df, "coral", "whisper", feat)
        row = table.loc[feat, ["A", "B", "B − A"]].to_numpy(float)  # a whisper has no F0: NaN stays NaN
        assert row == pytest.approx([fa, fb, fb - fa], nan_ok=True)
    with pytest.raises(InvalidRequest):
        vl.compare(a, "nobody · neutral · gpt-4o-mini-tts")
    ui = VoiceLabUI(vl)
    ui.pick_a.value, ui.pick_b.value = a.label, b.label
    pair = ui.pair.value
    assert pair.count("<audio") == 2 and "<b>piper</b>" in pair and "<b>kokoro</b>" in pair
    assert FEATURE_NAMES["lufs"] in pair and "B − A" in pair
    assert f"{table.loc['lufs', 'B − A']:.0f}" in pair  # loudness change, read in whole LUFS
    assert {label for label, _ in ui.pick_a.options} >= {"alloy · neutral (piper)", "coral · whisper (kokoro)"}
    every = ui.compare.children[2].value
    assert "gpt-4o-mini-tts" not in every  # one model: no model column to wrap
    assert "white-space:nowrap" in every


@pytest.mark.engines
def test_each_clip_is_labelled_with_the_engine_that_spoke_it(grid):
    vl, df = grid
    assert dict(zip(df.voice, df.engine)) == {"alloy": "piper", "coral": "kokoro"}  # x-audiolab-engine
    assert vl.take("coral", "slow").audio.meta["engine"] == "kokoro"
    vl.widget  # builds the UI
    assert "<b>kokoro</b>" in vl._ui._cells[vl.take("coral", "neutral").label].value


@pytest.mark.engines
def test_backend_errors_show_inline_per_cell(lab):
    vl = VoiceLab(lab, text="Hello.", voices=["alloy", "nobody"], instructions=["neutral"], votes_path=None)
    df = vl.run(progress=False)
    bad = df[df.voice == "nobody"].iloc[0]
    assert bad.error.startswith("HTTP 400") and "voice" in bad.error
    assert df[df.voice == "alloy"].error.isna().all()
    ui = vl._ui or __import__("audiolab.widgets._voice_ui", fromlist=["VoiceLabUI"]).VoiceLabUI(vl)
    assert 'role="alert"' in ui._cells[vl.take("nobody", "neutral").label].value
    assert "nobody" in ui.errors.value


@pytest.mark.engines
def test_bad_settings_are_refused_before_any_request(lab):
    with pytest.raises(InvalidRequest) as err:
        VoiceLab(
            lab, text="Hi", voices=["alloy"], instructions=["neutral"], models=["gpt-4o-mini-tts"], speed=9
        )
    assert err.value.param == "speed"


@pytest.mark.engines
def test_synthesize_button_fills_the_grid_in_the_background(lab):
    vl = VoiceLab(lab, text="Rice in round bowls.", voices=["ash"], instructions=["neutral", "calm"],
                  votes_path=None)
    vl.widget
    ui = vl._ui
    ui.vibes.value = ("neutral", "sad")
    ui._on_go()
    for t in threading.enumerate():
        if t.name == "audiolab-lab-ui":
            t.join(timeout=60)
    assert ui.progress.value == 2 and not ui.go.disabled
    assert {t.vibe for t in vl.takes} == {"neutral", "sad"}
    assert all("<audio" in c.value for c in ui._cells.values())


@pytest.mark.engines
def test_to_code_runs_and_makes_the_same_grid(lab):
    vl = VoiceLab(lab, text="Four hours of work.", voices=["alloy"],
                  instructions=["neutral", "whisper"], votes_path=None)
    code = vl.to_code()
    assert code.count("client.audio.speech.create(") == 2 and "instructions='Whisper softly.'" in code
    scope: dict = {}
    exec(compile(code, "voice_lab_code", "exec"), scope)
    assert set(scope["takes"]) == {
        ("alloy", "neutral", "gpt-4o-mini-tts"),
        ("alloy", "whisper", "gpt-4o-mini-tts"),
    }
    assert all(a.duration > 0.5 for a in scope["takes"].values())


@pytest.mark.engines
def test_a_recorded_grid_replays_offline_from_the_response_cache(tmp_path):
    kw = dict(text="Hello there.", voices=["alloy"], instructions=["neutral", "whisper"],
              models=["gpt-4o-mini-tts"], votes_path=None)
    live = VoiceLab(audiolab.connect("local", cache="readwrite", cache_dir=tmp_path), **kw).run(
        progress=False
    )
    offline = audiolab.connect("local", cache="replay", cache_dir=tmp_path)  # nothing leaves the process
    replayed = VoiceLab(offline, **kw).run(progress=False)
    assert replayed.error.isna().all()
    pd.testing.assert_series_equal(replayed.lufs, live.lufs)
    assert offline.history.frame.cache_hit.all() and len(offline.history.frame) == 2


def test_first_f0_plot_takes_under_two_seconds(two_cities_path):
    code = (
        "import time; from audiolab.audio import Audio; "
        f"a = Audio.from_file({str(two_cities_path)!r}).slice(0, 4); t = time.perf_counter(); "
        "from audiolab.widgets._render import spectrogram_png; "
        "from audiolab.plots.audio import plot_f0_contours; "
        "png = spectrogram_png(a); fig = plot_f0_contours([a]); fig.savefig(__import__('io').BytesIO()); "
        "print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(out.stdout) <= 2.0

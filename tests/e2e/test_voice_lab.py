"""The Voice Lab in a real browser: synthesize the grid with its button, play cells, vote blind.

Scenario 4 of issue #9: the grid renders one playable clip per voice × instruction, and the
blind A/B buttons record votes that appear in Python's DataFrame, for the clips the page played.
Issue #18: what a class sees is finished and readable: a full progress bar at the end, captions on
one line so the thumbnails line up, the Models list and the Speed value in view, a key to the
thumbnails, and a Compare tab that plays two picked clips side by side over their feature changes.
"""

from __future__ import annotations

import hashlib
import re

import pytest

from tests.e2e.browser_page import click_play, doc_screenshot, screenshot
from tests.e2e.notebook_page import NotebookPage, result_cell, write_notebook

VOICES, VIBES = ["alloy", "coral"], ["neutral", "whisper"]

pytestmark = pytest.mark.usefixtures("kernels_stopped")


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def voice_lab_notebook(folder) -> str:
    return write_notebook(
        folder,
        "voice_lab.ipynb",
        [
            f"""
        import audiolab
        from audiolab.widgets import VoiceLab
        lab = audiolab.connect("local")
        vl = VoiceLab(lab, text="The birch canoe slid on the smooth planks.", voices={VOICES!r},
                      instructions={VIBES!r}, votes_path="voice_lab_votes.csv", seed=0)
        vl
        """,
            result_cell(
                '{"votes": vl.votes[["a", "b", "winner", "choice"]].to_dict("records"), '
                '"clips": {t.label: {"duration": t.audio.duration, '
                '"md5": hashlib.md5(src(t).encode()).hexdigest()} '
                "for t in vl.takes}}",
                setup="""
            import hashlib
            from audiolab.widgets._render import audio_tag
            src = lambda take: audio_tag(take.audio).split('src="', 1)[1].split('"', 1)[0]
            """,
            ),
        ],
    )


# How the lab looks once the grid is done, measured in the page.
LOOKS = """(cell) => {
  const bar = cell.querySelector('.widget-hprogress .progress-bar');
  const captions = [...cell.querySelectorAll('.alv-caption')];
  const rows = {};
  for (const img of cell.querySelectorAll('.widget-gridbox img')) {
    const rowTop = Math.round(img.closest('.widget-html').getBoundingClientRect().top);  // one grid row
    (rows[rowTop] ||= []).push(img.getBoundingClientRect().top);
  }
  const models = [...cell.querySelectorAll('.widget-select-multiple')]
    .find((el) => el.textContent.includes('Models')).querySelector('select');
  const speed = [...cell.querySelectorAll('.widget-slider')].find((el) => el.textContent.includes('Speed'));
  return {
    progress: bar.getBoundingClientRect().width / bar.parentElement.getBoundingClientRect().width,
    caption_heights: captions.map((c) => Math.round(c.getBoundingClientRect().height)),
    thumbnail_tops: Object.values(rows),
    models_clipped: models.scrollWidth > models.clientWidth + 1,
    speed_readout: (speed.querySelector('.widget-readout') || {}).textContent || '',
  };
}"""


def test_voice_lab_grid_plays_and_blind_votes_reach_python(page, jupyter):
    name = voice_lab_notebook(jupyter.root)
    nb = NotebookPage(page).open(jupyter.lab_url(name))
    nb.run_cell(0)
    go = nb.wait_widget(0, "button:has-text('Synthesize all')")
    go.click()
    cell = nb.cell(0)
    n = len(VOICES) * len(VIBES)
    cell.get_by_text(f"{n} / {n} clips").wait_for(timeout=120_000)

    # The grid: one playable clip per voice × instruction, captioned with its duration.
    grid = cell.locator(".widget-gridbox")
    grid.wait_for()
    for label in VOICES + VIBES:
        assert grid.get_by_text(label, exact=True).count() == 1, f"no {label} header in the grid"
    players = grid.locator("audio")
    assert players.count() == n
    captions = [float(m) for m in re.findall(r"([\d.]+) s · first audio", grid.inner_text())]
    assert len(captions) == n
    for i in range(n):
        played = click_play(page, players.nth(i))
        assert abs(played["duration"] - captions[i]) < 0.05, f"cell {i} plays {played['duration']:.2f} s, " \
                                                             f"captioned {captions[i]:.2f} s"
    screenshot(page, "4-voice-lab-grid")
    looks = cell.evaluate(LOOKS)
    assert looks["progress"] > 0.98, f"the progress bar is not full at the end: {looks['progress']:.0%}"
    assert len(set(looks["caption_heights"])) == 1, f"captions wrap: heights {looks['caption_heights']}"
    for row in looks["thumbnail_tops"]:
        assert max(row) - min(row) < 1, f"the thumbnails of a row do not line up: {row}"
    assert looks["models_clipped"] is False, "the Models list cuts its options"
    assert looks["speed_readout"] == "1.00", f"the Speed slider shows {looks['speed_readout']!r}"
    assert "spectrogram" in grid.locator("xpath=..").inner_text()  # the key to the thumbnails
    doc_screenshot(page, "voice-lab-grid", locator=cell.locator(".jp-OutputArea-output").first)

    # Compare: pick two clips, both play side by side, their feature changes below them.
    cell.locator(".lm-TabBar-tab", has_text="Compare").click()
    cell.locator(".widget-dropdown", has_text="Clip A").locator("select").select_option(
        label="alloy · neutral (piper)")
    cell.locator(".widget-dropdown", has_text="Clip B").locator("select").select_option(
        label="coral · whisper (kokoro)")
    pair = cell.locator(".alv-pair")
    pair.get_by_text("coral · whisper").wait_for()
    for i in range(2):
        assert click_play(page, pair.locator("audio").nth(i), min_width=200)["duration"] > 0.5
    assert "piper" in pair.inner_text() and "kokoro" in pair.inner_text()
    deltas = cell.locator("table.alv-t").first
    assert "B − A" in deltas.inner_text() and "loudness (LUFS)" in deltas.inner_text()
    heights = cell.evaluate(
        "(c) => [...c.querySelectorAll('table.alv-t tr')].map((r) => r.getBoundingClientRect().height)")
    assert max(heights) < 2 * min(heights), f"table rows wrap onto several lines: {heights}"
    doc_screenshot(page, "voice-lab-compare", locator=cell.locator(".jp-OutputArea-output").first)

    # Blind A/B: the listener hears A and B, and votes; remember what A and B were.
    cell.locator(".lm-TabBar-tab", has_text="Blind A/B").click()
    cell.get_by_role("button", name="Start blind test").click()
    heard = []
    for n_votes, button in enumerate(["A is better", "B is better", "Tie"], start=1):
        pair = [cell.locator(f".widget-html:has(b:text-is('{x}')) audio") for x in "AB"]
        for player in pair:
            player.wait_for()
            click_play(page, player, min_width=200)
        heard.append([md5(player.get_attribute("src")) for player in pair])
        cell.get_by_role("button", name=button).click()
        cell.get_by_text(re.compile(rf"^{n_votes} vote\(s\)")).wait_for()
    screenshot(page, "4-voice-lab-blind-ab")

    result = nb.run_and_read(1)
    votes, clips = result["votes"], result["clips"]
    print(f"[e2e] voice lab: {len(clips)} clips, votes {[(v['choice'], v['winner']) for v in votes]}")
    assert [v["choice"] for v in votes] == ["A", "B", "tie"]
    by_md5 = {c["md5"]: label for label, c in clips.items()}
    for vote, (a_md5, b_md5) in zip(votes, heard):
        assert (by_md5.get(a_md5), by_md5.get(b_md5)) == (vote["a"], vote["b"]), \
            "the vote names other clips than the page played as A and B"
    assert [v["winner"] for v in votes] == [votes[0]["a"], votes[1]["b"], "tie"]
    page.errors.assert_none_from_our_widgets()

"""Notebook 02 (voices and tone) served as a Voila app: it runs, its widgets render and work.

Scenario 6 of issue #9. Voila runs the notebook top to bottom as a student's app (no
``AUDIOLAB_HEADLESS``: nobody simulates votes), then the page must show the Voice Lab grid,
play its cells, take blind A/B votes, and show no error from any cell. The repository's
``voila.json`` (what ``make voila`` reads) hides the cells tagged ``teacher``: no code, no
developer notes, no empty tables.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.e2e.browser_page import click_play, doc_screenshot, screenshot

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "02-voices-and-tone.ipynb"
# What the teacher-only cells say or print; none of it may reach the students' page.
TEACHER_ONLY = ("For the teacher", "voila notebooks/", "vl.run()", "lab.aclient", "simulated listener",
                "vote first", "client.audio.speech.create(", "ordinary SDK calls", "Pooling the class")
CELLS = 4 * 4  # the notebook's VOICES × VIBES

# Error outputs, however Voila's template renders them, and any stderr text.
ERRORS = """() => [...document.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"], '
  + '.jp-OutputArea-output.jp-mod-error, .jp-RenderedText.jp-mod-error')]
  .map((el) => el.textContent.trim()).filter(Boolean)"""


@pytest.mark.skipif(not NOTEBOOK.exists(), reason=f"{NOTEBOOK.name} is not in the repository")
def test_voices_notebook_runs_as_a_voila_app_with_working_widgets(voila_app, page, tmp_path):
    app_dir = tmp_path / "app"  # the app writes its votes CSV beside the notebook: not in the repo
    app_dir.mkdir()
    notebook = Path(shutil.copy(NOTEBOOK, app_dir))
    shutil.copy(ROOT / "voila.json", app_dir)  # Voila reads it from its working directory
    app = voila_app(notebook)
    page.goto(app.url, wait_until="commit", timeout=60_000)

    grid = page.locator(".widget-gridbox").first
    grid.wait_for(timeout=240_000)  # Voila runs every cell before it shows the widgets
    players = grid.locator("audio")
    players.nth(CELLS - 1).wait_for()
    assert players.count() == CELLS
    page.wait_for_load_state("load", timeout=120_000)
    for i in (0, CELLS - 1):
        assert click_play(page, players.nth(i))["duration"] > 0.5
    screenshot(page, "6-voila-02-voices-grid")
    page.evaluate("() => window.scrollTo(0, 0)")
    doc_screenshot(page, "voila-voice-lab", locator=page.locator(".jp-OutputArea-output:has(.widget-gridbox)").first)
    shown = page.inner_text("body")
    leaked = [t for t in TEACHER_ONLY if t in shown]
    assert not leaked, f"teacher-only cells reached the students' page: {leaked}"
    assert "Blind A/B" in shown and "Exercises" in shown  # the students' cells are all there

    # The blind A/B tab works in the app: a vote is counted.
    lab = page.locator(".widget-tab").first
    lab.locator(".lm-TabBar-tab", has_text="Blind A/B").click()
    lab.get_by_role("button", name="Start blind test").click()
    for x in "AB":
        player = lab.locator(f".widget-html:has(b:text-is('{x}')) audio")
        player.wait_for()
        click_play(page, player, min_width=200)
    lab.get_by_role("button", name="A is better").click()
    lab.get_by_text(re.compile(r"^1 vote\(s\)")).wait_for()
    screenshot(page, "6-voila-02-blind-ab")

    # The notebook's charts (feature deltas, F0 contours) are drawn as images, not "<Figure ...>".
    charts = page.locator('[data-mime-type="image/png"] img')
    assert charts.count() >= 2, f"{charts.count()} chart(s) drawn"
    assert "<Figure size" not in page.inner_text("body")
    errors = page.evaluate(ERRORS)
    assert not errors, "cells of the app failed:\n" + "\n---\n".join(e[-1500:] for e in errors)
    page.errors.assert_none_from_our_widgets()

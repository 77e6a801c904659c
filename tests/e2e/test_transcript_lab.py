"""The Transcript Lab in a real browser: transcribe with its button, read the coloured diff.

Scenario 5 of issue #9: each run's card shows the hypothesis as a coloured word diff against
the reference, with as many substituted / inserted / deleted words as Python counted, and the
WER it shows is Python's.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.browser_page import doc_screenshot, screenshot
from tests.e2e.notebook_page import NotebookPage, result_cell, write_notebook

MODELS = ["whisper-base", "pocketsphinx"]
CLIP = "two_cities-03"  # "it was the epoch of belief, ...": pocketsphinx gets some of it wrong

pytestmark = pytest.mark.usefixtures("kernels_stopped")

# Every card that holds a diff: its title, its facts line, and its words by class and colour.
CARDS = """(cell) => [...cell.querySelectorAll('.widget-html-content')]
  .filter((el) => el.querySelector('span[class^="al-"]'))
  .map((el) => {
    const words = [...el.querySelectorAll('span[class^="al-"]')];
    const count = (k) => words.filter((s) => s.className === k).length;
    const look = (k) => { const s = words.find((w) => w.className === k); if (!s) return null;
      const st = getComputedStyle(s); return { bg: st.backgroundColor, line: st.textDecorationLine }; };
    return { title: el.querySelector('b').textContent, facts: el.querySelector('small').textContent,
             ok: count('al-ok'), sub: count('al-sub'), ins: count('al-ins'), del: count('al-del'),
             subLook: look('al-sub'), insLook: look('al-ins'), delLook: look('al-del'), okLook: look('al-ok'),
             visible: el.getBoundingClientRect().height > 0 };
  })"""
TRANSPARENT = "rgba(0, 0, 0, 0)"


def transcript_lab_notebook(folder) -> str:
    return write_notebook(
        folder,
        "transcript_lab.ipynb",
        [
            f"""
        import audiolab
        from audiolab.eval.datasets import real_speech
        from audiolab.widgets import TranscriptLab
        lab = audiolab.connect("local")
        tl = TranscriptLab(lab, real_speech()[{CLIP!r}], models={MODELS!r})
        tl
        """,
            result_cell(
                '{"reference": tl.reference, "runs": tl.results[["label", "text", "wer", "substitutions", '
                '"insertions", "deletions", "ref_words"]].to_dict("records")}'
            ),
        ],
    )


def test_transcript_lab_shows_a_coloured_diff_and_pythons_wer(page, jupyter):
    name = transcript_lab_notebook(jupyter.root)
    nb = NotebookPage(page).open(jupyter.lab_url(name))
    nb.run_cell(0)
    go = nb.wait_widget(0, "button:has-text('Transcribe')")
    go.click()
    cell = nb.cell(0)
    cell.get_by_text(f"{len(MODELS)} / {len(MODELS)} runs").wait_for(timeout=120_000)
    cell.locator("table").first.wait_for()  # the results table comes with the final render
    cards = page.evaluate(CARDS, cell.element_handle())
    coloured = cell.locator("span.al-sub, span.al-ins, span.al-del").first
    if coloured.count():
        coloured.scroll_into_view_if_needed()
    screenshot(page, "5-transcript-lab")
    table = cell.locator("table").first.inner_text()
    assert not re.search(r"\(\'|\bnan\b|\bNone\b", table), f"the results table shows Python: {table[:300]!r}"
    assert "moonshine_voice/" not in cell.inner_text()  # the clip is named by file and span, not its path
    doc_screenshot(page, "transcript-lab", locator=cell.locator(".jp-OutputArea-output").first)

    result = nb.run_and_read(1)
    runs = {r["label"]: r for r in result["runs"]}
    print("[e2e] transcript lab: " + "; ".join(f"{c['title']}: {c['facts']}" for c in cards))
    assert sorted(c["title"] for c in cards) == sorted(runs) == sorted(MODELS)
    for card in cards:
        run = runs[card["title"]]
        assert card["visible"]
        shown = re.search(r"WER ([\d.]+)%", card["facts"])
        assert shown, f"no WER on the {card['title']} card: {card['facts']!r}"
        assert shown.group(1) == f"{run['wer'] * 100:.1f}", f"{card['title']}: shows {shown.group(0)}, " \
                                                            f"Python has {run['wer']:.4f}"
        assert (card["sub"], card["ins"], card["del"]) == (run["substitutions"], run["insertions"],
                                                           run["deletions"]), card["title"]
        # Every reference word appears once: as it was, substituted, or struck through.
        assert card["ok"] + card["sub"] + card["del"] == run["ref_words"], card["title"]
        assert card["okLook"]["bg"] == TRANSPARENT
        if card["sub"]:
            assert card["subLook"]["bg"] != TRANSPARENT
        if card["ins"]:
            assert card["insLook"]["bg"] != TRANSPARENT
        if card["del"]:
            assert "line-through" in card["delLook"]["line"]
    # The lab is only worth looking at if some run made mistakes to colour.
    assert any(c["sub"] + c["ins"] + c["del"] for c in cards), "no run made a mistake: nothing was coloured"
    page.errors.assert_none_from_our_widgets()

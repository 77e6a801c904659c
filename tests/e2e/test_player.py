"""The StreamingPlayer in a real browser: streaming TTS from the local backend plays in the page.

Scenario 3 of issue #9: after the listener's "Enable audio" click, a streamed ``pcm`` answer of
``/v1/audio/speech`` plays gap-free for as long as the audio lasts; the page reports exactly the
samples Python sent, and a time to first audio.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.browser_page import screenshot
from tests.e2e.notebook_page import NotebookPage, result_cell, write_notebook

TEXT = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background."

pytestmark = pytest.mark.usefixtures("kernels_stopped")

# Records when the page shows "▶ playing", from before the stream starts.
WATCH_PLAYING = """(info) => {
  const log = window.__e2ePlaying = [];
  let on = false;
  new MutationObserver(() => {
    const now = info.textContent.includes('▶ playing');
    if (now !== on) { on = now; log.push([now, performance.now()]); }
  }).observe(info, { childList: true, characterData: true, subtree: true });
}"""


def player_notebook(folder) -> str:
    return write_notebook(
        folder,
        "player.ipynb",
        [
            """
        import time
        import audiolab
        from audiolab.widgets import StreamingPlayer
        lab = audiolab.connect("local")
        player = StreamingPlayer()
        player
        """,
            result_cell(
                '{"sent": player.sent, "samples": len(audio.samples), "sr": audio.sr, '
                '"duration": audio.duration, "ttfb_ms": player.ttfb_ms, "chunks": player._seq}',
                setup=f"""
            t0 = time.perf_counter()
            with lab.client.audio.speech.with_streaming_response.create(
                    model="gpt-4o-mini-tts", voice="coral", input={TEXT!r}, response_format="pcm"
            ) as response:
                audio = player.play_stream(response.iter_bytes(), sr=24000, started_at=t0)
            """,
            ),
            # What the browser reported back through the synced traits.
            result_cell(
                '{"received": player.received, "ttfa_ms": player.ttfa_ms, "enabled": player.enabled}'
            ),
        ],
    )


def test_streaming_tts_plays_and_the_page_reports_every_sample(page, jupyter):
    name = player_notebook(jupyter.root)
    nb = NotebookPage(page).open(jupyter.lab_url(name))
    nb.run_cell(0)
    widget = nb.wait_widget(0, ".audiolab-player")
    info = widget.locator(".alp-info")
    enable = widget.get_by_role("button", name=re.compile("Enable audio"))
    enable.click()  # the user gesture browsers require before any sound
    enable.wait_for(state="hidden")
    page.evaluate(WATCH_PLAYING, info.element_handle())

    sent = nb.run_and_read(1)
    print(f"[e2e] player: Python sent {sent['sent']} samples ({sent['duration']:.2f} s) in {sent['chunks']} "
          f"chunks, first byte {sent['ttfb_ms']} ms")
    assert sent["sent"] == sent["samples"] > sent["sr"]  # at least a second of speech
    seconds = f"{sent['sent'] / sent['sr']:.2f} s received"
    page.wait_for_function(
        "([el, want]) => el.textContent.includes(want)", arg=[info.element_handle(), seconds], timeout=15_000
    )
    page.wait_for_function("(el) => /first audio \\d+ ms/.test(el.textContent)", arg=info.element_handle())
    shown = info.text_content()
    screenshot(page, "3-streaming-player")
    # It plays, in real time, to the end: "▶ playing" shows for as long as the audio lasts.
    page.wait_for_function(
        "() => { const l = window.__e2ePlaying; return l.length >= 2 && !l[l.length - 1][0]; }",
        timeout=int(sent["duration"] * 1000) + 20_000,
    )
    page.wait_for_timeout(500)  # a late chunk after an underrun would start a new interval
    log = page.evaluate("() => window.__e2ePlaying")
    played = sum(b[1] - a[1] for a, b in zip(log[::2], log[1::2])) / 1000
    print(f"[e2e] player: page showed {shown!r}; played {played:.2f} s in {len(log) // 2} run(s)")
    assert not log[-1][0], "still playing long after the stream's end"
    assert sent["duration"] - 0.25 <= played <= sent["duration"] + 1.0, \
        f"played {played:.2f} s of a {sent['duration']:.2f} s stream"

    browser = nb.run_and_read(2)
    assert browser["enabled"] is True
    assert browser["received"] == sent["sent"], "the page did not receive every sample Python sent"
    assert browser["ttfa_ms"] >= sent["ttfb_ms"] >= 0
    assert f"first audio {browser['ttfa_ms']} ms" in shown
    page.errors.assert_none_from_our_widgets()

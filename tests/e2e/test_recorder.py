"""The Recorder in a real browser: record from Chromium's fake microphone (real speech, looped),
get an Audio of the right length in Python, and transcribe it on the local backend.

Scenarios 1 and 2 of issue #9: the AudioWorklet engine in JupyterLab 4 and in Notebook 7, and
the ipywebrtc engine in JupyterLab 4.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.browser_page import click_play, screenshot
from tests.e2e.notebook_page import NotebookPage, result_cell, write_notebook

RECORD_S = 5.5  # one take: the fake mic's speech (1.0 s to 5.2 s of its 6.7 s loop) fits in it
MAX_WER = 0.30

pytestmark = pytest.mark.usefixtures("kernels_stopped")


def recorder_notebook(folder, name: str, engine: str) -> str:
    return write_notebook(
        folder,
        name,
        [
            f"""
        import audiolab
        from audiolab.widgets import Recorder
        lab = audiolab.connect("local")
        recorder = Recorder(engine={engine!r})
        recorder
        """,
            result_cell(
                '{"duration": take.duration, "sr": take.sr, "source": take.source, '
                '"engine": take.meta.get("engine"), "peak": float(abs(take.samples).max()), "text": heard}',
                setup="""
            take = recorder.audio
            heard = lab.client.audio.transcriptions.create(
                model="whisper-base", language="en", file=("take.wav", take.to_wav_bytes())).text
            """,
            ),
        ],
    )


def record_a_take(nb: NotebookPage, *, engine: str) -> float:
    """Click record, wait RECORD_S, click stop (in the widget a person uses); return the wait."""
    widget = nb.wait_widget(0, ".audiolab-recorder")
    if engine == "worklet":
        button = widget.locator(".alr-button")
        button.click()
        wait_status(widget, "recording", timeout_s=20)  # Python has the "start" message
    else:  # ipywebrtc's own AudioRecorder, shown above ours: its first button records
        button = nb.cell(0).locator(".widget-play button.jupyter-button").first
        button.click()
        nb.page.wait_for_function("(b) => b.querySelector('i').style.color === 'darkred'",
                                  arg=button.element_handle(), timeout=20_000)  # its "recording" look
    t0 = time.monotonic()
    nb.page.wait_for_timeout(RECORD_S * 1000)
    button.click()
    waited = time.monotonic() - t0
    # Python assembled the take and sent its preview back: the status says so and it plays.
    wait_status(widget, "stopped", timeout_s=30)
    player = widget.locator(".alr-take audio")
    nb.page.wait_for_function("(a) => (a.getAttribute('src') || '').startsWith('blob:')",
                              arg=player.element_handle(), timeout=15_000)
    played = click_play(nb.page, player)
    assert abs(played["duration"] - waited) <= 1.0, \
        f"the take's player holds {played['duration']:.2f} s, we recorded {waited:.2f} s"
    return waited


def wait_status(widget, status: str, *, timeout_s: float) -> None:
    """Wait for the recorder to show ``status``; fail with the message it shows instead."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        widget.page.wait_for_function("([el, want]) => el.textContent === want",
                                      arg=[widget.locator(".alr-status").element_handle(), status],
                                      timeout=timeout_s * 1000)
    except PlaywrightTimeout:
        shown = widget.locator(".alr-status").text_content()
        error = widget.locator(".alr-error").text_content()
        raise AssertionError(f"the recorder shows {shown!r}, not {status!r}; its error: {error!r}") from None


def check_take(nb: NotebookPage, waited: float, fake_mic, *, engine: str) -> dict:
    from audiolab.eval.metrics import score

    # The take starts at most ~1 s into the file: it holds the sentence once, whole.
    assert fake_mic.lead_s + fake_mic.speech_s < RECORD_S < fake_mic.loop_s
    result = nb.run_and_read(1)
    print(f"[e2e] {engine}: waited {waited:.2f} s, take {result['duration']:.2f} s at {result['sr']} Hz, "
          f"heard {result['text']!r}")
    assert result["engine"] == engine
    assert abs(result["duration"] - waited) <= 1.0, (
        f"take lasts {result['duration']:.2f} s, we recorded {waited:.2f} s"
    )
    assert result["peak"] > 0.05, "the take is silent: the fake microphone's speech never arrived"
    s = score(fake_mic.text, result["text"], n_boot=0)
    assert s.wer <= MAX_WER, f"WER {s.wer:.0%} against {fake_mic.text!r}: heard {result['text']!r}"
    return result


def test_worklet_recorder_in_jupyterlab_records_the_microphone(page, jupyter, fake_mic):
    name = recorder_notebook(jupyter.root, "recorder_lab.ipynb", "worklet")
    nb = NotebookPage(page).open(jupyter.lab_url(name))
    assert nb.app_name() == "JupyterLab", nb.app_name()
    nb.run_cell(0)
    waited = record_a_take(nb, engine="worklet")
    check_take(nb, waited, fake_mic, engine="worklet")
    screenshot(page, "1-recorder-jupyterlab")
    page.errors.assert_none_from_our_widgets()


def test_worklet_recorder_in_notebook7_records_the_microphone(page, jupyter, notebook7, fake_mic):
    name = recorder_notebook(jupyter.root, "recorder_nb7.ipynb", "worklet")
    page.goto(jupyter.tree_url())  # Notebook 7's file browser lists it, as a person would find it
    page.get_by_text(name, exact=True).first.wait_for(state="visible")
    nb = NotebookPage(page).open(jupyter.notebook_url(name))
    assert nb.app_name() == "Jupyter Notebook", nb.app_name()
    nb.run_cell(0)
    waited = record_a_take(nb, engine="worklet")
    check_take(nb, waited, fake_mic, engine="worklet")
    screenshot(page, "2-recorder-notebook7")
    page.errors.assert_none_from_our_widgets()


def test_ipywebrtc_recorder_in_jupyterlab_records_the_microphone(page, jupyter, fake_mic):
    name = recorder_notebook(jupyter.root, "recorder_webrtc.ipynb", "ipywebrtc")
    nb = NotebookPage(page).open(jupyter.lab_url(name))
    nb.run_cell(0)
    waited = record_a_take(nb, engine="ipywebrtc")
    check_take(nb, waited, fake_mic, engine="ipywebrtc")
    screenshot(page, "2-recorder-ipywebrtc-jupyterlab")
    page.errors.assert_none_from_our_widgets()

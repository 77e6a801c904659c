"""What a person does and sees in a browser tab: errors the page raised, screenshots, and
playing an ``<audio controls>`` element with a click on its play button.

Example:
    >>> errors = PageErrors(page)                                   # doctest: +SKIP
    >>> click_play(page, page.locator("audio").first)["currentTime"] > 0   # doctest: +SKIP
    >>> screenshot(page, "4-voice-lab-grid")                        # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
#: Screenshots the README shows (committed): what a teacher and a class will see.
DOC_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
#: What marks an error as coming from our widgets: anywidget loads their ESM from blob: URLs.
_OURS = ("anywidget", "audiolab", "blob:", "alr-", "alp-")


class PageErrors:
    """Uncaught errors and console errors of one tab."""

    def __init__(self, page):
        self.uncaught: list[str] = []
        self.console: list[str] = []
        page.on(
            "pageerror", lambda exc: self.uncaught.append(f"{exc.name}: {exc.message}\n{exc.stack or ''}")
        )
        page.on("console", self._on_console)

    def _on_console(self, msg) -> None:
        if msg.type == "error":
            loc = msg.location or {}
            self.console.append(f"{msg.text} (at {loc.get('url', '?')}:{loc.get('lineNumber', '?')})")

    def from_our_widgets(self) -> list[str]:
        """The errors that name our widgets' code (anywidget modules, audiolab, their classes)."""
        return [e for e in self.uncaught + self.console if any(k in e.lower() for k in _OURS)]

    def assert_none_from_our_widgets(self) -> None:
        ours = self.from_our_widgets()
        assert not ours, "our widgets raised errors in the page:\n" + "\n---\n".join(ours)


def screenshot(page, name: str) -> Path:
    """Save what the page shows to tests/artifacts/<name>.png (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def doc_screenshot(page, name: str, *, locator=None) -> Path:
    """Save what the page (or one element of it) shows to docs/screenshots/<name>.png, for the README."""
    DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = DOC_SCREENSHOTS / f"{name}.png"
    if locator is None:
        page.screenshot(path=str(path), full_page=True)
        return path
    # JupyterLab scrolls the notebook inside its own panel: a tall window shows the whole element.
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": 2800})
    try:
        locator.scroll_into_view_if_needed()
        page.wait_for_timeout(300)  # let the panel lay out at its new height
        locator.screenshot(path=str(path))
    finally:
        page.set_viewport_size(size)
    return path


# Wait until the element has played a little (or failed), then pause it and report.
_PLAYED = """async (a) => {
  const t0 = performance.now();
  while (!(a.currentTime > 0.2) && !a.error && performance.now() - t0 < 8000)
    await new Promise((ok) => setTimeout(ok, 50));
  a.pause();
  return { duration: a.duration, currentTime: a.currentTime, error: a.error ? a.error.code : null };
}"""


def click_play(page, audio, *, min_width: float = 150) -> dict:
    """Click the play button of ``audio`` (a Locator), and return what the element then did.

    Returns:
        ``{"duration", "currentTime", "error"}`` once it played 0.2 s, or after 8 s.

    Raises:
        AssertionError: the player is too narrow to use, or it did not play.
    """
    audio.scroll_into_view_if_needed()
    box = audio.bounding_box()
    assert box and box["width"] >= min_width, f"the audio player is too narrow to use: {box}"
    audio.click(position={"x": 18, "y": box["height"] / 2})  # Chromium's play button, on the left
    played = page.evaluate(_PLAYED, audio.element_handle())
    assert played["error"] is None and played["currentTime"] > 0, f"the clip did not play: {played}"
    return played

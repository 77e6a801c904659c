"""HTML fragments and small images the labs put in their cells.

Self-contained HTML (data: URLs, inline styles) so the cells render the same in JupyterLab,
Notebook 7, VS Code and exported HTML. matplotlib loads on first use, with the Agg backend.

Example:
    >>> "HTTP 400" in error_box("HTTP 400: bad voice")
    True
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np

from audiolab.audio import Audio

__all__ = ["audio_tag", "png_tag", "figure_png", "error_box", "spectrogram_png", "insert_cell", "esc"]

esc = html.escape


def audio_tag(audio: Audio, *, max_sr: int = 24000) -> str:
    """An ``<audio controls>`` with the clip embedded as a 16-bit wav."""
    clip = audio.to_mono()
    clip = clip.resample(min(clip.sr, max_sr))
    b64 = base64.b64encode(clip.to_wav_bytes()).decode("ascii")
    return (f'<audio controls preload="none" style="width:100%;height:30px" '
            f'src="data:audio/wav;base64,{b64}"></audio>')


def png_tag(png: bytes, *, alt: str = "", width: str = "100%") -> str:
    return (f'<img alt="{esc(alt)}" style="width:{width};max-width:100%" '
            f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}"/>')


def error_box(message: str) -> str:
    """A red inline box for an error message (the labs' error area)."""
    return ('<div role="alert" style="color:#82071e;background:#ffebe9;border:1px solid #ff8182;'
            f'border-radius:4px;padding:6px 8px;margin:4px 0;white-space:pre-wrap">{esc(message)}</div>')


def figure_png(fig, *, dpi: int = 80) -> bytes:
    """Render a matplotlib Figure to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def spectrogram_png(audio: Audio, *, f0: tuple[np.ndarray, np.ndarray] | None = None,
                    size: tuple[float, float] = (3.2, 1.3), max_hz: float = 5000.0) -> bytes:
    """A small log-magnitude spectrogram (0 to ``max_hz``) with the F0 contour (0-500 Hz) over it.

    Args:
        audio: the clip.
        f0: ``(times_s, f0_hz)`` from :func:`audiolab.eval.prosody.f0_contour`; computed if omitted.
    """
    from audiolab.plots.figure import new_figure

    clip = audio.to_mono()
    x = np.asarray(clip.samples, dtype=np.float64)
    n_fft = 1 << max(7, int(round(np.log2(0.025 * clip.sr))))
    hop = n_fft // 4
    fig = new_figure(figsize=size)
    ax = fig.add_axes((0, 0, 1, 1))
    if len(x) >= n_fft:
        frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop] * np.hanning(n_fft)
        spec = 20 * np.log10(np.abs(np.fft.rfft(frames, axis=1)).T + 1e-6)
        freqs = np.fft.rfftfreq(n_fft, 1 / clip.sr)
        keep = freqs <= max_hz
        spec = spec[keep]
        top = spec.max()
        ax.imshow(np.clip(spec, top - 70, top), origin="lower", aspect="auto", cmap="magma",
                  extent=(0, clip.duration, 0, freqs[keep][-1]))
    if f0 is None:
        from audiolab.eval.prosody import f0_contour

        f0 = f0_contour(clip)
    t, hz = f0
    ax.set_xlim(0, max(clip.duration, 1e-3))
    ax.set_ylim(0, max_hz)
    ax.set_axis_off()
    pitch = ax.twinx()  # F0 on its own 0-500 Hz scale, or it would hug the bottom edge
    pitch.plot(t, hz, color="#3fb950", lw=1.6)
    pitch.set_ylim(0, 500)
    pitch.set_xlim(0, max(clip.duration, 1e-3))
    pitch.set_axis_off()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=70)
    return buf.getvalue()


def insert_cell(code: str) -> bool:
    """Put ``code`` in a new cell below (IPython ``set_next_input``); False outside IPython.

    It takes effect when called from a running cell (classic Notebook, JupyterLab).
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    shell.set_next_input(code, replace=False)
    return True


class LabPanel:
    """What Voice Lab and Transcript Lab share: "copy as code" and a UI built on first display.

    A subclass defines ``_build_ui()`` (it imports its UI class, so ipywidgets loads only when
    the panel is shown) and ``to_code()``.
    """

    _ui = None

    def _build_ui(self):
        raise TypeError(f"{type(self).__name__} defines no _build_ui()")

    def copy_code(self) -> str:
        """Insert :meth:`to_code` as a new cell below the running one (IPython), and return it."""
        code = self.to_code()
        insert_cell(code)
        return code

    @property
    def widget(self):
        """The interactive UI (ipywidgets), built on first use."""
        if self._ui is None:
            self._ui = self._build_ui()
        return self._ui.root

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

"""Self-contained HTML reports: audio players, plots, tables and provenance in one offline file.

Everything a report shows is inlined: audio clips as base64 ``data:`` URIs (re-encoded as small
mono mp3, so a report of a default set stays far under 20 MB), matplotlib figures as base64 PNG,
tables as plain HTML, and the style sheet in a ``<style>`` element. Nothing is fetched when the
file opens: no script, font or image comes from the network, so the report can be mailed, put on
a USB stick, or opened on a train.

The pieces are small functions returning HTML strings; :func:`document` wraps them in a page.

Example:
    >>> import pandas as pd
    >>> page = document("Demo", [section("Numbers", table(pd.DataFrame({"wer": [0.125]})))],
    ...                 provenance={"backend": "local"})
    >>> "<table" in page and "http" not in page.split("<body>")[1]
    True
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import math
import platform
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from audiolab.audio import Audio

__all__ = ["audio_player", "figure", "table", "section", "diff_html", "provenance", "document", "fmt",
           "AUDIO_BITRATE", "AUDIO_RATE"]

#: Mono mp3 at 16 kHz and 32 kbit/s: speech stays clear, a minute of audio costs ~240 kB.
AUDIO_RATE = 16_000
AUDIO_BITRATE = 32_000
PACKAGES = ("audiolab-kit", "openai", "numpy", "pandas", "matplotlib", "jiwer", "faster-whisper",
            "llama_cpp_python", "piper-tts", "av")

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1100px;color:#222;
line-height:1.45;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
th,td{border:1px solid #ddd;padding:3px 8px;vertical-align:top}th{background:#f4f4f4;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#fafafa}
img.plot{max-width:100%;height:auto;display:block;margin:.5em 0}
audio{height:32px;vertical-align:middle;max-width:260px}
.diff .eq{color:#333}.diff .sub{background:#fde2b3}.diff .del{background:#f8c4c4;text-decoration:line-through}
.diff .ins{background:#c8efc8}.note{color:#666;font-size:.9em}
.pass{color:#1a7f37;font-weight:600}.fail{color:#b42318;font-weight:600}
dl.prov{display:grid;grid-template-columns:max-content auto;gap:2px 14px;font-size:.9em}
dl.prov dt{font-weight:600}dl.prov dd{margin:0}
"""


def esc(value: Any) -> str:
    """HTML-escaped ``str(value)``."""
    return html.escape("" if value is None else str(value))


def fmt(value: Any) -> str:
    """How a table cell shows a value: floats with 4 significant digits, NaN as an empty cell."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, float) or type(value).__name__.startswith("float"):
        v = float(value)
        if math.isnan(v):
            return ""
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.4g}"
    return str(value)


def audio_player(audio: Audio | None, *, caption: str | None = None) -> str:
    """An ``<audio controls>`` element holding the clip as a base64 mp3 ``data:`` URI.

    Args:
        audio: the clip (``None`` gives an empty cell).
        caption: a line under the player (default: the duration).
    """
    if audio is None or audio.num_samples == 0:
        return '<span class="note">(no audio)</span>'
    clip = audio.to_mono()
    body = clip.resample(min(AUDIO_RATE, clip.sr) if clip.sr >= 8000 else clip.sr).encode(
        "mp3", bitrate=AUDIO_BITRATE)
    b64 = base64.b64encode(body).decode("ascii")
    note = esc(caption if caption is not None else f"{audio.duration:.1f} s")
    return (f'<audio controls preload="none" src="data:audio/mpeg;base64,{b64}"></audio>'
            f'<div class="note">{note}</div>')


def figure(fig, *, alt: str = "plot", dpi: int = 96) -> str:
    """A matplotlib Figure as an inline base64 PNG ``<img>`` (the figure is not kept open)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    b64 = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="plot" alt="{esc(alt)}" src="data:image/png;base64,{b64}">'


def table(df, *, html_cols: Iterable[str] = (), index: bool = False, caption: str | None = None,
          table_id: str | None = None) -> str:
    """A DataFrame as a plain HTML table; columns in ``html_cols`` are inserted as HTML, the rest escaped.

    Numbers are right-aligned and shown with :func:`fmt`; every cell carries ``data-col`` with its
    column name, so a reader (or a test) can find a column without counting.
    """
    raw = set(html_cols)
    cols = list(df.columns)
    head = "".join(f"<th>{esc(c)}</th>" for c in ([df.index.name or ""] if index else []) + cols)
    rows = []
    for idx, row in zip(df.index, df.itertuples(index=False, name=None)):
        cells = [f'<th>{esc(idx)}</th>'] if index else []
        for c, v in zip(cols, row):
            if c in raw:
                cells.append(f'<td data-col="{esc(c)}">{"" if v is None else v}</td>')
            else:
                numeric = isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_))
                cls = ' class="num"' if numeric else ""
                cells.append(f'<td data-col="{esc(c)}"{cls}>{esc(fmt(v))}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    attr = f' id="{esc(table_id)}"' if table_id else ""
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f"<table{attr}>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def section(title: str, *parts: str, note: str | None = None) -> str:
    """An ``<h2>`` section holding the given HTML parts, with an optional explanatory note."""
    text = f'<p class="note">{esc(note)}</p>' if note else ""
    return f"<section><h2>{esc(title)}</h2>{text}{''.join(parts)}</section>"


def diff_html(ops: Sequence) -> str:
    """Coloured word diff of :func:`audiolab.eval.metrics.word_diff` ops (ref→hyp, deletions struck)."""
    out = []
    for op in ops:
        if op.op == "equal":
            out.append(f'<span class="eq">{esc(op.ref)}</span>')
        elif op.op == "substitute":
            out.append(f'<span class="sub" title="substitution">{esc(op.ref)}→{esc(op.hyp)}</span>')
        elif op.op == "delete":
            out.append(f'<span class="del" title="deletion">{esc(op.ref)}</span>')
        else:
            out.append(f'<span class="ins" title="insertion">+{esc(op.hyp)}</span>')
    return f'<span class="diff">{" ".join(out)}</span>'


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def provenance(lab: Any = None, **extra: Any) -> dict:
    """What produced a report: backend, kit and SDK versions, Python, platform, date (UTC), plus ``extra``.

    The backend's address is shown only for the local backend or a URL; no key is ever included.
    """
    info: dict[str, Any] = {"date (UTC)": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S")}
    if lab is not None:
        info["backend"] = getattr(lab, "backend", "unknown")
        base_url = getattr(lab, "base_url", None)
        if base_url:
            info["base URL"] = base_url
    info.update(extra)
    info["versions"] = ", ".join(f"{p} {v}" for p in PACKAGES if (v := _version(p)))
    info["python"] = f"{platform.python_version()} on {platform.system()} {platform.machine()}"
    return info


def _prov_html(info: Mapping[str, Any]) -> str:
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in info.items())
    return f'<dl class="prov">{items}</dl>'


def document(title: str, sections: Sequence[str], *, provenance: Mapping[str, Any] | None = None,
             summary: str | None = None) -> str:
    """The whole page: title, an optional summary paragraph, provenance, then the sections."""
    prov = section("Provenance", _prov_html(provenance)) if provenance else ""
    lead = f"<p>{esc(summary)}</p>" if summary else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{esc(title)}</h1>{lead}{''.join(sections)}{prov}"
            "<p class=\"note\">Made by audiolab. Self-contained: opens offline, loads nothing from the "
            "network."
            "</p></body></html>\n")

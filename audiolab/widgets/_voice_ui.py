"""The ipywidgets face of :class:`~audiolab.widgets.voice_lab.VoiceLab`: controls, grid, charts, blind A/B.

Every button calls a public VoiceLab method; this module only lays out and renders. Work runs
in a background thread so the kernel stays responsive, and every failure lands in the red
error area instead of a traceback in the log.
"""

from __future__ import annotations

import ipywidgets as w

from audiolab.errors import AudiolabError
from audiolab.plots.table import readable
from audiolab.widgets._background import describe_error, run_in_thread
from audiolab.widgets._render import (
    audio_tag,
    error_box,
    esc,
    figure_png,
    insert_cell,
    png_tag,
    spectrogram_png,
)

__all__ = ["VoiceLabUI", "THUMBNAIL_KEY", "FEATURE_NAMES"]

#: How the Compare tab names each feature.
FEATURE_NAMES = {"f0_mean_hz": "mean pitch (Hz)", "f0_range_semitones": "pitch range (semitones)",
                 "speaking_rate": "speaking rate (words/s)", "pause_ratio": "share of pauses",
                 "lufs": "loudness (LUFS)", "duration_s": "duration (s)", "ttfb_s": "first audio after (s)"}

_AB_MIN_VOTES = 10
#: What the small pictures in the grid are (shown above the grid).
THUMBNAIL_KEY = ("Each picture is a <b>spectrogram</b> of the clip (time →, frequency ↑ up to 5 kHz, brighter = "
                 "louder) with its <b>pitch (F0)</b> as a <span style=\"color:#3fb950\"><b>green line</b></span> "
                 "(0–500 Hz scale).")
_CAPTION = ("display:block;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;height:1.4em;"
            "line-height:1.4em;font-size:0.85em")
_NOWRAP_TABLE = "<div style=\"overflow-x:auto\"><style>.alv-t td,.alv-t th{{white-space:nowrap}}</style>{}</div>"


class VoiceLabUI:
    """Widgets bound to one VoiceLab; ``.root`` is what the notebook shows."""

    def __init__(self, vl):
        from audiolab.widgets.voice_lab import TEXT_PRESETS, VIBES, openai_voices, tts_models

        self.vl = vl
        self.errors = w.HTML()
        self.preset = w.Dropdown(options=[("(your text)", "")] + [(k, v) for k, v in TEXT_PRESETS.items()],
                                 description="Preset", layout=w.Layout(width="18em"))
        self.text = w.Textarea(value=vl.text, layout=w.Layout(width="100%", height="4.5em"))
        self.preset.observe(lambda c: setattr(self.text, "value", c["new"]) if c["new"] else None, "value")
        voices = openai_voices() + [v for v in vl.voices if v not in openai_voices()]
        self.voices = w.SelectMultiple(options=voices, value=tuple(vl.voices), rows=8, description="Voices")
        names = list(VIBES) + [n for n in vl.vibes if n not in VIBES]
        self.vibes = w.SelectMultiple(options=names, value=tuple(vl.vibes), rows=8, description="Vibes")
        self._custom = {n: t for n, t in vl.vibes.items() if n not in VIBES}
        self.free = w.Textarea(
            placeholder="free instructions, one per line", layout=w.Layout(width="16em", height="8em")
        )
        try:
            models = tts_models(vl.lab)
        except Exception as exc:  # the grid still works with the models given to VoiceLab
            models = []
            self.errors.value = error_box(f"Could not list models: {describe_error(exc)}")
        models += [m for m in vl.models if m not in models]
        wide = w.Layout(width="26em")
        self.models = w.SelectMultiple(options=models, value=tuple(vl.models), rows=max(3, min(len(models), 8)),
                                       description="Models", layout=wide)
        self.speed = w.FloatSlider(value=vl.speed, min=0.25, max=4.0, step=0.05, description="Speed",
                                   readout=True, readout_format=".2f", continuous_update=False, layout=wide)
        self.go = w.Button(description="Synthesize all", button_style="primary", icon="play")
        self.copy = w.Button(description="Copy as code", icon="code")
        self.progress = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="14em"))
        self.status = w.HTML()
        self.grid = w.VBox()
        self.compare = w.VBox([w.HTML("Synthesize first, then compare two clips.")])
        self.code = w.Textarea(layout=w.Layout(width="100%", height="16em"))
        self.ab_box = w.VBox([w.HTML("Synthesize first, then start a blind test.")])
        self.tabs = w.Tab(children=[self.grid, self.compare, self.ab_box, self.code])
        for i, title in enumerate(["Grid", "Compare", "Blind A/B", "Code"]):
            self.tabs.set_title(i, title)
        self.go.on_click(self._on_go)
        self.copy.on_click(self._on_copy)
        controls = w.HBox([self.voices, self.vibes, self.free, w.VBox([self.models, self.speed])],
                          layout=w.Layout(flex_flow="row wrap", overflow="visible"))
        self.root = w.VBox([w.HBox([w.HTML("<b>Voice Lab</b>"), self.preset]), self.text, controls,
                            w.HBox([self.go, self.copy, self.progress, self.status]), self.errors, self.tabs])
        if vl.takes:
            self._render_all()

    # ---- synthesize -----------------------------------------------------------------------

    def _inputs(self) -> list[str]:
        picked = [self._custom.get(n, n) for n in self.vibes.value]
        return picked + [line.strip() for line in self.free.value.splitlines() if line.strip()]

    def _on_go(self, _button=None) -> None:
        try:
            self.vl.configure(text=self.text.value, voices=self.voices.value, instructions=self._inputs(),
                              models=list(self.models.value) or None, speed=self.speed.value)
        except AudiolabError as exc:
            self.errors.value = error_box(exc.message)
            return
        cells = self.vl.cells()
        self.errors.value, self.go.disabled = "", True
        self.progress.max, self.progress.value = len(cells), 0
        self.status.value = f"0 / {len(cells)}"
        self._layout_grid(cells)

        async def job():
            await self.vl.arun(progress=False, on_take=self._on_take)
            self.status.value = "measuring…"
            self._render_all()

        run_in_thread(job, on_error=self._fail)

    def _on_take(self, done: int, total: int, take) -> None:
        self.progress.value = done
        self.status.value = f"{done} / {total} · {esc(take.voice)} · {esc(take.vibe)}"
        cell = self._cells.get(take.label)
        if cell is not None:
            cell.value = self._cell_html(take, spectrogram=False)

    def _fail(self, exc: BaseException) -> None:
        self.errors.value = error_box(describe_error(exc))
        self.go.disabled = False

    # ---- render ---------------------------------------------------------------------------

    def _layout_grid(self, cells) -> None:
        vibes = list(dict.fromkeys(c.vibe for c in cells))
        rows = list(dict.fromkeys((c.model, c.voice) for c in cells))
        several = len({m for m, _ in rows}) > 1
        self._cells = {c.label: w.HTML('<div style="color:#888">…</div>') for c in cells}
        items = [w.HTML("")] + [w.HTML(f"<b>{esc(v)}</b>") for v in vibes]
        for model, voice in rows:
            items.append(
                w.HTML(f"<b>{esc(voice)}</b>" + (f"<br><small>{esc(model)}</small>" if several else ""))
            )
            items += [self._cells[c.label] for c in cells if (c.model, c.voice) == (model, voice)]
        self.grid.children = [w.HTML(f"<small>{THUMBNAIL_KEY}</small>"), w.GridBox(items, layout=w.Layout(
            grid_template_columns=f"7em repeat({len(vibes)}, minmax(190px, 1fr))", grid_gap="6px"))]

    def _cell_html(self, take, *, spectrogram: bool = True) -> str:
        if take.error:
            return error_box(take.error)
        facts = f"{take.audio.duration:.2f} s · first audio {take.ttfb_s * 1000:.0f} ms · total {take.latency_s:.1f} s"
        engine = f"<b>{esc(take.engine)}</b> · " if take.engine else ""
        caption = (f'<span class="alv-caption" style="{_CAPTION}" title="{esc(take.engine)} · {facts}">'
                   f"{engine}{facts}</span>")
        image = (png_tag(spectrogram_png(take.audio, f0=self.vl.f0(take)),
                         alt="spectrogram with the F0 contour (green)") if spectrogram else "")
        return audio_tag(take.audio) + caption + image

    def _render_all(self) -> None:
        takes = self.vl.takes
        if not hasattr(self, "_cells") or set(self._cells) != {t.label for t in takes}:
            self._layout_grid(takes)
        for take in takes:
            self._cells[take.label].value = self._cell_html(take)
        if self.vl.errors:
            self.errors.value = error_box("\n".join(self.vl.errors))
        self._render_compare()
        self.ab_box.children = [self._ab_start()]
        self.progress.max, self.progress.value = max(1, len(takes)), len(takes)  # full: every cell is done
        self.status.value = f"{sum(t.audio is not None for t in takes)} / {len(takes)} clips"
        self.go.disabled = False

    def _render_compare(self) -> None:
        ok = [t for t in self.vl.takes if t.audio is not None]
        parts = []
        if len(ok) >= 2:
            options = [(f"{t.voice} · {t.vibe}" + (f" · {t.model}" if len(self.vl.models) > 1 else "")
                        + f" ({t.engine})", t.label) for t in ok]
            self.pick_a = w.Dropdown(options=options, value=ok[0].label, description="Clip A",
                                     layout=w.Layout(width="24em"))
            self.pick_b = w.Dropdown(options=options, value=ok[-1].label, description="Clip B",
                                     layout=w.Layout(width="24em"))
            self.pair = w.HTML()
            for pick in (self.pick_a, self.pick_b):
                pick.observe(lambda _: self._render_pair(), "value")
            parts += [w.HBox([self.pick_a, self.pick_b]), self.pair]
            self._render_pair()
        df = self.vl.features
        table = readable(df.drop(columns=["instructions", "error"] + (["model"] if df["model"].nunique() == 1 else [])))
        parts.append(w.HTML("<h4>Every clip</h4>" + _NOWRAP_TABLE.format(table.to_html(index=False, classes="alv-t"))))
        if ok:
            parts.append(w.HTML(png_tag(figure_png(self.vl.plot_f0()), alt="F0 contours")))
        if "neutral" in set(df["vibe"]) and df["vibe"].nunique() > 1:
            parts.append(w.HTML(png_tag(figure_png(self.vl.plot_deltas()), alt="feature changes")))
        self.compare.children = parts

    def _render_pair(self) -> None:
        a, b = (next(t for t in self.vl.takes if t.label == p.value) for p in (self.pick_a, self.pick_b))
        side = "flex:1 1 0;min-width:240px"
        players = "".join(
            f'<div style="{side}"><b>Clip {x}</b> · {esc(t.voice)} · {esc(t.vibe)} · <b>{esc(t.engine)}</b>'
            f"{audio_tag(t.audio)}{png_tag(spectrogram_png(t.audio, f0=self.vl.f0(t)), alt=f'spectrogram {x}')}</div>"
            for x, t in (("A", a), ("B", b)))
        deltas = readable(self.vl.compare(a, b).T).T.rename(index=FEATURE_NAMES)  # decimals per feature
        self.pair.value = (f'<div class="alv-pair" style="display:flex;gap:12px">{players}</div>'
                           + _NOWRAP_TABLE.format(deltas.to_html(classes="alv-t")))

    # ---- blind A/B ------------------------------------------------------------------------

    def _ab_start(self):
        start = w.Button(description="Start blind test", icon="headphones")
        start.on_click(lambda _: self._ab_round())
        where = ("kept in memory only" if self.vl.votes_path is None
                 else "saved to a file of this session's own" if "{session}" in str(self.vl.votes_path)
                 else f"added to <code>{esc(str(self.vl.votes_path))}</code>")
        return w.VBox([w.HTML(f"Two clips, named A and B in random order. Your votes are {where}."), start])

    def _ab_round(self) -> None:
        try:
            a, b = self.vl.ab_pair()
        except AudiolabError as exc:
            self.errors.value = error_box(exc.message)
            return
        buttons = [w.Button(description=d) for d in ("A is better", "Tie", "B is better")]
        for button, choice in zip(buttons, ("A", "tie", "B")):
            button.on_click(lambda _, c=choice: self._ab_vote(c))
        n = len(self.vl.votes)
        # Each player gets a share of the row: an HTML widget in an HBox otherwise shrinks to
        # nothing, and the <audio width:100%> with it (unplayable).
        side = w.Layout(flex="1 1 0%", min_width="240px")
        players = w.HBox([w.HTML(f"<b>A</b>{audio_tag(a)}", layout=side),
                          w.HTML(f"<b>B</b>{audio_tag(b)}", layout=side)])
        saved = f" · saved in <code>{esc(str(self.vl.ab.votes_path))}</code>" if self.vl.ab.votes_path else ""
        note = w.HTML(f"{n} vote(s)" + (f"; ranking after {_AB_MIN_VOTES}" if n < _AB_MIN_VOTES else "") + saved)
        self.ab_box.children = [players, w.HBox(buttons), note, self._ab_results()]

    def _ab_vote(self, choice: str) -> None:
        try:
            self.vl.vote(choice)
        except (AudiolabError, OSError) as exc:
            self.errors.value = error_box(describe_error(exc))
        self._ab_round()

    def _ab_results(self):
        votes = self.vl.votes
        if len(votes) < _AB_MIN_VOTES:
            return w.HTML("")
        from audiolab.plots.voice import plot_bradley_terry, plot_win_rates

        bt = self.vl.ranking()
        table = readable(bt.to_frame(), digits=2).to_html(index=False)
        forest = png_tag(figure_png(plot_bradley_terry(bt)), alt="Bradley-Terry")
        heat = png_tag(figure_png(plot_win_rates(self.vl.ab.win_rates()).figure), alt="win rates")
        return w.HTML(f"<h4>Bradley–Terry ranking ({len(votes)} votes, 95% bootstrap CI)</h4>{table}"
                      f'<div style="display:flex;gap:8px">{forest}{heat}</div>')

    # ---- copy as code ---------------------------------------------------------------------

    def _on_copy(self, _button=None) -> None:
        self.code.value = self.vl.to_code()
        self.tabs.selected_index = 3
        insert_cell(self.code.value)

"""The ipywidgets face of :class:`~audiolab.widgets.transcript_lab.TranscriptLab`.

Sources (bundled samples, the Recorder with its upload and path fallbacks), settings, one card
per run (live text while streaming, coloured diff, WER/CER, latency, timeline), the results
table, and "copy as code". Work runs in a background thread; failures land in the error area.
"""

from __future__ import annotations

import ipywidgets as w

from audiolab.errors import AudiolabError
from audiolab.plots.table import readable, readable_value
from audiolab.widgets._background import describe_error, run_in_thread
from audiolab.widgets._render import audio_tag, error_box, esc, figure_png, png_tag

__all__ = ["TranscriptLabUI"]


class TranscriptLabUI:
    """Widgets bound to one TranscriptLab; ``.root`` is what the notebook shows."""

    def __init__(self, tl):
        from audiolab.widgets.recorder import Recorder
        from audiolab.widgets.transcript_lab import DIFF_LEGEND, stt_models

        self.tl = tl
        self.errors = w.HTML()
        self.samples = w.Dropdown(options=[("(choose a bundled clip)", None)] + _samples(),
                                  description="Sample", layout=w.Layout(width="30em"))
        self.samples.observe(self._on_sample, "value")
        self.recorder = tl.recorder or Recorder()
        if tl.recorder is None:
            self.recorder.on_take(lambda take: self._use(take, reference=None))
        else:  # the lab follows the recorder itself; the reference box and the results follow the lab
            self.recorder.on_take(lambda take: self._show_audio())
        self.preview = w.HTML()
        self.reference = w.Textarea(value=tl.reference or "", placeholder=_ASK_REFERENCE,
                                    layout=w.Layout(width="100%", height="4em"))
        try:
            models = stt_models(tl.lab)
        except Exception as exc:
            models = []
            self.errors.value = error_box(f"Could not list models: {describe_error(exc)}")
        models += [m for m in tl.models if m not in models]
        self.models = w.SelectMultiple(options=models, value=tuple(tl.models), rows=6, description="Models")
        self.prompts = w.Textarea(
            placeholder="prompts, one per line (blank: none)", layout=w.Layout(height="6em")
        )
        self.languages = w.Text(placeholder="e.g. en, fr (blank: auto)", description="Languages")
        self.temperatures = w.Text(placeholder="e.g. 0, 0.4 (blank: default)", description="Temperatures")
        self.stream = w.Checkbox(value=tl.stream, description="stream (text.delta)")
        self.go = w.Button(description="Transcribe", button_style="primary", icon="play")
        self.copy = w.Button(description="Copy as code", icon="code")
        self.code = w.Textarea(layout=w.Layout(width="100%", height="12em", display="none"))
        self.status = w.HTML()
        self.cards = w.VBox()
        self.table = w.HTML()
        self.go.on_click(self._on_go)
        self.copy.on_click(self._on_copy)
        settings = w.HBox(
            [self.models, self.prompts, w.VBox([self.languages, self.temperatures, self.stream])]
        )
        self.root = w.VBox([w.HTML("<b>Transcript Lab</b>"), self.samples, self.recorder.panel, self.preview,
                            self.reference, settings, w.HBox([self.go, self.copy, self.status]), self.errors,
                            w.HTML(DIFF_LEGEND), self.cards, self.table, self.code])
        if tl.transcripts:
            self._render_all()
        if tl.audio is not None:
            self._show_audio()

    # ---- sources --------------------------------------------------------------------------

    def _on_sample(self, change) -> None:
        if change["new"] is not None:
            utt = change["new"]
            self._use(utt.audio, reference=utt.text)

    def _use(self, audio, *, reference) -> None:
        self.tl.set_audio(audio, reference=reference)
        self._show_audio()

    def _show_audio(self) -> None:
        """Show the lab's clip; its reference (or an empty box asking for one) replaces the last clip's."""
        a = self.tl.audio
        source = readable_value(a.source) if a.source else ""  # a file name and span, not an internal path
        self.preview.value = f"{audio_tag(a)}<small>{a.duration:.2f} s · {a.sr} Hz · {esc(source)}</small>"
        self.reference.value = self.tl.reference or ""
        self.status.value = "" if self.tl.reference else f"<small>{_ASK_REFERENCE}</small>"
        if self.tl.stale:  # the cards and table score the previous clip
            self._grey()

    def _grey(self, pending=()) -> None:
        """Grey out the shown results; each run in ``pending`` gets a progress bar over its old card."""
        old = {label: card.value for label, card in getattr(self, "_cards", {}).items()}
        cards = {label: w.HTML(_stale(html)) for label, html in old.items()}
        for run in pending:
            head, body = self._card_head(run), old.get(run.label, "")
            if body.startswith(_STALE):
                body = body[len(_STALE):-len("</div>")]
            body = body[len(head):-len("</div>")] if body.startswith(head) else ""  # the old card, sans title
            cards[run.label] = w.HTML(head + _PROGRESS + _stale(body) + "</div>")
        if pending:
            cards = {r.label: cards[r.label] for r in pending}
        self._cards = cards
        self.cards.children = list(cards.values())
        self.table.value = _stale(self.table.value)

    # ---- run ------------------------------------------------------------------------------

    def _apply(self) -> None:
        tl = self.tl
        tl.reference = self.reference.value.strip() or None
        tl.models = list(self.models.value)
        tl.prompts = [p.strip() for p in self.prompts.value.splitlines() if p.strip()] or [None]
        tl.languages = [x.strip() for x in self.languages.value.split(",") if x.strip()] or [None]
        try:
            tl.temperatures = [float(x) for x in self.temperatures.value.split(",") if x.strip()] or [None]
        except ValueError:
            raise AudiolabError(f"Temperatures must be numbers, got {self.temperatures.value!r}.") from None
        tl.stream = self.stream.value
        if not tl.models:
            raise AudiolabError("Pick at least one model.")
        if tl.audio is None:
            raise AudiolabError("No audio yet: pick a sample, record, upload, or load a path.")

    def _on_go(self, _button=None) -> None:
        try:
            self._apply()
        except AudiolabError as exc:
            self.errors.value = error_box(exc.message)
            return
        runs = self.tl.runs()
        self.errors.value, self.go.disabled = "", True
        self._grey(pending=runs)
        self.status.value = f"0 / {len(runs)}"
        done = []

        def update(result):
            if result.format != "stream" or result.latency_s == result.latency_s:  # final (latency set)
                done.append(result)
                self.status.value = f"{len(done)} / {len(runs)}"
            self._cards[result.run.label].value = self._card(
                result, final=result.latency_s == result.latency_s
            )

        async def job():
            await self.tl.arun(progress=False, on_update=update)
            self._render_all()

        run_in_thread(job, on_error=self._fail)

    def _fail(self, exc: BaseException) -> None:
        self.errors.value = error_box(describe_error(exc))
        self.go.disabled = False

    # ---- render ---------------------------------------------------------------------------

    @staticmethod
    def _card_head(run) -> str:
        style = "border-top:1px solid #d0d7de;margin-top:6px;padding-top:4px"
        return f'<div style="{style}"><b>{esc(run.label)}</b>'

    def _card(self, r, *, final: bool, timeline: bool = False) -> str:
        head = self._card_head(r.run)
        if r.error:
            return head + error_box(r.error) + "</div>"
        if not final:  # streaming: raw text as it arrives
            return head + f' <small>streaming…</small><div style="color:#0969da">{esc(r.text)}</div></div>'
        facts = [f"latency {r.latency_s * 1000:.0f} ms"]
        if r.ttft_s == r.ttft_s:
            facts.append(f"first text {r.ttft_s * 1000:.0f} ms")
        if r.score is not None:
            s = r.score
            facts.insert(0, f"WER {s.wer:.1%} · CER {s.cer:.1%} (S {s.substitutions} · D {s.deletions} · "
                            f"I {s.insertions})")
        facts.append(r.format)
        body = self.tl.diff(r) if self.tl.reference else esc(r.text)
        image = ""
        if timeline and (r.segments or r.words):
            image = png_tag(figure_png(self.tl.plot_timeline(r)), alt="timeline")
        return (
            head
            + f' <small>{" · ".join(facts)}</small><div style="line-height:1.8">{body}</div>{image}</div>'
        )

    def _render_all(self) -> None:
        results = self.tl.transcripts
        self._cards = {r.run.label: w.HTML() for r in results}
        for r in results:
            self._cards[r.run.label].value = self._card(r, final=True, timeline=True)
        self.cards.children = list(self._cards.values())
        df = self.tl.results.drop(columns=["text"])
        self.table.value = readable(df).to_html(index=False)
        if self.tl.errors:
            self.errors.value = error_box("\n".join(self.tl.errors))
        self.status.value = f"{sum(r.error is None for r in results)} / {len(results)} runs"
        self.go.disabled = False

    def _on_copy(self, _button=None) -> None:
        from audiolab.widgets._render import insert_cell

        self.code.value = self.tl.to_code()
        self.code.layout.display = ""
        insert_cell(self.code.value)


_ASK_REFERENCE = "what is said in this clip (optional: gives WER, CER and the word diff)"
_PROGRESS = ' <small>transcribing…</small><br><progress class="al-progress" style="width:12em"></progress>'


_STALE = '<div class="al-stale" style="opacity:.4;filter:grayscale(1)" title="earlier results">'


def _stale(html: str) -> str:
    """``html`` greyed out (once), as results of an earlier run or clip."""
    return html if not html or html.startswith(_STALE) else f"{_STALE}{html}</div>"


def _samples() -> list:
    """(label, utterance) pairs of the bundled real speech, or nothing if it is not installed."""
    try:
        from audiolab.eval.datasets import real_speech

        return [(f"{u.id}: {u.text[:50]}", u) for u in real_speech()]
    except (ImportError, OSError, AudiolabError):
        return []

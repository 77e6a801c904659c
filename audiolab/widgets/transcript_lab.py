"""Transcript Lab: transcribe one clip with several models and settings, side by side, and score them.

Each run (model × prompt × language × temperature) goes through
``lab.aclient.audio.transcriptions.create`` concurrently, asking for ``verbose_json`` with
word and segment timestamps; a model that refuses them (OpenAI's gpt-4o-transcribe family)
is asked again for ``json``, and remembered. With a reference text every run gets WER, CER and
S/D/I counts (:func:`audiolab.eval.metrics.score`: Whisper-normalised, jiwer-aligned) and a
coloured word diff (:func:`diff_html`). In streaming mode the ``transcript.text.delta``
events are shown as they arrive and the time to first text is measured.

Example:
    >>> import audiolab
    >>> from audiolab.eval.datasets import real_speech
    >>> from audiolab.widgets import TranscriptLab
    >>> utt = real_speech()[0]
    >>> tl = TranscriptLab(audiolab.connect("local"), utt.audio, reference=utt.text,   # doctest: +SKIP
    ...                    models=["whisper-base", "pocketsphinx"])
    >>> tl.run()[["label", "wer", "latency_s"]]                                         # doctest: +SKIP
    >>> tl                  # the interactive widget                                   # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import math
import os
import time
from dataclasses import dataclass, field

from audiolab.audio import Audio
from audiolab.errors import InvalidRequest
from audiolab.widgets._background import describe_error, run_sync, scoped_client
from audiolab.widgets._render import LabPanel, esc

__all__ = ["TranscriptLab", "RunSpec", "TranscriptResult", "diff_html", "stt_models", "DIFF_LEGEND"]

_UPLOAD_SR = 16000  # what STT models consume; keeps uploads far under OpenAI's 25 MB
_STYLE = {
    "equal": "",
    "substitute": "background:#fff1c2;border-bottom:2px solid #d4a72c",
    "insert": "background:#dafbe1;border-bottom:2px solid #2da44e",
    "delete": "background:#ffebe9;color:#82071e;text-decoration:line-through",
}
#: A one-line key to the colours of :func:`diff_html`.
DIFF_LEGEND = (
    '<small><span style="{substitute}">substituted</span> '
    '<span style="{insert}">inserted</span> <span style="{delete}">deleted</span></small>'
).format(**_STYLE)


def diff_html(reference: str, hypothesis: str, *, language: str = "en") -> str:
    """The hypothesis as HTML, each word marked against the reference (after normalisation).

    Substitutions show the hypothesis word with the reference word in its tooltip (``title``);
    deletions show the missing reference word struck through; insertions the extra word.
    Every marked word is a ``<span class="al-sub|al-ins|al-del">``, plain words ``al-ok``.

    Example:
        >>> diff_html("the cat sat", "the bat sat down").count('class="al-sub"')
        1
    """
    from audiolab.eval.metrics import word_diff

    out = []
    for op in word_diff(reference, hypothesis, language=language):
        kind = {"equal": "ok", "substitute": "sub", "insert": "ins", "delete": "del"}[op.op]
        word = op.ref if op.op == "delete" else op.hyp
        title = f' title="reference: {esc(op.ref)}"' if op.op == "substitute" else ""
        out.append(f'<span class="al-{kind}" style="{_STYLE[op.op]}"{title}>{esc(word)}</span>')
    return " ".join(out)


def stt_models(lab) -> list[str]:
    """Transcription model ids the backend lists, by :func:`audiolab.client.catalog.model_kind`."""
    from audiolab.client.catalog import served_models

    return served_models(lab, "stt")


def _default_models(lab) -> list[str]:
    ids = set(stt_models(lab))
    prefer = ("whisper-base", "pocketsphinx") if lab.backend == "local" else (
        "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "whisper-1")
    return [m for m in prefer if m in ids][:2] or sorted(ids)[:1]


@dataclass(frozen=True)
class RunSpec:
    """The settings of one column: model, and optional prompt, language and temperature."""

    model: str
    prompt: str | None = None
    language: str | None = None
    temperature: float | None = None

    @property
    def label(self) -> str:
        parts = [self.model]
        if self.language:
            parts.append(self.language)
        if self.temperature is not None:
            parts.append(f"T={self.temperature:g}")
        if self.prompt:
            parts.append(f"prompt “{self.prompt[:20]}{'…' if len(self.prompt) > 20 else ''}”")
        return " · ".join(parts)


@dataclass(frozen=True)
class TranscriptResult:
    """The outcome of one run: text, timing, timestamps, score, or the error."""

    run: RunSpec
    text: str = ""
    format: str = ""
    latency_s: float = math.nan
    ttft_s: float = math.nan
    segments: tuple = ()  # (start_s, end_s, text)
    words: tuple = ()  # (start_s, end_s, word)
    deltas: tuple = ()
    score: object = field(default=None, repr=False)
    error: str | None = None


class TranscriptLab(LabPanel):
    """Transcribe one clip with several models/prompts/languages/temperatures and compare.

    Args:
        lab: a connection (:func:`audiolab.connect`); default ``audiolab.connect()``.
        audio: an :class:`Audio`, a path, a :class:`~audiolab.widgets.Recorder` (its last take,
            followed as new takes come), or a dataset utterance (``.audio`` and ``.text``).
        reference: what is said, for WER/CER and the diff (default: the utterance's or clip's text).
        models: STT model ids; default two the backend lists (local: whisper-base, pocketsphinx).
        prompts, languages, temperatures: values to cross with the models (``None``: not sent).
        stream: ask for ``stream=True`` and record the ``transcript.text.delta`` events.
        concurrency: requests in flight at once.
        score_language: language of the reference, for the text normaliser.
    """

    def _build_ui(self):
        from audiolab.widgets._transcript_ui import TranscriptLabUI  # ipywidgets load when shown

        return TranscriptLabUI(self)

    def __init__(self, lab=None, audio=None, *, reference: str | None = None, models=None,
                 prompts=(None,), languages=(None,), temperatures=(None,), stream: bool = False,
                 concurrency: int = 4, score_language: str = "en"):
        if lab is None:
            import audiolab

            lab = audiolab.connect()
        self.lab = lab
        self.reference = reference
        self.recorder = None
        self.audio: Audio | None = None
        self._audio_code = "audio"
        self._results: list[TranscriptResult] = []
        #: True when the clip changed since the last run: :attr:`results` belong to another clip.
        self.stale = False
        if audio is not None:
            self.set_audio(audio, reference=reference)
        self.models = list(models) if models else _default_models(lab)
        self.prompts, self.languages = list(prompts) or [None], list(languages) or [None]
        self.temperatures = list(temperatures) or [None]
        self.stream, self.concurrency, self.score_language = stream, concurrency, score_language
        self._no_verbose: set[str] = set()
        self._no_stream: set[str] = set()
        self.errors: list[str] = []
        self._ui = None

    def set_audio(self, source, *, reference: str | None = None) -> Audio:
        """Use ``source`` (see the class doc) as the clip, with its own reference.

        The reference becomes ``reference``, else the clip's text (a dataset utterance's, or
        ``Audio.text``), else none: a new take is never scored against the previous clip's
        reference. The results of the last run are kept (:attr:`stale` until the next run).
        """
        if hasattr(source, "on_take") and hasattr(source, "audio"):  # a Recorder
            self.recorder = source
            source.on_take(lambda take: self.set_audio(take))
            if source.audio is None:
                return None
            clip, self._audio_code = source.audio, "recorder.audio"
        elif isinstance(source, Audio):
            clip = source
            self._audio_code = (
                f"Audio.from_file({source.source!r})"
                if source.source and os.path.exists(source.source)
                else "audio"
            )
        elif hasattr(source, "audio") and isinstance(source.audio, Audio):  # a dataset Utterance
            clip = source.audio
            reference = reference if reference is not None else getattr(source, "text", None)
            bundled = str(getattr(source, "source", "")).startswith("moonshine_voice/")
            self._audio_code = f"real_speech()[{source.id!r}].audio" if bundled else "utterance.audio"
        elif isinstance(source, (str, os.PathLike)):
            clip, self._audio_code = Audio.from_file(source), f"Audio.from_file({os.fspath(source)!r})"
        else:
            raise InvalidRequest(
                f"TranscriptLab cannot use a {type(source).__name__} as audio.", param="audio"
            )
        self.audio = clip
        self.reference = reference if reference is not None else (clip.text or None)
        self.stale = bool(self._results)
        return clip

    def runs(self) -> list[RunSpec]:
        """Every model × prompt × language × temperature, in display order."""
        return [
            RunSpec(m, p or None, lang or None, t)
            for m, p, lang, t in itertools.product(
                self.models, self.prompts, self.languages, self.temperatures
            )
        ]

    # ---- running ------------------------------------------------------------------------

    def run(self, *, progress: bool = True):
        """Transcribe with every run (blocking; fine inside Jupyter) and return :attr:`results`."""
        return run_sync(lambda: self.arun(progress=progress))

    async def arun(self, *, progress: bool = True, on_update=None):
        """:meth:`run` for async code; ``on_update(transcript)`` sees partial (streamed) and final results."""
        if self.audio is None:
            raise InvalidRequest(
                "Transcript Lab has no audio yet: pass audio= or record a take.", param="audio"
            )
        clip = self.audio.to_mono()
        wav = clip.resample(min(clip.sr, _UPLOAD_SR)).to_wav_bytes()
        runs = self.runs()
        bar = None
        if progress and on_update is None:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(runs), desc="Transcript Lab", leave=False)
        sem = asyncio.Semaphore(max(1, int(self.concurrency)))
        async with scoped_client(self.lab) as client:
            async def one(spec: RunSpec) -> TranscriptResult:
                result = self._scored(await self._transcribe(client, spec, wav, sem, on_update))
                if bar is not None:
                    bar.update(1)
                if on_update is not None:
                    on_update(result)
                return result

            self._results = list(await asyncio.gather(*(one(s) for s in runs)))
        self.stale = False
        if bar is not None:
            bar.close()
        self.errors = [f"{r.run.label}: {r.error}" for r in self._results if r.error]
        return self.results

    async def _transcribe(self, client, spec: RunSpec, wav: bytes, sem, on_update) -> TranscriptResult:
        import openai

        kw = {"model": spec.model}
        for name in ("prompt", "language", "temperature"):
            if getattr(spec, name) is not None:
                kw[name] = getattr(spec, name)
        create = client.audio.transcriptions.create
        async with sem:
            try:
                if self.stream and spec.model not in self._no_stream:
                    streamed = await self._stream(create, spec, kw, wav, on_update)
                    if streamed is not None:
                        return streamed
                    self._no_stream.add(spec.model)
                if spec.model not in self._no_verbose:
                    t0 = time.perf_counter()
                    try:
                        resp = await create(
                            file=("clip.wav", wav, "audio/wav"),
                            response_format="verbose_json",
                            timestamp_granularities=["word", "segment"],
                            **kw,
                        )
                        return _verbose(spec, resp, time.perf_counter() - t0)
                    except openai.BadRequestError as exc:
                        if exc.param not in ("response_format", "timestamp_granularities"):
                            raise
                        self._no_verbose.add(spec.model)  # e.g. gpt-4o-transcribe: json/text only
                t0 = time.perf_counter()
                resp = await create(file=("clip.wav", wav, "audio/wav"), response_format="json", **kw)
                return TranscriptResult(
                    run=spec, text=resp.text.strip(), format="json", latency_s=time.perf_counter() - t0
                )
            except Exception as exc:  # shown in the run's card and the error area
                return TranscriptResult(run=spec, error=describe_error(exc))

    async def _stream(self, create, spec, kw, wav, on_update) -> TranscriptResult | None:
        """A streamed run, or None when the model ignores ``stream`` (whisper-1 answers plain JSON)."""
        t0 = time.perf_counter()
        stream = await create(file=("clip.wav", wav, "audio/wav"), response_format="json", stream=True, **kw)
        deltas, text, ttft = [], None, math.nan
        async for event in stream:
            if event.type == "transcript.text.delta":
                if not deltas:
                    ttft = time.perf_counter() - t0
                deltas.append(event.delta)
                if on_update is not None:
                    on_update(
                        TranscriptResult(
                            run=spec, text="".join(deltas), format="stream", deltas=tuple(deltas)
                        )
                    )
            elif event.type == "transcript.text.done":
                text = event.text
        if text is None and not deltas:
            return None
        return TranscriptResult(
            run=spec,
            text=(text if text is not None else "".join(deltas)).strip(),
            format="stream",
            latency_s=time.perf_counter() - t0,
            ttft_s=ttft,
            deltas=tuple(deltas),
        )

    def _scored(self, result: TranscriptResult) -> TranscriptResult:
        if result.error or not self.reference:
            return result
        from audiolab.eval.metrics import score

        return dataclasses.replace(
            result, score=score(self.reference, result.text, language=self.score_language, n_boot=0)
        )

    # ---- results ------------------------------------------------------------------------

    @property
    def transcripts(self) -> list[TranscriptResult]:
        """The results of the last run, one per :class:`RunSpec`."""
        return list(self._results)

    @property
    def results(self):
        """One row per run: settings, text, WER, CER, S/D/I, latency, TTFT, RTFx, timestamps, error."""
        import pandas as pd

        audio_s = self.audio.duration if self.audio is not None else math.nan
        rows = []
        for r in self._results:
            s = r.score
            rows.append(
                {
                    "label": r.run.label,
                    "model": r.run.model,
                    "prompt": r.run.prompt,
                    "language": r.run.language,
                    "temperature": r.run.temperature,
                    "format": r.format,
                    "text": r.text,
                    "wer": s.wer if s else math.nan,
                    "cer": s.cer if s else math.nan,
                    "substitutions": s.substitutions if s else None,
                    "deletions": s.deletions if s else None,
                    "insertions": s.insertions if s else None,
                    "ref_words": s.ref_words if s else None,
                    "latency_s": r.latency_s,
                    "ttft_s": r.ttft_s,
                    "rtfx": audio_s / r.latency_s if r.latency_s and r.latency_s > 0 else math.nan,
                    "segments": len(r.segments),
                    "words": len(r.words),
                    "error": r.error,
                }
            )
        return pd.DataFrame(
            rows,
            columns=[
                "label",
                "model",
                "prompt",
                "language",
                "temperature",
                "format",
                "text",
                "wer",
                "cer",
                "substitutions",
                "deletions",
                "insertions",
                "ref_words",
                "latency_s",
                "ttft_s",
                "rtfx",
                "segments",
                "words",
                "error",
            ],
        )

    def diff(self, result: TranscriptResult | int = 0) -> str:
        """The coloured word diff (HTML) of one result against the reference."""
        result = self._results[result] if isinstance(result, int) else result
        if not self.reference:
            return esc(result.text)
        return diff_html(self.reference, result.text, language=self.score_language)

    def plot_timeline(self, result: TranscriptResult | int = 0, *, ax=None):
        """Waveform with the run's segments and words under it (:func:`audiolab.plots.plot_timeline`)."""
        from audiolab.plots.audio import plot_timeline

        result = self._results[result] if isinstance(result, int) else result
        words = [{"start": s, "end": e, "word": w} for s, e, w in result.words]
        segments = [{"start": s, "end": e, "text": t} for s, e, t in result.segments]
        return plot_timeline(self.audio, words=words or None, segments=segments or None, ax=ax)

    # ---- copy as code -------------------------------------------------------------------

    def to_code(self) -> str:
        """The equivalent ``client.audio.transcriptions.create(...)`` calls, as a runnable cell."""
        lines = ["import audiolab", "from audiolab.audio import Audio", "",
                 f"client = audiolab.connect({self.lab.backend!r}).client"]
        if self._audio_code.startswith("real_speech"):
            lines[2:2] = ["from audiolab.eval.datasets import real_speech"]
            lines.append(f"audio = {self._audio_code}")
        elif self._audio_code.startswith("Audio.from_file"):
            lines.append(f"audio = {self._audio_code}")
        else:
            lines.append(f"# audio = ...  an Audio ({self._audio_code} in the lab)")
        lines += ["wav = audio.to_mono().resample(16000).to_wav_bytes()", "results = {}"]
        for spec in self.runs():
            args = [f"model={spec.model!r}", 'file=("clip.wav", wav)']
            streams = self.stream and spec.model not in self._no_stream
            if streams:
                args += ['response_format="json"', "stream=True"]
            elif spec.model in self._no_verbose:
                args.append('response_format="json"')
            else:
                args += ['response_format="verbose_json"', 'timestamp_granularities=["word", "segment"]']
            args += [f"{k}={getattr(spec, k)!r}" for k in ("prompt", "language", "temperature")
                     if getattr(spec, k) is not None]
            call = f"client.audio.transcriptions.create({', '.join(args)})"
            if streams:  # the deltas arrive as events; keep the final text
                call = f"next(e for e in {call} if e.type == 'transcript.text.done')"
            lines.append(f"results[{spec.label!r}] = {call}")
        if self.reference:
            lines += ["", "from audiolab.eval.metrics import score",
                      f"reference = {self.reference!r}",
                      "for label, r in results.items():", "    print(label, score(reference, r.text).wer)"]
        return "\n".join(lines) + "\n"


def _verbose(spec: RunSpec, resp, latency: float) -> TranscriptResult:
    segments = tuple((float(s.start), float(s.end), s.text.strip()) for s in (resp.segments or ()))
    words = tuple((float(w.start), float(w.end), w.word.strip()) for w in (resp.words or ()))
    return TranscriptResult(run=spec, text=resp.text.strip(), format="verbose_json", latency_s=latency,
                      segments=segments, words=words)

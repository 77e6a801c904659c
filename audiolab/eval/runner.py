"""Run every clip × model × condition through a transcription endpoint and score it.

:func:`evaluate` sends each (possibly degraded) clip to ``audio.transcriptions.create`` through
the official ``openai`` SDK (``AsyncOpenAI``), at most ``concurrency`` requests at a time,
retrying 429s, 5xx, timeouts and connection errors with exponential backoff (honouring
``retry-after``). Every finished cell is checkpointed, so an interrupted run resumes where it
stopped: in memory for the session, and on disk as JSON lines when ``cache_dir`` is given.
Failed cells are not cached: a re-run retries them.

The result is a tidy pandas DataFrame, one row per clip × model × condition, scored with
:func:`audiolab.eval.metrics.score` (Whisper normaliser, jiwer). Summarise it with
:func:`audiolab.eval.metrics.summarize` and plot it with :mod:`audiolab.plots`.

Example:
    >>> import audiolab
    >>> from audiolab.eval import datasets, perturb, runner
    >>> lab = audiolab.connect("local")                                        # doctest: +SKIP
    >>> df = runner.evaluate(lab, datasets.real_speech(), models=["whisper-1"],
    ...                      conditions=perturb.conditions(noise=("white",)))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import random
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from audiolab.eval.datasets import Dataset, Utterance, synthetic_speech
from audiolab.eval.metrics import score
from audiolab.eval.perturb import CLEAN, Condition

__all__ = ["evaluate", "aevaluate", "round_trip", "COLUMNS", "cell_key", "clear_memory_cache"]

COLUMNS = ["clip_id", "model", "condition", "reference", "hypothesis", "wer", "substitutions", "deletions",
           "insertions", "hits", "ref_words", "audio_seconds", "latency_s", "cost_usd", "synthetic", "error",
           "speaker", "noise", "snr_db", "cached", "rtfx"]

_MEMORY: dict[str, dict] = {}
_CACHE_FILE = "cells.jsonl"


def clear_memory_cache() -> None:
    """Forget the cells finished in this session (the on-disk cache is untouched)."""
    _MEMORY.clear()


def _audio_digest(utt: Utterance) -> str:
    h = hashlib.sha1(np.ascontiguousarray(utt.audio.samples).tobytes())
    h.update(str(utt.audio.sr).encode())
    return h.hexdigest()


def cell_key(*, backend: str, clip_id: str, audio_digest: str, model: str, condition: Condition,
             language: str | None, upload_sr: int | None, transcribe_kw: dict) -> str:
    """The cache key of one cell: a hash of everything that changes its hypothesis."""
    blob = json.dumps({"backend": backend, "clip": clip_id, "audio": audio_digest, "model": model,
                       "condition": condition.key, "language": language, "upload_sr": upload_sr,
                       "kw": transcribe_kw}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _cost(lab: Any, backend: str, model: str, seconds: float) -> float:
    """Estimated USD for ``seconds`` of audio, from the lab's price table (NaN when unknown)."""
    from audiolab.client.pricing import load_prices

    table = getattr(lab, "prices", None) or load_prices()
    return table.cost(backend=backend, model=model, quantities={"minutes": seconds / 60.0}).usd


def _retryable(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, (openai.RateLimitError, openai.APIConnectionError)):  # includes APITimeoutError
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    try:
        return float(response.headers.get("retry-after")) if response is not None else None
    except (TypeError, ValueError):
        return None


class _DiskCache:
    """Append-only JSON lines; a torn last line (an interrupted write) is skipped on load."""

    def __init__(self, cache_dir: str | Path | None):
        self.path = None if cache_dir is None else Path(cache_dir) / _CACHE_FILE
        self.cells: dict[str, dict] = {}
        self._torn = False
        if self.path is not None and self.path.exists():
            text = self.path.read_text(encoding="utf-8")
            self._torn = bool(text) and not text.endswith("\n")  # the next record must start a new line
            for line in text.splitlines():
                try:
                    rec = json.loads(line)
                    self.cells[rec["key"]] = rec
                except (ValueError, KeyError):
                    continue

    def get(self, key: str) -> dict | None:
        return _MEMORY.get(key) or self.cells.get(key)

    def put(self, rec: dict) -> None:
        _MEMORY[rec["key"]] = rec
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            clean = {
                k: (None if isinstance(v, float) and v != v else v) for k, v in rec.items()
            }  # NaN -> null
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(("\n" if self._torn else "") + json.dumps(clean) + "\n")
            self._torn = False


def _client(lab: Any):
    """A client with its own connection pool (safe on this event loop) and no SDK retries (we retry)."""
    fresh = getattr(lab, "fresh_aclient", None)
    if fresh is not None:  # an audiolab Lab: keeps its history, response cache and replay mode
        return fresh().with_options(max_retries=0), True
    return lab.aclient, False


async def aevaluate(lab: Any, dataset: Dataset | Sequence[Utterance], *, models: Sequence[str],
                    conditions: Sequence[Condition] | None = None, concurrency: int = 4,
                    language: str | None = "en", cache_dir: str | Path | None = None, progress: bool = True,
                    retries: int = 3, upload_sr: int | None = 16_000, backoff_s: float = 0.5,
                    _stop: threading.Event | None = None, **transcribe_kw: Any):
    """Async :func:`evaluate`, for code already inside an event loop (``await aevaluate(...)``)."""
    import pandas as pd

    utts = list(dataset)
    conds = list(conditions) if conditions else [CLEAN]
    backend = str(getattr(lab, "backend", "unknown"))
    cache = _DiskCache(cache_dir)
    digests = {u.id: _audio_digest(u) for u in utts}
    api_kw = dict(transcribe_kw)
    if language:
        api_kw.setdefault("language", language)
    cells = [(u, m, c, cell_key(backend=backend, clip_id=u.id, audio_digest=digests[u.id], model=m,
                                condition=c, language=language, upload_sr=upload_sr, transcribe_kw=api_kw))
             for c in conds for m in models for u in utts]
    results: dict[str, dict] = {}
    todo = []
    for cell in cells:
        hit = cache.get(cell[3])
        if hit is not None:
            results[cell[3]] = {**hit, "cached": True}
        else:
            todo.append(cell)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(cells), initial=len(cells) - len(todo), desc="evaluate", unit="cell")
    client, own = _client(lab) if todo else (None, False)
    sem = asyncio.Semaphore(max(1, int(concurrency)))
    prepared: dict[tuple[str, str], asyncio.Future] = {}
    uses: dict[tuple[str, str], int] = {}
    for u, _, c, _ in todo:
        uses[(u.id, c.key)] = uses.get((u.id, c.key), 0) + 1

    async def upload_bytes(utt: Utterance, cond: Condition) -> tuple[bytes, float]:
        """The degraded clip as wav, computed once per (clip, condition) and freed after its last model."""
        key = (utt.id, cond.key)
        if key not in prepared:
            def work():
                clip = cond(utt.audio)
                if upload_sr:
                    clip = clip.to_mono().resample(min(upload_sr, clip.sr))
                return clip.to_wav_bytes(), clip.duration
            prepared[key] = asyncio.ensure_future(asyncio.to_thread(work))
        try:
            return await prepared[key]
        finally:
            uses[key] -= 1
            if not uses[key]:
                del prepared[key]

    async def run(utt: Utterance, model: str, cond: Condition, key: str) -> None:
        rec = {"key": key, "clip_id": utt.id, "model": model, "condition": cond.name}
        try:
            async with sem:  # also bounds how many degraded clips are held in memory
                wav, seconds = await upload_bytes(utt, cond)
                rec["audio_seconds"] = seconds
                for attempt in range(retries + 1):
                    if _stop is not None and _stop.is_set():
                        raise asyncio.CancelledError
                    t0 = time.perf_counter()
                    try:
                        resp = await client.audio.transcriptions.create(
                            model=model, file=("clip.wav", wav, "audio/wav"), **api_kw)
                    except Exception as exc:  # classified below
                        if attempt < retries and _retryable(exc):
                            wait = _retry_after(exc) or backoff_s * 2**attempt * (1 + 0.25 * random.random())
                            await asyncio.sleep(wait)
                            continue
                        raise
                    rec["latency_s"] = time.perf_counter() - t0
                    break
            rec["hypothesis"] = resp if isinstance(resp, str) else getattr(resp, "text", str(resp))
            rec["cost_usd"] = _cost(lab, backend, model, seconds)
            cache.put(rec)
            rec = {**rec, "cached": False}
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one failed cell must not end the run
            rec.update(error=f"{type(exc).__name__}: {exc}", cached=False)
        results[key] = rec
        if bar is not None:
            bar.update(1)

    # Run the models of one (clip, condition) back to back, so its degraded audio is made once
    # and dropped soon; rows still come out ordered by condition, model, clip.
    order = {(u.id, c.key): i for i, (c, u) in enumerate((c, u) for c in conds for u in utts)}
    todo.sort(key=lambda cell: order[(cell[0].id, cell[2].key)])
    try:
        await asyncio.gather(*(run(*cell) for cell in todo))
    finally:
        if bar is not None:
            bar.close()
        if own:
            await client.close()

    rows = [_row(u, m, c, results.get(k, {"error": "not run"})) for u, m, c, k in cells]
    _score_rows(rows, language)
    return pd.DataFrame(rows, columns=COLUMNS)


def _num(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _row(utt: Utterance, model: str, cond: Condition, rec: dict) -> dict:
    row = {"clip_id": utt.id, "model": model, "condition": cond.name, "reference": utt.text,
           "hypothesis": rec.get("hypothesis"), "audio_seconds": rec.get("audio_seconds", utt.audio.duration),
           "latency_s": _num(rec.get("latency_s")), "cost_usd": _num(rec.get("cost_usd")),
           "synthetic": utt.synthetic, "error": rec.get("error"), "speaker": utt.speaker,
           "noise": cond.params.get("kind"), "snr_db": cond.params.get("snr_db", np.nan),
           "cached": rec.get("cached", False),
           "wer": np.nan, "substitutions": 0, "deletions": 0, "insertions": 0, "hits": 0, "ref_words": 0}
    latency = row["latency_s"]
    # RTFx: audio seconds per second of request time
    row["rtfx"] = row["audio_seconds"] / latency if latency and latency > 0 else np.nan
    return row


def _score_rows(rows: list[dict], language: str | None) -> None:
    """Fill per-row WER and S/D/I from one batched alignment (one jiwer call for all cells)."""
    ok = [r for r in rows if r["error"] is None and r["hypothesis"] is not None]
    if not ok:
        return
    s = score([r["reference"] for r in ok], [r["hypothesis"] for r in ok], language=language or "en",
              n_boot=0, with_cer=False)
    for r, (sub, dele, ins, hits), n in zip(ok, s.utterance_counts, s.utterance_ref_words):
        r.update(
            wer=(sub + dele + ins) / n if n else np.nan,
            substitutions=sub,
            deletions=dele,
            insertions=ins,
            hits=hits,
            ref_words=n,
        )


def evaluate(lab: Any, dataset: Dataset | Sequence[Utterance], *, models: Sequence[str],
             conditions: Sequence[Condition] | None = None, concurrency: int = 4, language: str | None = "en",
             cache_dir: str | Path | None = None, progress: bool = True, retries: int = 3,
             upload_sr: int | None = 16_000, backoff_s: float = 0.5, **transcribe_kw: Any):
    """Transcribe every clip × model × condition and score it; resumes from finished cells.

    Works in a script and in Jupyter: when an event loop is already running in this thread,
    the run happens on a worker thread with its own loop.

    Args:
        lab: a connection with ``.aclient`` (``openai.AsyncOpenAI``) and ``.backend``
            (``"local"``, ``"openai"`` or a URL), as from :func:`audiolab.connect`.
        dataset: a :class:`~audiolab.eval.datasets.Dataset` (or a list of utterances).
        models: transcription model ids, e.g. ``["whisper-1", "gpt-4o-mini-transcribe"]``.
        conditions: :class:`~audiolab.eval.perturb.Condition` list (default: clean only).
        concurrency: requests in flight at once.
        language: sent as the API's ``language`` and used to pick the text normaliser; ``None``
            lets the model detect it.
        cache_dir: folder for the on-disk checkpoint (``cells.jsonl``); ``None`` keeps it in
            memory for this session only.
        progress: show a tqdm bar.
        retries: retries per request on 429, 5xx, timeouts and connection errors.
        backoff_s: first retry delay; it doubles each attempt (with jitter) unless the server
            sends ``retry-after``.
        upload_sr: resample uploads to this rate (default 16000, what Whisper uses; ``None``
            keeps the clip's rate).
        **transcribe_kw: passed to ``audio.transcriptions.create`` (``prompt``, ``temperature``...).

    Returns:
        A DataFrame with one row per cell: clip_id, model, condition, reference, hypothesis,
        wer, substitutions, deletions, insertions, hits, ref_words, audio_seconds, latency_s,
        cost_usd (0 on the local backend, a list-price estimate on OpenAI, NaN when unknown),
        synthetic, error (``None`` when the cell succeeded), speaker, noise, snr_db, cached, and
        rtfx (audio seconds per second of request time; NaN for failed cells).

    Example:
        >>> df = evaluate(lab, real_speech(), models=["whisper-1"])   # doctest: +SKIP
        >>> summarize(df)                                             # doctest: +SKIP
    """
    kw = dict(models=models, conditions=conditions, concurrency=concurrency, language=language,
              cache_dir=cache_dir, progress=progress, retries=retries, upload_sr=upload_sr,
              backoff_s=backoff_s, **transcribe_kw)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(aevaluate(lab, dataset, **kw))
    stop = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(asyncio.run, aevaluate(lab, dataset, _stop=stop, **kw))
        try:
            return future.result()
        except KeyboardInterrupt:
            stop.set()  # finished cells are already checkpointed; the rest stop before their next request
            raise


def round_trip(lab: Any, texts: Sequence[str] | None = None, *, voices: Sequence[str] | None = None,
               tts_model: str | None = None, judges: Sequence[str] = ("whisper-1",), **evaluate_kw: Any):
    """TTS intelligibility: speak ``texts`` in each voice, transcribe with judge models, score.

    A voice is as intelligible as the judges' WER on it; use more than one judge so that one
    ASR model's quirks do not decide. Every row is ``synthetic=True``.

    Returns:
        The :func:`evaluate` frame plus ``voice`` and ``tts_model`` columns; summarise with
        ``summarize(df, by=["voice", "model"])``.

    Example:
        >>> df = round_trip(lab, voices=["alloy", "coral"], judges=["whisper-1"])   # doctest: +SKIP
    """
    ds = synthetic_speech(lab, texts, voices, tts_model)
    df = evaluate(lab, ds, models=list(judges), **evaluate_kw)
    meta = {u.id: u.meta for u in ds}
    df.insert(1, "voice", [meta[c]["voice"] for c in df["clip_id"]])
    df.insert(2, "tts_model", [meta[c]["model"] for c in df["clip_id"]])
    return df

"""Explicit server settings: one object, built once and passed into ``create_app(settings)``.

Nothing in the server reads ``os.environ`` on its own: :meth:`Settings.from_env` is the single
place where ``AUDIOLAB_*`` variables are read, and only when the caller asks for it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Settings", "LOOPBACK_HOSTS"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_ENV_PREFIX = "AUDIOLAB_"


def _default_response_cache_dir() -> Path:
    """Where finished responses are kept when no one says: ``AUDIOLAB_RESPONSE_CACHE_DIR`` if set
    (the test suite gives each run its own, so no run answers from another's results), else
    ``~/.cache/audiolab-responses``. Read here, with the other variables, never deeper in."""
    raw = os.environ.get(_ENV_PREFIX + "RESPONSE_CACHE_DIR")
    return Path(raw).expanduser() if raw else Path.home() / ".cache" / "audiolab-responses"


_STT_FIELDS = {"stt_budget_s": float, "stt_budget_rtf": float, "stt_max_fallbacks": int,
               "stt_vad": lambda raw: raw.strip().lower() not in ("0", "false", "no", "off", "")}


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "audiolab"


@dataclass(frozen=True)
class Settings:
    """How the local backend runs.

    Args:
        host: interface to bind. Anything but loopback requires ``api_key``.
        port: TCP port; 0 picks a free one.
        api_key: when set, every request must carry ``Authorization: Bearer <api_key>``.
        cors_origins: origins allowed by CORS; empty (the default) turns CORS off.
        max_upload_bytes: largest accepted upload (OpenAI's limit is 25 MB).
        max_concurrency: engine jobs that run at once (at most ``cpu_threads``).
        max_queue: jobs that may wait for a slot; past it requests get 429 with ``retry-after``.
        max_queue_per_client: jobs one client (API token and address) may have waiting; past it
            that client gets 429, so that one loop cannot fill the queue for everyone.
        cpu_threads: the CPU budget of all engines together (``AUDIOLAB_CPU_THREADS``); 0 means
            ``os.cpu_count()``. Each engine computes with :attr:`job_threads` threads and the job
            runner admits :attr:`concurrency` jobs at once, so the engines never use more threads
            than this, whichever of them run together.
        cache_dir: where model weights assembled from packages are kept (never request data).
        audio_ttl_s: how long chat audio outputs stay referable by id.
        preload: model ids to load at start-up instead of on first use.
        stt_budget_s, stt_budget_rtf: a transcription or translation may decode for at most
            ``stt_budget_s + stt_budget_rtf * audio seconds``; past it the request ends with the
            text decoded so far, marked partial (``x-audiolab-partial`` header).
        stt_max_fallbacks: Whisper's temperature fallback retries per 30 s window (OpenAI's
            reference decoder retries up to 5 times); fewer retries bound the work on hard input.
        stt_vad: cut uploads into speech chunks with Silero VAD before decoding, so that silence,
            noise and music cost almost nothing (``AUDIOLAB_STT_VAD=0`` decodes everything).
        response_cache: share identical deterministic requests: concurrent ones compute once,
            finished ones are kept on disk (``AUDIOLAB_RESPONSE_CACHE=0`` turns both off).
        response_cache_mb: bound of the on-disk response cache (LRU); 0 keeps nothing on disk
            and still shares concurrent identical requests.
        response_cache_dir: where finished responses are kept (request data: not ``cache_dir``).
        share_speech: whether speech from engines that are not bit-exact is shared. Piper draws
            VITS noise from onnxruntime's unseeded generator and eSpeak NG keeps state between
            calls, so their renditions differ slightly from run to run: sharing them means one
            rendition answers identical requests, as a recording would. ``False`` synthesizes
            each such request anew; a bit-exact engine (Kokoro) is shared either way.

    Example:
        >>> Settings(port=0).host
        '127.0.0.1'
    """

    host: str = "127.0.0.1"
    port: int = 0
    api_key: str | None = field(default=None, repr=False)
    cors_origins: tuple[str, ...] = ()
    max_upload_bytes: int = 25 * 1024 * 1024
    max_concurrency: int = 2
    max_queue: int = 64
    max_queue_per_client: int = 16
    cpu_threads: int = 0
    cache_dir: Path = field(default_factory=_default_cache_dir)
    audio_ttl_s: float = 3600.0
    preload: tuple[str, ...] = ()
    log_level: str = "warning"
    stt_budget_s: float = 30.0
    stt_budget_rtf: float = 2.0  # headroom for a busy classroom box; runaway decodes ran at ~9x
    stt_max_fallbacks: int = 2
    stt_vad: bool = True
    response_cache: bool = True
    response_cache_mb: float = 256.0
    response_cache_dir: Path = field(default_factory=_default_response_cache_dir)
    share_speech: bool = True

    @property
    def cpu_budget(self) -> int:
        """Threads all engines may use together: ``cpu_threads``, or the machine's cores."""
        return max(1, self.cpu_threads or os.cpu_count() or 1)

    @property
    def concurrency(self) -> int:
        """Engine jobs admitted at once: ``max_concurrency``, capped by the CPU budget."""
        return max(1, min(self.max_concurrency, self.cpu_budget))

    @property
    def job_threads(self) -> int:
        """Threads one engine job computes with (ctranslate2, llama.cpp, onnxruntime intra-op)."""
        return max(1, self.cpu_budget // self.concurrency)

    @property
    def is_loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS

    def replace(self, **changes) -> Settings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> Settings:
        """Settings from ``AUDIOLAB_*`` variables (e.g. ``AUDIOLAB_PORT``), then ``overrides``."""
        env = os.environ if environ is None else environ
        values: dict = {}
        for f in dataclasses.fields(cls):
            raw = env.get(_ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            if f.name in _STT_FIELDS:
                values[f.name] = _STT_FIELDS[f.name](raw)
                continue
            if f.name in ("port", "max_upload_bytes", "max_concurrency", "max_queue",
                          "max_queue_per_client", "cpu_threads"):
                values[f.name] = int(raw)
            elif f.name in ("response_cache", "share_speech"):
                values[f.name] = raw.strip().lower() not in ("0", "false", "no", "off", "")
            elif f.name in ("audio_ttl_s", "response_cache_mb"):
                values[f.name] = float(raw)
            elif f.name in ("cors_origins", "preload"):
                values[f.name] = tuple(s.strip() for s in raw.split(",") if s.strip())
            elif f.name in ("cache_dir", "response_cache_dir"):
                values[f.name] = Path(raw).expanduser()
            else:
                values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

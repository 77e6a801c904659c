"""A content-addressed disk cache of responses, for repeatable runs and offline classroom replay.

The key of a request is the SHA-256 of its endpoint, its canonical parameters and the SHA-256 of
each uploaded file (see :meth:`audiolab.client.wire.WireRequest.canonical`); request headers, and so
the API key, are never part of a key or an entry. Modes:

- ``"off"``: no cache;
- ``"readwrite"``: serve hits, fetch and store misses (the default of eval runs);
- ``"replay"``: serve hits and never touch the network; a miss raises
  :class:`~audiolab.errors.CacheMiss` naming the request.

A teacher records a lesson once (``connect(cache="readwrite", cache_dir="lesson-cache")``),
ships the folder, and students run it with ``cache="replay"`` and no key.

One entry is one file, ``<dir>/<key[:2]>/<key>.entry``: a magic line, a JSON header (status,
a few response headers, chunk sizes, body length and SHA-256) and the body bytes. Writes go to a
temporary file in the same folder and are renamed into place (``os.replace``), so concurrent
writers, threads or processes, never leave a half-written entry. Every read checks the body
hash; a corrupt entry is reported (:class:`CacheCorruptWarning`) and treated as a miss, never
returned. Streaming responses are stored as their full byte sequence with their chunk sizes,
and replayed as a stream of the same chunks.

Example:
    >>> import tempfile
    >>> cache = ResponseCache(tempfile.mkdtemp(), mode="readwrite")
    >>> key = cache.store("ab" * 32, status=200, headers={"content-type": "audio/wav"},
    ...                   chunks=[b"RIFF", b"data"], request="POST audio/speech").key
    >>> cache.load(key).body
    b'RIFFdata'
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from audiolab.errors import CacheMiss, InvalidRequest

__all__ = ["ResponseCache", "CachedResponse", "CacheCorruptWarning", "MODES", "cache_key"]

log = logging.getLogger("audiolab.client.cache")

MODES = ("off", "readwrite", "replay")
_MAGIC = b"AUDIOLAB-CACHE 1\n"
#: Response headers worth keeping; everything else (cookies, org ids, …) is dropped.
_KEEP_HEADERS = ("content-type", "content-encoding", "x-request-id", "openai-model",
                 "openai-processing-ms", "openai-version", "x-audiolab-engine")
#: Statuses worth replaying: successes and deterministic client errors (not auth, not 429, not 5xx).
CACHEABLE_STATUS = frozenset(range(200, 300)) | {400, 404, 413, 415, 422}


class CacheCorruptWarning(UserWarning):
    """A cache entry failed its check (truncated, edited, wrong hash) and was not used."""


def cache_key(canonical: str) -> str:
    """The key of a request: SHA-256 of its canonical text."""
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedResponse:
    """A stored response: status, kept headers, and the body as its original chunks."""

    key: str
    status: int
    headers: Mapping[str, str]
    chunks: tuple[bytes, ...] = field(repr=False)
    meta: Mapping = field(default_factory=dict, repr=False)

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


class ResponseCache:
    """A folder of recorded responses.

    Args:
        directory: the cache folder (created on first write).
        mode: ``"off"``, ``"readwrite"`` or ``"replay"``.

    Raises:
        InvalidRequest: an unknown mode.
    """

    def __init__(self, directory: str | os.PathLike, *, mode: str = "readwrite"):
        if mode not in MODES:
            raise InvalidRequest(
                f"Unknown cache mode {mode!r}; use one of {', '.join(MODES)}.", param="cache"
            )
        self.directory = Path(directory).expanduser().resolve()
        self.mode = mode

    @property
    def reads(self) -> bool:
        return self.mode in ("readwrite", "replay")

    @property
    def writes(self) -> bool:
        return self.mode == "readwrite"

    def path_for(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.entry"

    # --- read -----------------------------------------------------------------------------
    def load(self, key: str) -> CachedResponse | None:
        """The verified entry for ``key``, or None (missing, or corrupt: then a warning)."""
        path = self.path_for(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._corrupt(path, f"unreadable ({exc})")
            return None
        try:
            return self._parse(key, raw)
        except (ValueError, KeyError, TypeError) as exc:
            self._corrupt(path, str(exc))
            return None

    def is_corrupt(self, key: str) -> bool:
        """Whether an entry exists for ``key`` but fails its check (no warning)."""
        path = self.path_for(key)
        if not path.exists():
            return False
        try:
            self._parse(key, path.read_bytes())
            return False
        except (ValueError, KeyError, TypeError, OSError):
            return True

    @staticmethod
    def _parse(key: str, raw: bytes) -> CachedResponse:
        if not raw.startswith(_MAGIC):
            raise ValueError("not an audiolab cache entry")
        head_end = raw.index(b"\n", len(_MAGIC))
        header = json.loads(raw[len(_MAGIC):head_end])
        body = raw[head_end + 1:]
        if header["key"] != key:
            raise ValueError("entry holds another key")
        if len(body) != header["body_len"]:
            raise ValueError(f"body is {len(body)} bytes, expected {header['body_len']}")
        if hashlib.sha256(body).hexdigest() != header["body_sha256"]:
            raise ValueError("body hash mismatch")
        sizes = header.get("chunks") or [len(body)]
        if sum(sizes) != len(body):
            raise ValueError("chunk sizes do not add up")
        chunks, pos = [], 0
        for n in sizes:
            chunks.append(body[pos:pos + n])
            pos += n
        return CachedResponse(key, int(header["status"]), dict(header.get("headers") or {}),
                              tuple(chunks), header)

    def _corrupt(self, path: Path, reason: str) -> None:
        msg = f"audiolab cache entry {path} is corrupt ({reason}); it was not used and will be refetched."
        log.warning(msg)
        warnings.warn(msg, CacheCorruptWarning, stacklevel=3)

    # --- write ----------------------------------------------------------------------------
    def store(self, key: str, *, status: int, headers: Mapping[str, str], chunks: Sequence[bytes],
              request: str = "", meta: Mapping | None = None) -> CachedResponse:
        """Write an entry atomically (temporary file + ``os.replace``) and return it.

        Only the headers in a short allow-list are kept; request headers are never stored.
        """
        chunks = tuple(bytes(c) for c in chunks if c)
        body = b"".join(chunks)
        kept = {k.lower(): v for k, v in headers.items() if k.lower() in _KEEP_HEADERS}
        header = {
            "key": key,
            "status": int(status),
            "headers": kept,
            "chunks": [len(c) for c in chunks],
            "body_len": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "request": request,
            "recorded_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            **dict(meta or {}),
        }
        blob = _MAGIC + json.dumps(header, separators=(",", ":"), default=str).encode() + b"\n" + body
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
            for attempt in range(5):  # Windows refuses to replace a file another process has open
                try:
                    os.replace(tmp, path)
                    break
                except PermissionError:
                    if attempt == 4:
                        raise
                    time.sleep(0.05 * (attempt + 1))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return CachedResponse(key, int(status), kept, chunks, header)

    # --- misses ---------------------------------------------------------------------------
    def miss(self, key: str, request: str, *, corrupt: bool = False) -> CacheMiss:
        """The :class:`CacheMiss` to raise in replay mode for ``request``."""
        why = "holds a corrupt entry for" if corrupt else "has no recorded response for"
        return CacheMiss(
            f"Replay mode: the cache {self.directory} {why} {request} (key {key[:16]}…). "
            "Record it first with cache='readwrite' against a live backend, or point cache_dir "
            "at the folder that holds this lesson.",
            code="cache_miss",
        )

    # --- housekeeping ---------------------------------------------------------------------
    def keys(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("??/*.entry"))

    def __len__(self) -> int:
        return len(self.keys())

    def clear(self) -> int:
        """Delete every entry; returns how many."""
        n = 0
        for key in self.keys():
            try:
                self.path_for(key).unlink()
                n += 1
            except FileNotFoundError:
                pass
        return n

    def __repr__(self) -> str:
        return f"<ResponseCache mode={self.mode!r} dir={str(self.directory)!r}>"

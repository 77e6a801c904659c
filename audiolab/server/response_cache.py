"""A content-addressed, size-bounded (LRU) store of finished responses, on disk.

A key names a request by content (see :func:`request_key`): the route, the model, the voice,
the input, every parameter and the bytes of any uploaded audio, never a header (so never an
API key). A value is one finished response: its status, its headers and its body. Entries are
one file each (``<key>.resp``: a JSON head line, then the body), written atomically, so a
crash never leaves a half entry. The least recently used entries go first when the total size
would pass ``max_bytes``.

Example:
    >>> import tempfile
    >>> cache = ResponseCache(tempfile.mkdtemp(), max_bytes=1000)
    >>> key = request_key("speech", {"input": "Hello."})
    >>> cache.put(key, Stored(200, [["content-type", "audio/mpeg"]], b"ID3..."))
    True
    >>> cache.get(key).body
    b'ID3...'
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ResponseCache", "Stored", "request_key"]

log = logging.getLogger("audiolab.server.response_cache")
_SUFFIX = ".resp"
#: Bumped when the shape of a response changes, so that older entries are never served.
_FORMAT = 1


def _served() -> dict:
    """Which local model answers each id: a changed mapping (a new default model) must not replay
    answers the old one gave."""
    from audiolab.server.registry import ALIASES, MODELS

    return {"aliases": {a.id: a.target for a in ALIASES.values()},
            "models": {m.id: dict(m.options) for m in MODELS.values()}}


def request_key(route: str, fields: dict, *, blobs: tuple[bytes, ...] = ()) -> str:
    """The content address of a request: SHA-256 over its route, fields and uploaded bytes.

    ``fields`` must be JSON-serializable and hold only what decides the response (never a header
    or a key). Key order does not matter.

    Example:
        >>> request_key("models", {}) == request_key("models", {})
        True
        >>> request_key("speech", {"a": 1, "b": 2}) == request_key("speech", {"b": 2, "a": 1})
        True
    """
    from audiolab.server.app import server_version

    h = hashlib.sha256()
    head = {"route": route, "format": _FORMAT, "server": server_version(), "served": _served(), "fields": fields}
    h.update(json.dumps(head, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())
    for blob in blobs:
        h.update(len(blob).to_bytes(8, "little"))
        h.update(hashlib.sha256(blob).digest())
    return h.hexdigest()


@dataclass(frozen=True)
class Stored:
    """A finished response: status, headers (``[name, value]`` pairs) and the whole body."""

    status: int
    headers: list
    body: bytes

    @property
    def size(self) -> int:
        return len(self.body) + 256


class ResponseCache:
    """Finished responses by key, on disk under ``root``, at most ``max_bytes`` in total (LRU).

    Args:
        root: a directory of its own (created if missing); entries already there are kept, the
            oldest (by modification time) first in line for eviction.
        max_bytes: bound on the total size; an entry larger than half of it is not kept.
    """

    def __init__(self, root: str | os.PathLike, *, max_bytes: int):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self._index: OrderedDict[str, int] = OrderedDict()
        self.total = 0
        found = []
        for path in self.root.glob("*" + _SUFFIX):
            try:
                st = path.stat()
            except OSError:
                continue
            found.append((st.st_mtime, path.stem, st.st_size))
        for _, key, size in sorted(found):
            self._index[key] = size
            self.total += size
        self._evict()

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def _path(self, key: str) -> Path:
        if not (len(key) == 64 and all(c in "0123456789abcdef" for c in key)):
            raise ValueError(f"not a response key: {key!r}")
        return self.root / (key + _SUFFIX)

    def get(self, key: str) -> Stored | None:
        """The stored response, marked as just used; ``None`` if absent or unreadable."""
        with self._lock:
            if key not in self._index:
                return None
            self._index.move_to_end(key)
        path = self._path(key)
        try:
            raw = path.read_bytes()
            head, _, body = raw.partition(b"\n")
            meta = json.loads(head)
            os.utime(path)
        except (OSError, ValueError):
            self._forget(key)
            return None
        return Stored(int(meta["status"]), list(meta["headers"]), body)

    def put(self, key: str, value: Stored) -> bool:
        """Keep ``value`` under ``key``, evicting least recently used entries; False if too large."""
        head = json.dumps({"status": value.status, "headers": value.headers}, separators=(",", ":")).encode()
        data = head + b"\n" + value.body
        if len(data) > self.max_bytes // 2:
            return False
        path = self._path(key)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("response cache: could not write an entry (%s)", exc)
            tmp.unlink(missing_ok=True)
            return False
        with self._lock:
            self.total += len(data) - self._index.pop(key, 0)
            self._index[key] = len(data)
            self._evict()
        return True

    def _forget(self, key: str) -> None:
        with self._lock:
            self.total -= self._index.pop(key, 0)
        self._path(key).unlink(missing_ok=True)

    def _evict(self) -> None:
        while self.total > self.max_bytes and self._index:
            key, size = self._index.popitem(last=False)
            self.total -= size
            self._path(key).unlink(missing_ok=True)

    def clear(self) -> None:
        """Remove every entry."""
        with self._lock:
            keys = list(self._index)
            self._index.clear()
            self.total = 0
        for key in keys:
            self._path(key).unlink(missing_ok=True)

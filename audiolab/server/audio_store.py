"""Recent chat audio, kept by id for a while so that a later turn can refer to it.

OpenAI's Chat Completions return ``message.audio.id`` with an ``expires_at``; until then a client
may send ``{"role": "assistant", "audio": {"id": ...}}`` instead of repeating the answer, and the
server puts the transcript of that audio back into the conversation. :class:`AudioStore` is that
memory: bounded in entries and in bytes of audio held, oldest dropped first, entries past their
expiry treated as gone.

Example:
    >>> store = AudioStore(ttl_s=60)
    >>> item = store.put("Hello there.")
    >>> store.get(item.id).transcript
    'Hello there.'
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from audiolab.audio import Audio
from audiolab.errors import InvalidRequest

__all__ = ["StoredAudio", "AudioStore", "new_audio_id"]


def new_audio_id() -> str:
    """An id shaped like OpenAI's (``audio_`` and 32 hex digits)."""
    return "audio_" + secrets.token_hex(16)


@dataclass(frozen=True)
class StoredAudio:
    """One remembered audio answer.

    Attributes:
        id: the ``audio_...`` id returned to the client.
        transcript: what the audio says; it is what a later turn feeds back to the model.
        expires_at: Unix time (seconds) after which the id no longer resolves.
        duration: seconds of audio (kept even when the samples are dropped).
        audio: the audio itself, when it was kept (None once the byte budget dropped it).
    """

    id: str
    transcript: str
    expires_at: int
    duration: float = 0.0
    audio: Audio | None = None


def _nbytes(audio: Audio | None) -> int:
    return 0 if audio is None else int(audio.samples.nbytes)


class AudioStore:
    """A thread-safe, bounded, expiring map from audio id to :class:`StoredAudio`.

    Args:
        ttl_s: seconds an id stays valid (``Settings.audio_ttl_s``; OpenAI keeps about an hour).
        max_items: most entries kept; past it the oldest are dropped.
        max_bytes: most bytes of samples kept; past it the oldest entries lose their audio
            (their transcripts, which is what later turns need, stay until ``max_items``).
        clock: the time source, ``time.time`` unless a test needs another.
    """

    def __init__(self, *, ttl_s: float = 3600.0, max_items: int = 1024, max_bytes: int = 256 * 1024 * 1024,
                 clock: Callable[[], float] = time.time):
        if ttl_s <= 0 or max_items < 1 or max_bytes < 0:
            raise InvalidRequest("AudioStore needs ttl_s > 0, max_items >= 1 and max_bytes >= 0.", param="ttl_s")
        self.ttl_s = float(ttl_s)
        self.max_items = int(max_items)
        self.max_bytes = int(max_bytes)
        self._clock = clock
        self._items: OrderedDict[str, StoredAudio] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._items)

    @property
    def nbytes(self) -> int:
        """Bytes of audio samples currently held."""
        return self._bytes

    def put(self, transcript: str, audio: Audio | None = None, *, audio_id: str | None = None) -> StoredAudio:
        """Remember ``transcript`` (and ``audio``) under a new id; returns the stored entry."""
        item = StoredAudio(
            id=audio_id or new_audio_id(),
            transcript=transcript,
            expires_at=int(self._clock() + self.ttl_s),
            duration=audio.duration if audio is not None else 0.0,
            audio=audio,
        )
        with self._lock:
            self._expire()
            old = self._items.pop(item.id, None)
            self._bytes -= _nbytes(old.audio) if old else 0
            self._items[item.id] = item
            self._bytes += _nbytes(audio)
            self._shrink()
            return self._items.get(item.id, item)

    def get(self, audio_id: str, *, param: str = "messages") -> StoredAudio:
        """The entry for ``audio_id``.

        Raises:
            InvalidRequest: unknown or expired id (``param`` names the request field at fault).
        """
        with self._lock:
            self._expire()
            item = self._items.get(audio_id) if isinstance(audio_id, str) else None
        if item is None:
            raise InvalidRequest(
                f"Audio with id {audio_id!r} not found. It may have expired (audio is kept "
                f"{self.ttl_s:.0f} s) or come from another server.",
                param=param,
                code="invalid_value",
            )
        return item

    def _expire(self) -> None:
        now = self._clock()
        for key in [k for k, v in self._items.items() if v.expires_at <= now]:
            self._bytes -= _nbytes(self._items.pop(key).audio)

    def _shrink(self) -> None:
        while len(self._items) > self.max_items:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= _nbytes(dropped.audio)
        if self._bytes <= self.max_bytes:
            return
        for key, item in self._items.items():  # oldest first: keep the transcript, drop the samples
            if self._bytes <= self.max_bytes:
                break
            if item.audio is not None:
                self._bytes -= _nbytes(item.audio)
                self._items[key] = dataclasses.replace(item, audio=None)

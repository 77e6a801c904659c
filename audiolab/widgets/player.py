"""Play audio as it streams in: PCM chunks from Python, scheduled gap-free by WebAudio.

The widget is fed from Python with ``widget.send(msg, buffers=[float32 bytes])``; the browser
schedules each chunk right after the previous one on one AudioContext clock, so a stream of
small chunks plays without clicks or gaps. Browsers block sound until the listener interacts
with the page, hence the "Enable audio" button: chunks that arrive before it queue up.

It serves streaming TTS (``response_format="pcm"`` with ``stream_format="audio"``, or any
chunked body) and realtime output, and shows the time to first audio.

Example:
    >>> from audiolab.widgets import StreamingPlayer
    >>> player = StreamingPlayer(); player                                       # doctest: +SKIP
    >>> with lab.client.audio.speech.with_streaming_response.create(              # doctest: +SKIP
    ...         model="gpt-4o-mini-tts", voice="coral", input="Hello there!",
    ...         response_format="pcm") as response:
    ...     audio = player.play_stream(response.iter_bytes(), sr=24000)
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import AsyncIterable, Iterable

import anywidget
import numpy as np
import traitlets as t

from audiolab.audio import PCM_RATE, Audio, pcm16_to_float
from audiolab.errors import InvalidRequest

__all__ = ["StreamingPlayer"]

_CSS = """
.audiolab-player { display: flex; align-items: center; gap: 10px; font-size: 13px;
  font-family: var(--jp-ui-font-family, sans-serif); padding: 4px 0; }
.audiolab-player button { padding: 4px 12px; border-radius: 4px; border: 1px solid #888;
  background: #f6f8fa; cursor: pointer; }
.audiolab-player .alp-info { color: #57606a; font-variant-numeric: tabular-nums; }
"""


class StreamingPlayer(anywidget.AnyWidget):
    """A gap-free streaming audio player fed from Python.

    Attributes:
        enabled: the listener clicked "Enable audio" (set by the browser).
        received: samples the browser has received in the current stream (set by the browser).
        sent: samples Python has sent in the current stream.
        sample_rate: rate of the current stream.
        ttfb_ms: stream start to first byte in the kernel, in ms (-1 until known).
        ttfa_ms: stream start to first sound in the browser, in ms (-1 until known).
        status: ``idle``, ``streaming`` or ``done``.

    Example:
        >>> import numpy as np
        >>> player = StreamingPlayer()
        >>> player.feed(Audio.from_array(np.zeros(24000), 24000))
        24000
    """

    _esm = pathlib.Path(__file__).with_name("player.js")
    _css = _CSS

    enabled = t.Bool(False).tag(sync=True)
    received = t.Int(0).tag(sync=True)
    sample_rate = t.Int(PCM_RATE).tag(sync=True)
    ttfb_ms = t.Int(-1).tag(sync=True)
    ttfa_ms = t.Int(-1).tag(sync=True)
    status = t.Unicode("idle").tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sent = 0
        self._t0 = time.perf_counter()
        self._seq = 0

    # ---- stream control -----------------------------------------------------------------

    def begin(self, *, sr: int = PCM_RATE, started_at: float | None = None) -> None:
        """Start a new stream: stop what is playing and reset the counters.

        Args:
            sr: the stream's sample rate.
            started_at: ``time.perf_counter()`` when the request was made, so TTFB and
                time-to-first-audio include the request; defaults to now.
        """
        self._t0 = time.perf_counter() if started_at is None else started_at
        self.sent, self._seq = 0, 0
        self.sample_rate = int(sr)
        self.ttfb_ms = self.ttfa_ms = -1
        self.status = "streaming"
        self.send({"type": "begin", "sr": int(sr)})

    def end(self) -> None:
        """Mark the stream complete (the browser reports its final ``received`` count)."""
        self.status = "done"
        self.send({"type": "end", "sent": self.sent})

    def stop(self) -> None:
        """Stop playback now and drop queued audio."""
        self.status = "idle"
        self.send({"type": "stop"})

    def _send_chunk(self, samples: np.ndarray, sr: int) -> None:
        pcm = np.ascontiguousarray(samples, dtype="<f4")
        if not pcm.size:
            return
        elapsed_ms = int(round((time.perf_counter() - self._t0) * 1000))
        if self.sent == 0:
            self.ttfb_ms = elapsed_ms
        self.send({"type": "chunk", "seq": self._seq, "sr": int(sr), "elapsed_ms": elapsed_ms},
                  buffers=[pcm.tobytes()])
        self._seq += 1
        self.sent += int(pcm.size)

    # ---- feeding ------------------------------------------------------------------------

    def feed(self, audio: Audio, *, chunk_s: float = 0.5) -> int:
        """Queue a whole clip (mono mix, at its own rate) after what is already scheduled.

        Args:
            audio: the clip to play.
            chunk_s: size of each message to the browser, in seconds.

        Returns:
            The number of samples sent.
        """
        if not isinstance(audio, Audio):
            raise InvalidRequest(f"feed() takes an Audio, got {type(audio).__name__}.", param="audio")
        if self.status != "streaming":
            self.begin(sr=audio.sr)
        mono = audio.to_mono().samples
        step = max(1, int(round(chunk_s * audio.sr)))
        before = self.sent
        for i in range(0, len(mono), step):
            self._send_chunk(mono[i:i + step], audio.sr)
        return self.sent - before

    def play_stream(self, chunks: Iterable[bytes], *, sr: int = PCM_RATE,
                    started_at: float | None = None, min_chunk_s: float = 0.1) -> Audio:
        """Play raw s16le mono PCM bytes as they arrive, e.g. a streaming TTS body.

        The first bytes go to the browser at once (time to first audio); later ones are
        coalesced into pieces of at least ``min_chunk_s``. Chunks may split samples anywhere.

        Args:
            chunks: an iterable of bytes (``response.iter_bytes()``), or an object with
                ``iter_bytes()``.
            sr: the PCM's rate (OpenAI's ``pcm`` is 24000).
            started_at: ``time.perf_counter()`` at request time; defaults to now.

        Returns:
            The whole stream as an :class:`Audio`, with ``meta["ttfb_ms"]``.
        """
        if hasattr(chunks, "iter_bytes"):
            chunks = chunks.iter_bytes()
        stream = _PcmStream(self, sr, started_at, min_chunk_s)
        for data in chunks:
            stream.push(data)
        return stream.close()

    async def aplay_stream(self, chunks: AsyncIterable[bytes], *, sr: int = PCM_RATE,
                           started_at: float | None = None, min_chunk_s: float = 0.1) -> Audio:
        """:meth:`play_stream` for async iterables (``AsyncOpenAI`` responses, realtime)."""
        if hasattr(chunks, "iter_bytes"):
            chunks = chunks.iter_bytes()
        stream = _PcmStream(self, sr, started_at, min_chunk_s)
        async for data in chunks:
            stream.push(data)
        return stream.close()

    def to_code(self) -> str:
        """Python that streams a TTS answer into this player."""
        return ("from audiolab.widgets import StreamingPlayer\n\n"
                "player = StreamingPlayer()\ndisplay(player)\n"
                "with client.audio.speech.with_streaming_response.create(\n"
                "        model=\"gpt-4o-mini-tts\", voice=\"coral\", input=\"Hello!\",\n"
                "        response_format=\"pcm\") as response:\n"
                "    audio = player.play_stream(response.iter_bytes(), sr=24000)\n")


class _PcmStream:
    """s16le bytes -> float32 chunks for a player; carries odd bytes across network chunks."""

    def __init__(self, player: StreamingPlayer, sr: int, started_at: float | None, min_chunk_s: float):
        self.player, self.sr = player, int(sr)
        self.carry, self.pending, self.parts = b"", [], []
        self.min_samples = max(1, int(min_chunk_s * sr))
        player.begin(sr=sr, started_at=started_at)

    def push(self, data: bytes) -> None:
        data = self.carry + bytes(data)
        cut = len(data) - len(data) % 2
        self.carry = data[cut:]
        if not cut:
            return
        pcm = pcm16_to_float(data[:cut])
        self.pending.append(pcm)
        if self.player.sent == 0 or sum(len(p) for p in self.pending) >= self.min_samples:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            block = np.concatenate(self.pending)
            self.pending = []
            self.parts.append(block)
            self.player._send_chunk(block, self.sr)

    def close(self) -> Audio:
        self._flush()
        self.player.end()
        samples = np.concatenate(self.parts) if self.parts else np.zeros(0, np.float32)
        return Audio.from_array(samples, self.sr, source="stream",
                                meta={"ttfb_ms": self.player.ttfb_ms, "dropped_bytes": len(self.carry)})

"""Record from the microphone in a notebook and get an :class:`~audiolab.audio.Audio` back.

Two engines, and two fallbacks for front ends without a microphone:

``engine="worklet"`` (default)
    An anywidget whose AudioWorklet sends raw float32 PCM to the kernel about every 250 ms
    (``model.send(msg, undefined, [buffer])``). Python assembles the take, and can watch the
    level and pass chunks onward while recording (:meth:`Recorder.on_chunk`). Works in
    JupyterLab 4, Notebook 7, Voila and Colab in Chrome, Edge, Firefox and Safari, on https or
    localhost. Not in VS Code (its webviews expose no microphone) nor over plain http to a
    remote server (browsers only grant the mic to secure contexts): both show an inline message.
``engine="ipywebrtc"``
    ipywebrtc's ``AudioRecorder`` (MediaRecorder, webm/opus, decoded with PyAV through
    :meth:`Audio.from_bytes`). ipywebrtc 0.6 predates JupyterLab 4 / Notebook 7: it loads there
    only through the widget manager's version-mismatch fallback, and crashes in VS Code. Use
    it where the worklet cannot run (very old browsers) and ipywebrtc's front end is installed.
Fallbacks, shown under both engines
    an upload button (``ipywidgets.FileUpload``, any format :meth:`Audio.from_bytes` reads) and
    a path box; both work in every front end, VS Code included.

Example:
    >>> from audiolab.widgets import Recorder
    >>> rec = Recorder()
    >>> rec                      # doctest: +SKIP
    >>> rec.audio                # the last take, in the next cell   # doctest: +SKIP
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Callable

import anywidget
import numpy as np
import traitlets as t

from audiolab.audio import Audio
from audiolab.errors import AudiolabError, InvalidRequest

__all__ = ["Recorder", "MIC_ERRORS"]

_FALLBACK = "Use the Upload button or the path box below instead."
#: Friendly text for the DOMException names getUserMedia and AudioWorklet raise.
MIC_ERRORS = {
    "NotAllowedError": "Microphone permission was denied. Allow the microphone for this page (the "
                       "lock or camera icon in the address bar), then press Record again. " + _FALLBACK,
    "SecurityError": "The browser blocked the microphone for this page. " + _FALLBACK,
    "NotFoundError": "No microphone was found. Plug one in (or pick one in the system settings) "
                     "and press Record again. " + _FALLBACK,
    "OverconstrainedError": "No microphone matches the requested settings. " + _FALLBACK,
    "NotReadableError": "The microphone is busy or failed to start: another application may be "
                        "using it. " + _FALLBACK,
    "AbortError": "The microphone failed to start. " + _FALLBACK,
    "InsecureContext": "This page cannot reach a microphone: browsers only grant it to https or "
                       "localhost pages, and VS Code notebooks expose none. Open Jupyter over https "
                       "or an SSH tunnel to localhost, or " + _FALLBACK[0].lower() + _FALLBACK[1:],
    "NoAudioWorklet": "This browser has no AudioWorklet; try Recorder(engine='ipywebrtc'). " + _FALLBACK,
}
_PREVIEW_MAX_S = 600.0


class Recorder(anywidget.AnyWidget):
    """A microphone recorder widget with a level meter; ``recorder.audio`` is the last take.

    Args:
        engine: ``"worklet"`` (default) or ``"ipywebrtc"``; see the module doc for where each
            works.
        chunk_ms: how often the browser sends PCM to Python while recording.
        max_seconds: recording stops by itself after this long (0: never).

    Attributes:
        status: ``idle``, ``requesting`` (waiting for permission), ``recording``, ``stopped``
            or ``error``; synced with the browser.
        error: the inline error message, empty when all is well.
        elapsed: seconds of audio received by Python so far in this take.
        duration: length of the last take in seconds.
        level_db: peak level of the last chunk in dBFS (Python side, for meters and triggers).
        used: whether the last take was confirmed with "Use this take".

    Raises:
        InvalidRequest: an unknown ``engine``.

    Example:
        >>> import numpy as np
        >>> rec = Recorder()
        >>> rec.load(Audio.from_array(np.zeros(1600), 16000)).duration   # fallback path
        0.1
    """

    _esm = pathlib.Path(__file__).with_name("recorder.js")
    _css = pathlib.Path(__file__).with_name("recorder.css")

    status = t.Unicode("idle").tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    engine = t.Unicode("worklet").tag(sync=True)
    chunk_ms = t.Int(250).tag(sync=True)
    max_seconds = t.Float(300.0).tag(sync=True)
    elapsed = t.Float(0.0).tag(sync=True)
    duration = t.Float(0.0).tag(sync=True)
    used = t.Bool(False).tag(sync=True)
    level_db = t.Float(-120.0)

    def __init__(self, *, engine: str = "worklet", chunk_ms: int = 250, max_seconds: float = 300.0,
                 **kwargs):
        if engine not in ("worklet", "ipywebrtc"):
            raise InvalidRequest(f"Recorder engine must be 'worklet' or 'ipywebrtc', got {engine!r}.",
                                 param="engine")
        super().__init__(engine=engine, chunk_ms=chunk_ms, max_seconds=max_seconds, **kwargs)
        self._chunks: dict[int, np.ndarray] = {}
        self._sr: int | None = None
        self._audio: Audio | None = None
        self._source_code = "recorder.audio"
        self._chunk_callbacks: list[Callable[[Audio], None]] = []
        self._take_callbacks: list[Callable[[Audio], None]] = []
        self._use_callbacks: list[Callable[[Audio], None]] = []
        self._panel = None
        self._webrtc = None
        self.on_msg(self._on_message)
        if engine == "ipywebrtc":
            self._webrtc = _webrtc_recorder(self._on_webrtc_value)

    # ---- rich values --------------------------------------------------------------------

    @property
    def audio(self) -> Audio | None:
        """The last take (from the microphone, an upload or a path), or ``None``."""
        return self._audio

    @property
    def panel(self):
        """The full UI: the recorder plus the upload and path fallbacks (an ipywidgets VBox)."""
        if self._panel is None:
            self._panel = self._build_panel()
        return self._panel

    def _repr_mimebundle_(self, **kwargs):
        return self.panel._repr_mimebundle_(**kwargs)

    # ---- callbacks ----------------------------------------------------------------------

    def on_chunk(self, callback: Callable[[Audio], None]) -> None:
        """Call ``callback(chunk)`` with each PCM chunk (an Audio) while recording."""
        self._chunk_callbacks.append(callback)

    def on_take(self, callback: Callable[[Audio], None]) -> None:
        """Call ``callback(audio)`` whenever a take is complete (recorded, uploaded or loaded)."""
        self._take_callbacks.append(callback)

    def on_use(self, callback: Callable[[Audio], None]) -> None:
        """Call ``callback(audio)`` when the listener presses "Use this take"."""
        self._use_callbacks.append(callback)

    # ---- the browser's messages ---------------------------------------------------------

    def _on_message(self, _widget, msg: dict, buffers: list) -> None:
        """Handle one message from the front end (``model.send(msg, undefined, buffers)``)."""
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind == "requesting":
            self.error, self.status = "", "requesting"
        elif kind == "start":
            self._chunks, self._sr = {}, int(msg["sr"])
            self.elapsed, self.error, self.status = 0.0, "", "recording"
        elif kind == "chunk":
            self._add_chunk(msg, buffers)
        elif kind == "stop":
            self._finish_take()
        elif kind == "use":
            self.use()
        elif kind == "error":
            name = str(msg.get("name") or "Error")
            detail = str(msg.get("message") or "").strip()
            self.error = MIC_ERRORS.get(name, f"Recording failed ({name}{': ' + detail if detail else ''}). "
                                              + _FALLBACK)
            self.status = "error"

    def _add_chunk(self, msg: dict, buffers: list) -> None:
        if not buffers:
            return
        if msg.get("sr"):
            self._sr = int(msg["sr"])
        if self._sr is None:
            return  # a chunk before any "start" carries no rate: nothing sane to do with it
        seq = int(msg.get("seq", len(self._chunks)))
        pcm = np.frombuffer(bytes(buffers[0]), dtype="<f4")
        self._chunks[seq] = pcm
        self.elapsed = self.elapsed + len(pcm) / self._sr
        peak = float(np.abs(pcm).max()) if len(pcm) else 0.0
        self.level_db = 20 * math.log10(peak) if peak > 1e-6 else -120.0
        if self.status != "recording":
            self.status = "recording"
        if self._chunk_callbacks:
            chunk = Audio.from_array(pcm, self._sr, source="microphone", meta={"seq": seq})
            for callback in self._chunk_callbacks:
                callback(chunk)

    def _finish_take(self) -> None:
        if not self._chunks or self._sr is None:
            self.status = "idle"
            return
        samples = np.concatenate([self._chunks[k] for k in sorted(self._chunks)])
        self._chunks = {}
        take = Audio.from_array(samples, self._sr, source="microphone",
                                meta={"engine": "worklet", "chunk_ms": self.chunk_ms})
        self._set_take(take, code="recorder.audio")

    # ---- takes from elsewhere -----------------------------------------------------------

    def load(self, source: str | pathlib.Path | bytes | Audio) -> Audio:
        """Make a file, encoded bytes or an Audio the current take (the no-microphone path).

        Raises:
            FileNotFoundError: no such file.
            AudioDecodeError: the file or bytes are not audio.
        """
        if isinstance(source, Audio):
            take, code = source, "recorder.audio"
        elif isinstance(source, (bytes, bytearray, memoryview)):
            take, code = Audio.from_bytes(bytes(source), source="upload"), "recorder.audio"
        else:
            path = pathlib.Path(source).expanduser()
            take, code = Audio.from_file(path), f"Audio.from_file({str(path)!r})"
        self._set_take(take, code=code)
        return take

    def _set_take(self, take: Audio, *, code: str) -> None:
        self._audio, self._source_code = take, code
        self.duration = round(take.duration, 3)
        self.used, self.error, self.status = False, "", "stopped"
        self._send_playback(take)
        for callback in self._take_callbacks:
            callback(take)

    def _send_playback(self, take: Audio) -> None:
        # A speech-quality preview (24 kHz, at most 10 minutes) keeps the comm message light.
        clip = take.to_mono().slice(0, _PREVIEW_MAX_S)
        clip = clip.resample(min(clip.sr, 24000))
        self.send({"type": "take", "duration": take.duration, "sr": clip.sr}, buffers=[clip.to_wav_bytes()])

    def use(self) -> Audio | None:
        """Confirm the last take ("Use this take") and tell the :meth:`on_use` callbacks."""
        if self._audio is None:
            return None
        self.used = True
        for callback in self._use_callbacks:
            callback(self._audio)
        return self._audio

    def clear(self) -> None:
        """Forget the last take."""
        self._audio, self._chunks = None, {}
        self.duration = self.elapsed = 0.0
        self.used, self.error, self.status = False, "", "idle"
        self.send({"type": "clear"})

    def _on_webrtc_value(self, data: bytes) -> None:
        try:
            take = Audio.from_bytes(data, "webm", source="ipywebrtc")
        except AudiolabError as exc:
            self.error, self.status = f"Could not decode the ipywebrtc recording: {exc}", "error"
            return
        self._set_take(take.with_meta(engine="ipywebrtc"), code="recorder.audio")

    def to_code(self) -> str:
        """Python that gets the current take in a later cell."""
        if self._source_code.startswith("Audio.from_file"):
            return f"from audiolab.audio import Audio\n\naudio = {self._source_code}\n"
        return ("from audiolab.widgets import Recorder\n\n"
                f"recorder = Recorder(engine={self.engine!r})\nrecorder  # record, then:\n"
                "audio = recorder.audio\n")

    # ---- UI -----------------------------------------------------------------------------

    def _build_panel(self):
        import ipywidgets as w

        upload = w.FileUpload(accept="audio/*,.wav,.mp3,.m4a,.ogg,.opus,.webm,.flac,.aac,.mp4",
                              multiple=False, description="Upload")
        path = w.Text(placeholder="or a path: clips/hello.wav", layout=w.Layout(width="22em"))
        load = w.Button(description="Load", layout=w.Layout(width="5em"))

        def on_upload(change):
            files = change["new"]
            if files:
                self._load_safely(files[0]["content"], files[0].get("name", "upload"))

        def on_load(_):
            if path.value.strip():
                self._load_safely(path.value.strip(), path.value.strip())

        upload.observe(on_upload, "value")
        load.on_click(on_load)
        children = [self._webrtc] if self._webrtc is not None else []
        return w.VBox(children + [self, w.HBox([upload, path, load])])

    def _load_safely(self, source, label: str) -> None:
        try:
            self.load(source)
        except (AudiolabError, OSError) as exc:
            self.error, self.status = f"Could not load {label}: {exc}", "error"


def _webrtc_recorder(on_value: Callable[[bytes], None]):
    """An ipywebrtc AudioRecorder on the microphone, calling ``on_value`` with each webm take."""
    from ipywebrtc import AudioRecorder, CameraStream

    camera = CameraStream(constraints={"audio": True, "video": False})
    recorder = AudioRecorder(stream=camera, format="webm")

    def changed(change):
        if change["new"]:
            on_value(bytes(change["new"]))

    recorder.audio.observe(changed, "value")
    return recorder

"""Speaker embeddings ("voiceprints"): Resemblyzer's pretrained d-vector encoder, run in numpy.

The weights are the ``pretrained.pt`` that the ``resemblyzer`` wheel ships (Apache-2.0; a GE2E
speaker encoder trained on LibriSpeech, VoxCeleb 1 and 2: 3 LSTM layers of 256 over 40 mel
bands, then a 256-d projection). The package itself imports torch, so it is installed without
its dependencies and never imported: its checkpoint (the legacy torch pickle format) is read
here with :mod:`pickle` and numpy, and the network is a few lines of numpy. The features follow
Resemblyzer's ``wav_to_mel_spectrogram`` (librosa power mel, 25 ms windows, 10 ms hop), and an
utterance's embedding is the L2-normed mean of its 1.6 s partials, as its ``embed_utterance``.

Two clips of one speaker have a cosine similarity near 0.8-0.9; of two speakers, lower
(``bench/speaker_id.py``: same speaker min 0.79, median 0.89; different median 0.52, max 0.85).
:data:`SAME_SPEAKER` is a cut between them for deciding on one pair of clean clips.

Example:
    >>> enc = VoiceEncoder.load()                                     # doctest: +SKIP
    >>> a, b = enc.embed(nagg_line_1), enc.embed(nagg_line_2)         # doctest: +SKIP
    >>> float(a @ b) > SAME_SPEAKER                                   # doctest: +SKIP
    True
"""

from __future__ import annotations

import functools
import importlib.util
import pickle
from pathlib import Path

import numpy as np

from audiolab.audio import Audio
from audiolab.errors import EngineUnavailable

__all__ = ["VoiceEncoder", "SAME_SPEAKER", "load_legacy_checkpoint"]

#: Cosine similarity above which two embeddings are taken as one speaker.
SAME_SPEAKER = 0.80

_SR = 16_000
_HOP = 160  # 10 ms
_WIN = 400  # 25 ms
_PARTIAL = 160  # frames in a partial utterance (1.6 s)
_PARTIAL_RATE = 1.3  # partials per second
_MIN_COVERAGE = 0.75
_TARGET_DBFS = -30.0
_PACKAGE = "resemblyzer"
_PIP = "resemblyzer==0.1.4"

_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
           "LongStorage": np.int64, "IntStorage": np.int32, "ByteStorage": np.uint8}


class _TensorRef:
    def __init__(self, key, offset, size, stride):
        self.key, self.offset, self.size, self.stride = key, offset, tuple(size), tuple(stride)


class _Unpickler(pickle.Unpickler):
    """Only what a legacy ``torch.save`` of a state dict holds: ordered dicts, storages, tensors."""

    def __init__(self, fh, storages: dict):
        super().__init__(fh)
        self._storages = storages

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            import collections

            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return lambda storage, offset, size, stride, *rest: _TensorRef(storage, offset, size, stride)
        if module == "torch" and name in _DTYPES:
            return name
        raise pickle.UnpicklingError(f"unexpected object in a weights file: {module}.{name}")

    def persistent_load(self, pid):
        kind, dtype_name, key, _location, numel, *_ = pid
        if kind != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {kind!r}")
        self._storages[key] = (_DTYPES[dtype_name], int(numel))
        return key


def load_legacy_checkpoint(path: Path) -> dict:
    """A checkpoint written by ``torch.save`` in the legacy (non-zip) format, as numpy arrays.

    Nested dicts are kept; every tensor becomes a C-contiguous ``np.ndarray``.
    """
    storages: dict = {}
    with open(path, "rb") as fh:
        for _ in range(3):  # magic number, protocol version, system info
            pickle.load(fh)
        tree = _Unpickler(fh, storages).load()
        keys = pickle.load(fh)
        data = {}
        for key in keys:
            dtype, numel = storages[key]
            count = int(np.frombuffer(fh.read(8), dtype="<i8")[0])
            if count != numel:
                raise ValueError(f"storage {key}: {count} elements on disk, {numel} declared")
            data[key] = np.frombuffer(fh.read(count * np.dtype(dtype).itemsize), dtype=dtype)

    def build(node):
        if isinstance(node, dict):
            return {k: build(v) for k, v in node.items()}
        if isinstance(node, _TensorRef):
            flat = data[node.key]
            itemsize = flat.dtype.itemsize
            view = np.lib.stride_tricks.as_strided(flat[node.offset:], shape=node.size,
                                                   strides=tuple(s * itemsize for s in node.stride))
            return np.ascontiguousarray(view)
        return node

    return build(tree)


def _weights_path() -> Path:
    spec = importlib.util.find_spec(_PACKAGE)  # finds the files; never imports the package (torch)
    if spec is None or not spec.submodule_search_locations:
        raise EngineUnavailable(f"Speaker recognition needs the {_PACKAGE} weights: "
                                f"pip install --no-deps {_PIP} (or make install).", package=_PIP)
    path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    if not path.is_file():
        raise EngineUnavailable(f"{_PACKAGE} ships no pretrained.pt: reinstall it ({_PIP}).", package=_PIP)
    return path


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class VoiceEncoder:
    """Resemblyzer's speaker encoder: audio in, a 256-d unit vector out (:meth:`embed`)."""

    def __init__(self, state: dict):
        self._layers = []
        k = 0
        while f"lstm.weight_ih_l{k}" in state:
            w_ih, w_hh = state[f"lstm.weight_ih_l{k}"], state[f"lstm.weight_hh_l{k}"]
            bias = state[f"lstm.bias_ih_l{k}"] + state[f"lstm.bias_hh_l{k}"]
            self._layers.append((w_ih.T.copy(), w_hh.T.copy(), bias))
            k += 1
        if not self._layers:
            raise ValueError("no LSTM weights in the checkpoint")
        self._proj = (state["linear.weight"].T.copy(), state["linear.bias"])

    @classmethod
    @functools.cache
    def load(cls) -> VoiceEncoder:
        """The encoder with the pretrained weights (read once per process).

        Raises:
            EngineUnavailable: the ``resemblyzer`` package (its weights) is not installed.
        """
        return cls(load_legacy_checkpoint(_weights_path())["model_state"])

    @staticmethod
    @functools.cache
    def _mel_basis() -> np.ndarray:
        import librosa

        return librosa.filters.mel(sr=_SR, n_fft=_WIN, n_mels=40).astype(np.float32)

    def _mels(self, wav: np.ndarray) -> np.ndarray:
        import librosa

        spec = np.abs(librosa.stft(wav, n_fft=_WIN, hop_length=_HOP)) ** 2
        return (self._mel_basis() @ spec).astype(np.float32).T  # (frames, 40), power mel, not log

    def _forward(self, mels: np.ndarray) -> np.ndarray:
        """(batch, frames, 40) -> (batch, 256) unit vectors: the last hidden state, projected."""
        x = mels
        for w_ih, w_hh, bias in self._layers:
            batch, steps, _ = x.shape
            hidden = w_hh.shape[0]
            gates_in = x @ w_ih + bias
            h = np.zeros((batch, hidden), np.float32)
            c = np.zeros((batch, hidden), np.float32)
            out = np.empty((batch, steps, hidden), np.float32)
            for t in range(steps):
                g = gates_in[:, t] + h @ w_hh
                i, f, cand, o = np.split(g, 4, axis=1)  # torch's gate order
                c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(cand)
                h = _sigmoid(o) * np.tanh(c)
                out[:, t] = h
            x = out
        raw = np.maximum(h @ self._proj[0] + self._proj[1], 0.0)
        return raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-9)

    def embed(self, audio: Audio) -> np.ndarray:
        """The speaker embedding of one utterance (float32, shape (256,), unit length)."""
        wav = audio.to_mono().resample(_SR).samples.astype(np.float32)
        rms = float(np.sqrt(np.mean(wav ** 2))) if wav.size else 0.0
        if rms > 0:  # Resemblyzer's normalize_volume(increase_only=True) to -30 dBFS
            gain = 10 ** ((_TARGET_DBFS - 20 * np.log10(rms)) / 20)
            wav = wav * max(gain, 1.0)
        n_frames = int(np.ceil((len(wav) + 1) / _HOP))
        step = int(round(_SR / _PARTIAL_RATE / _HOP))
        starts = list(range(0, max(1, n_frames - _PARTIAL + step + 1), step))
        if len(starts) > 1 and (len(wav) - starts[-1] * _HOP) / (_PARTIAL * _HOP) < _MIN_COVERAGE:
            starts.pop()
        need = (starts[-1] + _PARTIAL) * _HOP
        if need >= len(wav):
            wav = np.pad(wav, (0, need - len(wav)))
        mel = self._mels(wav)
        partials = np.stack([mel[s:s + _PARTIAL] for s in starts])
        mean = self._forward(partials).mean(axis=0)
        return (mean / max(float(np.linalg.norm(mean)), 1e-9)).astype(np.float32)

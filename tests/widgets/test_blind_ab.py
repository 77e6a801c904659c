"""Blind A/B votes: each session writes its own CSV unless a shared (class) file is asked for."""

from __future__ import annotations

import numpy as np

from audiolab.audio import Audio
from audiolab.widgets.blind_ab import SESSION_VOTES, BlindAB, load_votes


def _clips():
    tone = lambda hz: Audio.from_array(np.sin(2 * np.pi * hz * np.arange(8000) / 8000), 8000)  # noqa: E731
    return {"low": tone(220), "mid": tone(330), "high": tone(440)}


def test_two_sessions_write_two_vote_files_by_default(tmp_path):
    template = tmp_path / SESSION_VOTES
    first, second = BlindAB(_clips(), votes_path=template, seed=0), BlindAB(_clips(), votes_path=template, seed=1)
    for ab, n in ((first, 3), (second, 2)):
        for _ in range(n):
            ab.vote("A")
    assert first.votes_path != second.votes_path
    assert first.session in first.votes_path.name and "{session}" not in str(first.votes_path)
    assert len(load_votes(first.votes_path)) == 3 and len(load_votes(second.votes_path)) == 2
    assert set(load_votes(second.votes_path)["session"]) == {second.session}
    files = sorted((tmp_path / "output" / "votes").glob("*.csv"))
    pooled = load_votes(files)  # a class pools its files on purpose
    assert len(pooled) == 5 and pooled["session"].nunique() == 2


def test_a_fixed_votes_path_is_a_pool_every_session_appends_to(tmp_path):
    shared = tmp_path / "class.csv"
    for seed in (0, 1):
        ab = BlindAB(_clips(), votes_path=shared, seed=seed)
        ab.vote("tie")
        ab.vote("B")
    pooled = load_votes(shared)
    assert len(pooled) == 4 and pooled["session"].nunique() == 2
    assert list(pooled["choice"]) == ["tie", "B", "tie", "B"]

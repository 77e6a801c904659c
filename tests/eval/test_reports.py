"""HTML reports on the real local backend: players, plots, tables that agree with the frames, no network."""

from __future__ import annotations

import csv
import math
import re
from html.parser import HTMLParser

import pytest

import audiolab
from audiolab.eval import datasets
from audiolab.eval.agent_eval import RESULT_COLUMNS, AgentModels
from audiolab.eval.agent_report import agent_report
from audiolab.eval.report import stt_report, voices_report
from audiolab.eval.scenarios import Check, Scenario, Turn

pytestmark = pytest.mark.engines  # every test here talks to the local backend


class _Page(HTMLParser):
    """Collects audio/img sources, every src/href, and each table (by id) as rows of {data-col: text}."""

    def __init__(self):
        super().__init__()
        self.audio, self.img, self.links, self.tables = [], [], [], {}
        self._table = self._row = self._col = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            if key in a:
                self.links.append(a[key])
        if tag == "audio":
            self.audio.append(a.get("src", ""))
        elif tag == "img":
            self.img.append(a.get("src", ""))
        elif tag == "table":
            self._table = self.tables.setdefault(a.get("id", f"t{len(self.tables)}"), [])
        elif tag == "tr" and self._table is not None:
            self._row = {}
        elif tag == "td" and self._row is not None:
            self._col = a.get("data-col")
            self._row[self._col] = ""

    def handle_endtag(self, tag):
        if tag == "td":
            self._col = None
        elif tag == "tr" and self._row:
            self._table.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._row is not None and self._col is not None:
            self._row[self._col] += data


def _parse(path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _agree(cell: str, value) -> bool:
    """A table cell shows the frame's value (4 significant digits; empty for NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return cell.strip() == ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return math.isclose(float(cell), float(value), rel_tol=1e-3, abs_tol=1e-9)
    return cell.strip() == str(value)


def _check_offline(page: _Page, path) -> None:
    assert not [u for u in page.links if re.match(r"\s*(https?:)?//", u)], "the report loads from the network"
    assert "<script" not in path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def lab():
    return audiolab.connect("local")


def test_stt_report_embeds_players_plots_and_the_summary_numbers(lab, tmp_path):
    ds = datasets.Dataset(list(datasets.real_speech()[0:3]), name="three")
    rep = stt_report(lab, dataset=ds, snrs=(None, 10), output=tmp_path / "stt.html", progress=False)
    page = _parse(rep.path)
    assert len(page.audio) >= 3 and all(s.startswith("data:audio/mpeg;base64,") for s in page.audio)
    assert len(page.img) >= 3 and all(s.startswith("data:image/png;base64,") for s in page.img)
    _check_offline(page, rep.path)
    rows = page.tables["summary"]
    assert len(rows) == len(rep.summary) == 2
    for shown, (_, row) in zip(rows, rep.summary.iterrows()):
        for col in ("model", "condition", "wer", "ci_low", "ci_high", "cer", "substitutions", "rtfx"):
            assert _agree(shown[col], row[col]), (col, shown[col], row[col])
    assert (rep.summary["rtfx"] > 0).all() and "rtfx" in page.tables["clips"][0]
    assert rep.size_bytes < 20e6


def test_voices_report_scores_each_voice_and_fits_votes(lab, tmp_path):
    votes = tmp_path / "votes.csv"
    votes.write_text(
        "a,b,winner\nalloy,coral,alloy\nalloy,coral,alloy\nalloy,coral,coral\n", encoding="utf-8"
    )
    rep = voices_report(
        lab,
        voices=["alloy", "coral"],
        texts=["The birch canoe slid on the smooth planks."],
        votes=[votes],
        output=tmp_path / "voices.html",
        progress=False,
    )
    page = _parse(rep.path)
    assert len(page.audio) == 2 and all(s.startswith("data:audio/mpeg;base64,") for s in page.audio)
    assert len(page.img) >= 4
    _check_offline(page, rep.path)
    for shown, (_, row) in zip(page.tables["summary"], rep.summary.iterrows()):
        for col in ("voice", "wer", "ttfb_p50", "f0_mean_hz", "cost_usd"):
            assert _agree(shown[col], row[col]), (col, shown[col], row[col])
    assert rep.extra["bradley_terry"].ranking()[0] == "alloy"
    assert {r["item"] for r in page.tables["bt"]} == {"alloy", "coral"}


def test_agent_report_runs_both_architectures_and_writes_results_csv(lab, tmp_path):
    scenarios = [
        Scenario("capital", (Turn("What is the capital of France?", Check(answer=(r"paris",))),)),
        Scenario(
            "silent-turn",
            (
                Turn("Hello, can you hear me?", Check(answer=(r".",))),
                Turn(None, Check(silent=True), silence_s=2.0),
            ),
            kind="silence",
        ),
    ]
    rep = agent_report(
        lab,
        scenarios=scenarios,
        models=AgentModels(max_tokens=30),
        output=tmp_path / "agent.html",
        progress=False,
    )
    df = rep.frame
    assert list(df.columns) == RESULT_COLUMNS
    assert len(df) == 2 * 3 and set(df["architecture"]) == {"realtime", "chained"}
    silent = df[df["user_text"] == "(silence)"]
    assert len(silent) == 2 and not silent["responded"].any()  # nobody spoke, nobody answered
    spoken = df[df["user_text"] != "(silence)"]
    assert (spoken["ttfa_s"].dropna() > 0).all()
    with open(tmp_path / "results.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == RESULT_COLUMNS
        assert len(list(reader)) == len(df)
    page = _parse(rep.path)
    _check_offline(page, rep.path)
    assert len(page.img) == 2
    assert sum(s.startswith("data:audio/mpeg;base64,") for s in page.audio) >= 4  # user turns (+ replies)
    for shown, (_, row) in zip(page.tables["summary"], rep.summary.iterrows()):
        for col in (
            "architecture",
            "task_completion",
            "turn_pass_rate",
            "ttfa_p50_s",
            "ttfa_p90_s",
            "response_rate",
        ):
            assert _agree(shown[col], row[col]), (col, shown[col], row[col])
    completion = df.groupby("architecture")["scenario_passed"].first()
    assert rep.summary.set_index("architecture")["task_completion"].between(0, 1).all()
    assert set(completion.index) == {"realtime", "chained"}

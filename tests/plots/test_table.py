"""readable(): the tables students see hold no Python tuples, internal paths or needless decimals."""

from __future__ import annotations

import numpy as np
import pandas as pd

from audiolab import plots
from audiolab.plots.table import decimals_for, readable


def test_tuples_paths_and_missing_values_read_as_text():
    df = pd.DataFrame({"formats": [("json",), ["srt", "vtt"]],
                       "clip": ["moonshine_voice/assets/two_cities.wav[13.12-17.11]", "/tmp/a b/notes.txt"],
                       "wer": [np.nan, None], "usage": [{"input_tokens": 12}, None]})
    out = readable(df)
    assert out["formats"].tolist() == ["json", "srt, vtt"]
    assert out["clip"].tolist() == ["two_cities.wav 13.1–17.1 s", "/tmp/a b/notes.txt"]
    assert out["wer"].tolist() == ["–", "–"]
    assert out["usage"].tolist() == ["input_tokens: 12", "–"]
    text = out.to_html()
    assert "('json',)" not in text and "moonshine_voice/" not in text


def test_each_float_column_gets_the_decimals_its_magnitude_needs():
    df = pd.DataFrame({"f0_mean_hz": [152.3417, 98.04], "rate": [3.4217, 4.05], "wer": [0.1532, 0.0871],
                       "n": [3.0, 12.0], "lufs": [-23.417, -18.2], "delta": [-0.0004, 0.0]})
    out = readable(df)
    assert out["f0_mean_hz"].tolist() == ["152", "98"]
    assert out["rate"].tolist() == ["3.4", "4.0"]
    assert out["wer"].tolist() == ["0.15", "0.09"]
    assert out["n"].tolist() == ["3", "12"]
    assert out["lufs"].tolist() == ["-23", "-18"]
    assert out["delta"].tolist() == ["-0.00040", "0"]  # two significant digits; zero is 0
    assert readable(df, digits={"wer": 3})["wer"].tolist() == ["0.153", "0.087"]
    assert readable(df, digits=1)["f0_mean_hz"].tolist() == ["152.3", "98.0"]
    assert (decimals_for([]), decimals_for([np.nan]), decimals_for([0.0, 0.0])) == (0, 0, 0)


def test_whole_numbers_in_a_column_with_gaps_stay_whole():
    df = pd.DataFrame({"substitutions": [3, None], "bytes": [np.int64(48213), 12]}, dtype=object)
    assert readable(df).to_dict("list") == {"substitutions": ["3", "–"], "bytes": ["48,213", "12"]}


def test_series_index_and_tuple_headers_become_text():
    s = pd.Series([0.5, 0.25], index=[("json",), ("text",)], name="seconds")
    out = plots.readable(s)
    assert list(out.index) == ["json", "text"] and out["seconds"].tolist() == ["0.50", "0.25"]
    wide = pd.DataFrame([[1.5]], columns=pd.MultiIndex.from_tuples([("wer", "mean")]))
    assert list(readable(wide).columns) == ["wer, mean"]
    grouped = pd.DataFrame({"model": ["a", "a"], "voice": ["x", "y"], "s": [0.31, 0.42]}).set_index(["model", "voice"])
    assert readable(grouped).index.equals(grouped.index)  # a MultiIndex is already readable

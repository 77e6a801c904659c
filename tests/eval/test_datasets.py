"""Datasets: the bundled references and their provenance, cut points, and user-data loaders."""

from __future__ import annotations

import numpy as np
import pytest

from audiolab.audio import Audio
from audiolab.errors import InvalidRequest
from audiolab.eval import datasets
from audiolab.eval.datasets import Dataset, from_folder, from_recordings, real_speech

# Dickens, A Tale of Two Cities, Book 1 Chapter 1 (Project Gutenberg #98), the first sentence.
DICKENS = (
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
    "foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, "
    "it was the season of Darkness, it was the spring of hope, it was the winter of despair, we had "
    "everything before us, we had nothing before us, we were all going direct to Heaven, we were all going "
    "direct the other way—in short, the period was so far like the present period, that some of its "
    "noisiest authorities insisted on its being received, for good or for evil, in the superlative degree "
    "of comparison only."
)


def test_moonshine_assets_are_found_without_importing_the_package():
    import sys

    path = datasets.moonshine_asset("two_cities.wav")
    assert path.is_file() and path.parent.name == "assets"
    assert "moonshine_voice" not in sys.modules
    with pytest.raises(FileNotFoundError):
        datasets.moonshine_asset("no_such_clip.wav")


def test_real_speech_is_human_only_with_references_and_speakers():
    ds = real_speech()
    assert len(ds) == 12
    assert not any(u.synthetic for u in ds)
    assert {u.speaker for u in ds} == {"librivox_reader", "beckett_reader"}
    for u in ds:
        assert u.text and u.audio.text == u.text
        assert u.audio.duration == pytest.approx(u.meta["end_s"] - u.meta["start_s"], abs=0.01)
        assert u.source.startswith("moonshine_voice/assets/")


def test_two_cities_references_are_the_dickens_sentence_verbatim():
    cuts = [u.text for u in real_speech() if u.id.startswith("two_cities")]
    assert " ".join(cuts).replace("— ", "—") == DICKENS


def test_beckett_references_are_the_published_quotation():
    texts = [u.text for u in real_speech() if u.id.startswith("beckett")]
    assert " ".join(texts) == "Ever tried. Ever failed. No matter. Try again. Fail again. Fail better."


def test_every_bundled_recording_has_provenance():
    prov = datasets.provenance()
    refs = datasets.references()
    assert set(refs["source"]) == set(prov["files"])
    for name, info in prov["files"].items():
        assert info["text_source"] and info["recording"]
        labels = {str(v).lower() for v in refs[refs["source"] == name]["synthetic"]}
        assert labels == {str(info["synthetic"]).lower()}
    assert prov["files"]["endgame_nagg_nell.wav"]["synthetic"] is True


def test_cuts_fall_in_pauses_of_the_human_recordings():
    refs = datasets.references()
    for name in ("two_cities.wav", "beckett.wav"):
        rec = Audio.from_file(datasets.moonshine_asset(name)).to_mono()
        speech_db = rec.rms_db
        inner = sorted(
            set(refs[refs["source"] == name]["start_s"]) & set(refs[refs["source"] == name]["end_s"])
        )
        assert inner, name
        for t in inner:
            around = rec.slice(t - 0.05, t + 0.05)
            assert around.rms_db < speech_db - 10, f"{name} cut at {t} s is not in a pause"


def test_endgame_dialogue_is_synthetic_and_joins_only_on_request():
    ds = real_speech(include_synthetic=True)
    syn = [u for u in ds if u.synthetic]
    assert len(ds) == 26 and len(syn) == 14
    assert all(u.id.startswith("endgame") for u in syn)
    assert {u.speaker for u in syn} == {"zipvoice_english_male", "zipvoice_english_female"}
    assert "synthetic" in repr(ds)


def test_dataset_indexes_by_position_slice_and_id():
    ds = real_speech()
    assert ds[0].id == "two_cities-01"
    assert ds["beckett-02"].text == "Fail again. Fail better."
    assert isinstance(ds[:3], Dataset) and len(ds[:3]) == 3
    assert ds.subset(2).ids == ["two_cities-01", "two_cities-02"]
    sampled = ds.subset(4, seed=1)
    assert len(sampled) == 4 and sampled.ids == [i for i in ds.ids if i in sampled.ids]
    assert len(ds.filter(lambda u: u.speaker == "beckett_reader")) == 2
    frame = ds.to_frame()
    assert list(frame.columns) == ["id", "text", "speaker", "source", "synthetic", "duration_s", "sr"]
    assert frame["duration_s"].sum() == pytest.approx(ds.audio_seconds, abs=0.01)
    with pytest.raises(KeyError):
        ds["nope"]


def test_real_speech_can_be_resampled():
    assert {u.audio.sr for u in real_speech(sr=16000)} == {16000}


def _tone(seconds: float) -> Audio:
    return Audio.from_array(0.1 * np.sin(np.arange(int(16000 * seconds)) / 3), 16000)


def test_from_folder_reads_csv_and_txt_references(tmp_path):
    _tone(0.5).write(tmp_path / "a.wav")
    _tone(0.7).write(tmp_path / "b.flac")
    _tone(0.9).write(tmp_path / "c.wav")
    (tmp_path / "refs.csv").write_text("file,text,speaker\na.wav,hello world,ann\nb.flac,good morning,bob\n")
    (tmp_path / "c.txt").write_text("fail better\n")
    ds = from_folder(tmp_path)
    assert ds.ids == ["a", "b", "c"]
    assert ds.texts == ["hello world", "good morning", "fail better"]
    assert [u.speaker for u in ds] == ["ann", "bob", None]
    assert ds["b"].audio.duration == pytest.approx(0.7, abs=0.01)
    assert not any(u.synthetic for u in ds)


def test_from_folder_names_files_without_a_reference(tmp_path):
    _tone(0.5).write(tmp_path / "lonely.wav")
    with pytest.raises(InvalidRequest) as err:
        from_folder(tmp_path)
    assert err.value.param == "path"
    assert from_folder(tmp_path, require_text=False)[0].text == ""


def test_from_recordings_uses_clip_texts_and_keeps_synthetic_labels():
    spoken = _tone(0.5).replace(text="hello there")
    machine = _tone(0.5).with_meta(synthetic=True)
    ds = from_recordings([spoken, machine.replace(text="tts said this")])
    assert ds.texts == ["hello there", "tts said this"]
    assert [u.synthetic for u in ds] == [False, True]
    with pytest.raises(InvalidRequest):
        from_recordings([_tone(0.5)])
    with pytest.raises(InvalidRequest):
        from_recordings([spoken], ["a", "b"])

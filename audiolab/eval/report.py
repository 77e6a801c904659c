"""Shareable evaluations: run an STT or a voices evaluation and write one self-contained HTML report.

* :func:`stt_report`: transcription models on a dataset under a robustness grid (noise at set
  SNRs): corpus WER/CER with bootstrap CIs, S/D/I, RTFx, latency, cost, the worst alignments as
  coloured diffs with their audio, and the robustness curves.
* :func:`voices_report`: TTS voices: round-trip intelligibility (TTS -> STT judges -> WER),
  prosody (F0, rate, pauses, loudness), latency to first byte, cost, and Bradley-Terry strengths
  from any listening-vote files given.

Both show a progress bar, return a :class:`Report` (the path, the per-cell frame and the summary
table the HTML shows) and are what ``audiolab eval stt`` / ``audiolab eval voices`` run.

Example:
    >>> from audiolab.eval.report import stt_report
    >>> rep = stt_report(backend="local", models=["whisper-1"], output="stt.html")   # doctest: +SKIP
    >>> rep.summary[["model", "condition", "wer", "rtfx"]]                          # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audiolab.eval import html as H

__all__ = ["Report", "stt_report", "voices_report", "load_dataset", "connect_lab"]

DEFAULT_SNRS = (None, 20, 10, 0)
SUMMARY_COLS = ["model", "condition", "wer", "ci_low", "ci_high", "cer", "substitutions", "deletions",
                "insertions", "ref_words", "n", "errors", "rtfx", "latency_p50", "latency_p90", "cost_usd"]


@dataclass(frozen=True)
class Report:
    """A written report: where it is, the per-cell results and the summary table shown in it."""

    path: Path
    frame: Any
    summary: Any
    extra: dict

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


def connect_lab(lab: Any = None, backend: str | None = None):
    """``lab`` if given, else :func:`audiolab.connect` with ``backend`` (the same choices)."""
    if lab is not None:
        return lab
    from audiolab.client.lab import connect

    return connect(backend)


def load_dataset(dataset: Any, lab: Any = None):
    """(Dataset, licence text) from a Dataset, ``"real_speech"``, ``"real_speech+synthetic"``,
    ``"harvard"`` (the Harvard sentences spoken by the TTS), or a folder of clips."""
    from audiolab.eval import datasets as D

    if isinstance(dataset, D.Dataset):
        return dataset, "as provided by the caller"
    name = str(dataset or "real_speech")
    if name in ("real_speech", "real_speech+synthetic"):
        files = D.provenance()["files"]
        ds = D.real_speech(include_synthetic=name.endswith("synthetic"))
        used = {u.meta.get("recording") for u in ds}
        lic = "; ".join(f"{f}: {files[f]['license']}" for f in sorted(used) if f in files)
        return ds, f"bundled clips of the moonshine-voice wheel (MIT). {lic}"
    if name == "harvard":
        ds = D.synthetic_speech(lab, D.HARVARD_SENTENCES[:5])
        return ds, "IEEE Harvard sentences (1969), synthetic speech"
    return D.from_folder(name), f"your recordings in {name} (licence as you hold it)"


def _with_cer(summary, df):
    from audiolab.eval.metrics import score

    cers = []
    for _, r in summary.iterrows():
        g = df[(df["model"] == r["model"]) & (df["condition"] == r["condition"]) & df["error"].isna()]
        refs, hyps = g["reference"].tolist(), g["hypothesis"].tolist()
        cers.append(score(refs, hyps, n_boot=0).cer if len(g) else np.nan)
    summary = summary.copy()
    summary["cer"] = cers
    return summary[[c for c in SUMMARY_COLS if c in summary.columns]]


def _plots(*figs: tuple[str, Any]) -> str:
    out = []
    for alt, make in figs:
        try:
            out.append(H.figure(make(), alt=alt))
        except (ValueError, KeyError, IndexError) as exc:  # a plot that has no data to draw
            out.append(f'<p class="note">{H.esc(alt)}: not drawn ({H.esc(exc)})</p>')
    return "".join(out)


def _summary_and_plots(summary, figs, *, note: str) -> list[str]:
    """A report's first two sections: the summary table (with ``note``), then the ``figs``."""
    return [H.section("Summary", H.table(summary, table_id="summary"), note=note),
            H.section("Plots", _plots(*figs))]


def _worst(df, utts, n: int, conds) -> str:
    from audiolab.eval.metrics import word_diff

    ok = df[df["error"].isna() & (df["wer"] > 0)].sort_values("wer", ascending=False).head(n)
    if ok.empty:
        return '<p class="note">No errors: every hypothesis matches its reference after normalisation.</p>'
    by_name = {c.name: c for c in conds}
    rows = []
    for _, r in ok.iterrows():
        clip = by_name[r["condition"]](utts[r["clip_id"]].audio)
        rows.append({"clip_id": r["clip_id"], "model": r["model"], "condition": r["condition"],
                     "wer": r["wer"], "S": r["substitutions"], "D": r["deletions"], "I": r["insertions"],
                     "alignment": H.diff_html(word_diff(r["reference"], r["hypothesis"] or "")),
                     "audio": H.audio_player(clip)})
    import pandas as pd

    return H.table(pd.DataFrame(rows), html_cols=("alignment", "audio"), table_id="worst")


def stt_report(lab: Any = None, *, backend: str | None = None, models: Sequence[str] = ("whisper-1",),
               dataset: Any = "real_speech", snrs: Sequence[float | None] = DEFAULT_SNRS,
               noise: Sequence[str] = ("white",), output: str | Path = "stt-report.html", n_worst: int = 8,
               language: str = "en", concurrency: int = 2, progress: bool = True) -> Report:
    """Evaluate transcription models and write a self-contained HTML report.

    Args:
        lab: a connection; default :func:`audiolab.connect` with ``backend``.
        backend: ``"local"``, ``"openai"`` or a base URL (as for ``connect()``).
        models: transcription model ids.
        dataset: see :func:`load_dataset`.
        snrs, noise: the robustness grid (``None`` is the clean condition).
        output: the HTML path.
        n_worst: how many worst alignments to show.

    Returns:
        A :class:`Report`; ``summary`` is the table of the report (one row per model × condition,
        ``rtfx`` included), ``frame`` the per-cell results of :func:`audiolab.eval.runner.evaluate`.
    """
    import pandas as pd

    from audiolab import plots as P
    from audiolab.eval import perturb, runner
    from audiolab.eval.metrics import summarize

    lab = connect_lab(lab, backend)
    ds, licence = load_dataset(dataset, lab)
    conds = perturb.conditions(noise=tuple(noise), snrs=tuple(snrs))
    t0 = time.perf_counter()
    df = runner.evaluate(lab, ds, models=list(models), conditions=conds, language=language,
                         concurrency=concurrency, progress=progress)
    wall = time.perf_counter() - t0
    summary = _with_cer(summarize(df, by=["model", "condition"]), df)
    utts = {u.id: u for u in ds}
    clean = df[df["condition"] == "clean"]
    per_clip = pd.DataFrame({
        "clip_id": clean["clip_id"], "model": clean["model"], "speaker": clean["speaker"],
        "audio": [H.audio_player(utts[c].audio) for c in clean["clip_id"]], "reference": clean["reference"],
        "hypothesis": clean["hypothesis"].fillna(clean["error"].fillna("")), "wer": clean["wer"],
        "audio_seconds": clean["audio_seconds"], "latency_s": clean["latency_s"], "rtfx": clean["rtfx"]})
    noisy = [c.name for c in conds if c.params.get("snr_db") is not None]
    figs = [("WER per model and condition (95% CI)", lambda: P.plot_wer(df)),
            ("Substitutions, deletions, insertions", lambda: P.plot_sdi(df)),
            ("WER against RTFx", lambda: P.plot_wer_vs_rtfx(df[df["condition"] == "clean"])),
            ("Latency CDF", lambda: P.plot_latency_cdf(df))]
    if noisy:
        figs.insert(1, ("Robustness: WER against SNR", lambda: P.plot_wer_vs_snr(df)))
    best = summary[summary["condition"] == "clean"].sort_values("wer").head(1)
    lead = (f"{len(ds)} clips ({ds.audio_seconds:.0f} s of audio) × {len(models)} model(s) × {len(conds)} "
            f"condition(s) in {wall:.0f} s.")
    if not best.empty:
        b = best.iloc[0]
        lead += f" Lowest clean WER: {b['model']} at {b['wer']:.1%} [{b['ci_low']:.1%}, {b['ci_high']:.1%}]."
    sections = [
        *_summary_and_plots(
            summary, figs,
            note="Corpus WER = (S+D+I)/N after Whisper's normaliser; 95% bootstrap CI over clips; "
                 "RTFx = audio seconds / request seconds (higher is faster), measured through the API."),
        H.section("Worst alignments", _worst(df, utts, n_worst, conds),
                  note="Substitutions ref→hyp on orange, deletions struck on red, insertions on green."),
        H.section("Every clip (clean)", H.table(per_clip, html_cols=("audio",), table_id="clips")),
    ]
    import os

    prov = H.provenance(lab, dataset=f"{ds.name} ({len(ds)} clips)", licence=licence,
                        models=", ".join(models),
                        conditions=", ".join(c.name for c in conds),
                        **{"load average at the end": ", ".join(f"{x:.2f}" for x in os.getloadavg())})
    return _write(output, H.document("Speech-to-text evaluation", sections, provenance=prov, summary=lead),
                  df, summary, {"wall_s": wall})


def _write(output, page: str, df, summary, extra: dict) -> Report:
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return Report(path=path, frame=df, summary=summary, extra=extra)


def _load_votes(votes) -> Any:
    import pandas as pd

    if votes is None:
        return None
    items = votes if isinstance(votes, (list, tuple)) else [votes]
    frames = [v if isinstance(v, pd.DataFrame) else pd.read_csv(v) for v in items]
    return pd.concat(frames, ignore_index=True) if frames else None


def _speak(lab, text: str, *, voice: str, model: str):
    """(Audio, seconds to first byte, seconds in total, history row or None) of one TTS request."""
    from audiolab.audio import Audio

    n = len(lab.history) if getattr(lab, "history", None) is not None else None
    t0 = time.perf_counter()
    first, chunks = None, []
    with lab.client.audio.speech.with_streaming_response.create(model=model, voice=voice, input=text,
                                                                response_format="wav") as resp:
        for chunk in resp.iter_bytes(4096):
            if first is None and chunk:
                first = time.perf_counter() - t0
            chunks.append(chunk)
    total = time.perf_counter() - t0
    row = None
    if n is not None:
        frame = lab.history.frame
        row = frame.iloc[n] if len(frame) > n else None
    clip = Audio.from_bytes(b"".join(chunks), source=f"{model}/{voice}", text=text)
    return clip, first if first is not None else total, total, row


def voices_report(lab: Any = None, *, backend: str | None = None, voices: Sequence[str] = ("alloy", "coral"),
                  tts_model: str = "gpt-4o-mini-tts", judges: Sequence[str] = ("whisper-1",),
                  texts: Sequence[str] | None = None, votes: Any = None,
                  output: str | Path = "voices-report.html", progress: bool = True) -> Report:
    """Evaluate TTS voices and write a self-contained HTML report.

    Args:
        lab, backend: as in :func:`stt_report`.
        voices: voice names to compare.
        tts_model: the speech model.
        judges: transcription models that score intelligibility (round trip).
        texts: sentences to speak (default: five Harvard sentences).
        votes: listening votes (CSV path(s) or DataFrame(s) with columns ``a, b, winner``) for
            Bradley-Terry strengths.
        output: the HTML path.

    Returns:
        A :class:`Report`; ``summary`` has one row per voice (and judge): wer, ci, RTFx of the
        judge, TTS latency p50/p90, cost, and the prosody means.
    """
    import os

    import pandas as pd
    from tqdm.auto import tqdm

    from audiolab import plots as P
    from audiolab.eval import runner
    from audiolab.eval.datasets import HARVARD_SENTENCES, Dataset, Utterance
    from audiolab.eval.metrics import as_spoken, summarize
    from audiolab.eval.preference import bradley_terry
    from audiolab.eval.prosody import prosody

    lab = connect_lab(lab, backend)
    texts = list(texts or HARVARD_SENTENCES[:5])
    utts, rows = [], []
    for voice in tqdm([v for v in voices for _ in texts], desc="speak", unit="clip", disable=not progress):
        i = sum(1 for u in utts if u.speaker == voice)
        text = texts[i]
        clip, ttfb, total, hist = _speak(lab, text, voice=voice, model=tts_model)
        spoken = as_spoken(text)
        uid = f"{voice}-{i + 1:02d}"
        utts.append(Utterance(id=uid, audio=clip.replace(text=spoken), text=spoken, speaker=voice,
                              source=f"{tts_model}/{voice}", synthetic=True, meta={"voice": voice}))
        p = prosody(clip, text=spoken).to_dict()
        cost = float(hist["cost_usd"]) if hist is not None and pd.notna(hist["cost_usd"]) else np.nan
        rows.append({"clip_id": uid, "voice": voice, "text": text, "audio_seconds": clip.duration,
                     "ttfb_s": ttfb, "latency_s": total, "cost_usd": cost,
                     **{k: v for k, v in p.items() if k != "speaking_rate_unit"}})
    clips = pd.DataFrame(rows)
    ds = Dataset(utts, name=f"synthetic:{tts_model}")
    rt = runner.evaluate(lab, ds, models=list(judges), progress=progress, concurrency=2)
    rt.insert(1, "voice", [ds[u].speaker for u in rt["clip_id"]])
    intel = summarize(rt, by=["voice", "model"]).rename(columns={"model": "judge", "rtfx": "judge_rtfx"})
    feats = ["f0_mean_hz", "f0_range_semitones", "speaking_rate", "articulation_rate", "pause_ratio", "lufs"]
    per_voice = clips.groupby("voice", sort=False).agg(
        clips=("clip_id", "size"), audio_seconds=("audio_seconds", "sum"),
        ttfb_p50=("ttfb_s", "median"), ttfb_p90=("ttfb_s", lambda s: float(np.percentile(s, 90))),
        latency_p50=("latency_s", "median"), cost_usd=("cost_usd", lambda s: float(s.sum(min_count=1))),
        **{f: (f, "mean") for f in feats}).reset_index()
    per_voice["cost_per_min_usd"] = per_voice["cost_usd"] / (per_voice["audio_seconds"] / 60)
    summary = intel[["voice", "judge", "wer", "ci_low", "ci_high", "substitutions", "deletions", "insertions",
                     "n", "judge_rtfx"]].merge(per_voice, on="voice", how="left")
    bt_html, bt = "", None
    vote_df = _load_votes(votes)
    if vote_df is not None and len(vote_df):
        bt = bradley_terry(vote_df)
        bt_html = H.section("Listener preference (Bradley–Terry)", H.table(bt.to_frame(), table_id="bt"),
                            H.figure(P.plot_bradley_terry(bt), alt="Bradley-Terry strengths"),
                            note=f"{len(vote_df)} votes; 95% bootstrap intervals over votes.")
    first = {v: next(u.audio for u in utts if u.speaker == v) for v in voices}
    figs = [("Round-trip WER per voice (95% CI)",
             lambda: P.plot_wer(rt.assign(model=rt["voice"] + " / " + rt["model"]))),
            ("Prosody per voice (min-max scaled)",
             lambda: P.plot_voice_features(per_voice.set_index("voice")[feats])),
            ("F0 contours of the first sentence", lambda: P.plot_f0_contours(first)),
            ("TTS request latency", lambda: P.plot_latency_cdf(clips, by="voice"))]
    clip_table = clips.assign(audio=[H.audio_player(u.audio) for u in utts],
                              heard=[rt.loc[rt["clip_id"] == u.id, "hypothesis"].iloc[0] for u in utts],
                              wer=[rt.loc[rt["clip_id"] == u.id, "wer"].iloc[0] for u in utts])
    clip_table = clip_table[["clip_id", "voice", "audio", "text", "heard", "wer", "audio_seconds", "ttfb_s",
                             "latency_s", "cost_usd"] + feats]
    sections = [
        *_summary_and_plots(
            summary, figs,
            note="WER of the judge model(s) on each voice's speech (round trip: text → TTS → STT); "
                 "judge_rtfx = audio seconds / transcription request seconds; ttfb = time to the first "
                 "audio byte of the speech request; prosody columns are means over the voice's clips."),
        bt_html,
        H.section("Every clip", H.table(clip_table, html_cols=("audio",), table_id="clips")),
    ]
    prov = H.provenance(lab, dataset=f"{len(texts)} sentences × {len(voices)} voices",
                        licence="IEEE Harvard sentences (1969) unless texts were given; speech synthesised "
                                "in this run (synthetic)",
                        models=f"TTS {tts_model}; judges {', '.join(judges)}", voices=", ".join(voices),
                        **{"load average at the end": ", ".join(f"{x:.2f}" for x in os.getloadavg())})
    lead = ", ".join(f"{r.voice}: WER {r.wer:.1%} ({r.judge})" for r in summary.itertuples())
    page = H.document("Voices evaluation", sections, provenance=prov,
                      summary=f"Round-trip intelligibility: {lead}.")
    extra_cols = clips.drop(columns=["voice", "audio_seconds", "latency_s", "cost_usd"])
    return _write(output, page, rt.merge(extra_cols, on="clip_id", how="left"),
                  summary, {"clips": clip_table, "bradley_terry": bt})

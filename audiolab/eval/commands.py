"""The ``audiolab eval`` subcommands: ``stt``, ``voices`` and ``agent``, each writing one HTML report.

Examples (shell)::

    audiolab eval stt --backend local --models whisper-1,gpt-4o-mini-transcribe --output stt.html
    audiolab eval voices --voices alloy,coral --votes votes.csv --output voices.html
    audiolab eval agent --backend openai --output agent/agent-report.html   # with OPENAI_API_KEY
"""

from __future__ import annotations

import argparse
import os

__all__ = ["add_eval_parser", "run_eval"]


def _list(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def add_eval_parser(sub) -> None:
    """Register ``eval`` with its three subcommands on an argparse subparsers object."""
    ev = sub.add_parser("eval", help="run an evaluation and write a self-contained HTML report")
    kinds = ev.add_subparsers(dest="eval_kind", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--backend",
        default=None,
        help="'local', 'openai' or a base URL, as for audiolab.connect() (default: "
        "AUDIOLAB_BACKEND, else openai with OPENAI_API_KEY, else local)",
    )
    common.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    stt = kinds.add_parser("stt", parents=[common], help="WER/CER, S/D/I, RTFx, robustness of STT models")
    stt.add_argument("--models", default="whisper-1", help="comma-separated transcription models")
    stt.add_argument(
        "--dataset",
        default="real_speech",
        help="real_speech, real_speech+synthetic, harvard, or a folder of clips with references",
    )
    stt.add_argument(
        "--snrs", default="clean,20,10,0", help="comma-separated SNRs in dB ('clean' = no noise)"
    )
    stt.add_argument("--noise", default="white", help="comma-separated noise kinds (white, pink, babble)")
    stt.add_argument("--output", default="stt-report.html", help="the HTML file to write")
    voices = kinds.add_parser(
        "voices", parents=[common], help="intelligibility, prosody, latency, cost of voices"
    )
    voices.add_argument("--voices", default="alloy,coral", help="comma-separated voices")
    voices.add_argument("--tts-model", default="gpt-4o-mini-tts", help="the speech model")
    voices.add_argument("--models", default="whisper-1", help="comma-separated judge transcription models")
    voices.add_argument("--texts", default=None, help="a text file, one sentence per line (default: Harvard)")
    voices.add_argument(
        "--votes", action="append", default=None, help="a CSV of votes (a,b,winner); repeatable"
    )
    voices.add_argument("--output", default="voices-report.html", help="the HTML file to write")
    agent = kinds.add_parser(
        "agent", parents=[common], help="scripted voice-agent scenarios, realtime vs chained"
    )
    agent.add_argument("--realtime-model", default="gpt-realtime-mini")
    agent.add_argument("--chat-model", default="gpt-4o-mini")
    agent.add_argument("--stt-model", default="gpt-4o-mini-transcribe")
    agent.add_argument("--tts-model", default="gpt-4o-mini-tts")
    agent.add_argument("--voice", default="marin", help="the assistant's voice")
    agent.add_argument("--architectures", default="realtime,chained")
    agent.add_argument(
        "--output",
        default="agent-report/agent-report.html",
        help="the HTML file to write; results.csv goes beside it",
    )


def _print_rows(rep, line) -> None:
    """One printed line per row of the report's summary (``line`` formats a row)."""
    for r in rep.summary.itertuples():
        print(line(r))


def run_eval(args) -> int:
    """Run the chosen evaluation; prints where the report is and its headline numbers."""
    common = dict(backend=args.backend, output=args.output, progress=not args.no_progress)
    if args.eval_kind == "stt":
        from audiolab.eval.report import stt_report

        snrs = [None if s.lower() == "clean" else float(s) for s in _list(args.snrs) or ["clean"]]
        rep = stt_report(
            **common, models=_list(args.models), dataset=args.dataset, snrs=snrs, noise=_list(args.noise) or ()
        )
        _print_rows(
            rep,
            lambda r: f"{r.model} · {r.condition}: WER {r.wer:.1%} [{r.ci_low:.1%}, {r.ci_high:.1%}], "
            f"RTFx {r.rtfx:.2f}",
        )
    elif args.eval_kind == "voices":
        from audiolab.eval.report import voices_report

        texts = None
        if args.texts:
            with open(args.texts, encoding="utf-8") as fh:
                texts = [line.strip() for line in fh if line.strip()]
        rep = voices_report(
            **common,
            voices=_list(args.voices),
            tts_model=args.tts_model,
            judges=_list(args.models),
            texts=texts,
            votes=args.votes,
        )
        _print_rows(
            rep, lambda r: f"{r.voice} (judge {r.judge}): round-trip WER {r.wer:.1%}, first byte P50 {r.ttfb_p50:.2f} s"
        )
    else:
        from audiolab.eval.agent_eval import AgentModels
        from audiolab.eval.agent_report import agent_report

        m = AgentModels(
            realtime=args.realtime_model,
            chat=args.chat_model,
            stt=args.stt_model,
            tts=args.tts_model,
            voice=args.voice,
        )
        rep = agent_report(**common, models=m, architectures=_list(args.architectures))
        _print_rows(
            rep,
            lambda r: f"{r.architecture}: task completion rate {r.task_completion:.0%} ({r.scenarios} scenarios), "
            f"first audio P50 {r.ttfa_p50_s:.2f} s / P90 {r.ttfa_p90_s:.2f} s, "
            f"barge-in stop {r.barge_in_stop_ms:.0f} ms, response rate {r.response_rate:.0%}",
        )
        print(f"results: {rep.extra['results_csv']}; run time {rep.extra['wall_s']:.0f} s")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"report: {rep.path} ({rep.size_bytes / 1e6:.1f} MB); load average {load}")
    return 0

"""Benchmark the local audio backend over real HTTP and print the ratios issue #3 asks for.

    .venv/bin/python bench/local_audio.py [--repeats 3] [--skip-stt]

Prints:
- TTS time to first byte ÷ full streamed synthesis time, 3-sentence input (goal ≤ 1/3, TTFB ≤ 250 ms);
- the same for Kokoro (voice ``coral``; goal TTFB ≤ 350 ms on an idle machine);
- seconds of compute per second of audio for every engine (Piper, Kokoro, eSpeak NG direct, whisper
  through the engine): wall seconds and CPU seconds of this process, with the load average;
- TTS real-time factor (synthesis seconds per audio second; lower is faster), direct and via HTTP;
- STT RTFx (audio seconds per processing second) through HTTP ÷ the direct engine call
  (goal ≥ 0.9), on two_cities.wav with whisper-base.

Engines are warmed up first (a running server has them loaded); each figure is the median of
``--repeats`` runs. The machine is whatever runs this: share it and the figures get noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audiolab.audio import Audio  # noqa: E402
from audiolab.server.engines import ProsodyRequest  # noqa: E402

THREE_SENTENCES = ("The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst "
                   "of times. Then the old clock in the hall struck twelve, and everyone went to bed.")
TTFB_GOAL_S = 0.250
KOKORO_TTFB_GOAL_S = 0.350
KOKORO_VOICE = "coral"
#: One voice per TTS engine, for the compute-per-audio-second table.
ENGINE_VOICES = {"piper": "alloy", "kokoro": KOKORO_VOICE, "espeak": "espeak-en-us"}
TTFB_RATIO_GOAL = 1 / 3
STT_RATIO_GOAL = 0.9


def _median(values) -> float:
    return statistics.median(values)


# ---- TTS ----------------------------------------------------------------------------------

def tts_streaming(lab, *, voice: str = "alloy", fmt: str = "mp3", repeats: int = 3) -> dict:
    """Time to first byte and to the last byte of a streamed 3-sentence ``/v1/audio/speech``."""
    lab.client.audio.speech.create(model="gpt-4o-mini-tts", voice=voice, input="Warm up.", response_format=fmt)
    ttfb, total, seconds = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        first, parts = None, []
        with lab.client.audio.speech.with_streaming_response.create(
                model="gpt-4o-mini-tts", voice=voice, input=THREE_SENTENCES, response_format=fmt) as resp:
            for chunk in resp.iter_bytes(None):
                if first is None:
                    first = time.perf_counter() - start
                parts.append(chunk)
        total.append(time.perf_counter() - start)
        ttfb.append(first)
        seconds.append(Audio.from_bytes(b"".join(parts)).duration)
    return {"ttfb_s": _median(ttfb), "total_s": _median(total), "audio_s": _median(seconds)}


def tts_direct_rtf(registry, *, voice: str = "alloy", repeats: int = 3) -> float:
    """Synthesis seconds per audio second, calling the engine directly (no HTTP, no encoding)."""
    return tts_compute(registry, voice=voice, repeats=repeats)["wall"]


def tts_compute(registry, *, voice: str, repeats: int = 3) -> dict:
    """Wall and CPU seconds per second of audio of the 3-sentence text, engine called directly.

    CPU seconds are this process's (``time.process_time``): what the engine computed, whatever
    else loads the machine; wall seconds include waiting for a core.
    """
    from audiolab.server.registry import VOICES

    spec = VOICES[voice]
    engine = registry.engine(spec.engine)
    list(engine.synthesize("Warm up.", voice=spec, prosody=ProsodyRequest()))
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        clips = list(engine.synthesize(THREE_SENTENCES, voice=spec, prosody=ProsodyRequest()))
        seconds = sum(c.duration for c in clips)
        wall.append((time.perf_counter() - start) / seconds)
        cpu.append((time.process_time() - start_cpu) / seconds)
    return {"wall": _median(wall), "cpu": _median(cpu)}


# ---- STT (RTFx through HTTP ÷ direct engine) ---------------------------------------------

def stt_http_vs_direct(lab, registry, *, repeats: int = 3) -> dict | None:
    """STT RTFx through ``/v1/audio/transcriptions`` and through a direct engine call, same engine.

    Returns ``None`` when the whisper engine is not installed. The direct call uses the very
    engine instance the server holds (same weights, same threads), so the ratio is the cost
    of HTTP, multipart upload, decoding and response shaping.
    """
    import importlib.util

    if importlib.util.find_spec("audiolab.server.engines.whisper") is None:
        return None
    from audiolab.server.registry import MODELS

    spec = MODELS["whisper-base"]
    if not registry.available(spec):
        return None
    engine = registry.engine_for(spec)
    path = _two_cities()
    clip = Audio.from_file(path)
    data = path.read_bytes()
    engine.transcribe(clip.slice(0, 3), language="en")  # warm-up
    direct, http = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        engine.transcribe(Audio.from_bytes(data), language="en")  # decode included, as the route does
        direct.append(clip.duration / (time.perf_counter() - start))
        start = time.perf_counter()
        lab.client.audio.transcriptions.create(model="whisper-1", file=(path.name, data), language="en")
        http.append(clip.duration / (time.perf_counter() - start))
    return {"direct_rtfx": _median(direct), "http_rtfx": _median(http), "audio_s": clip.duration}


def _two_cities() -> Path:
    try:
        from audiolab.eval.datasets import moonshine_asset

        return Path(moonshine_asset("two_cities.wav"))
    except ImportError:
        import importlib.util

        spec = importlib.util.find_spec("moonshine_voice")
        return Path(next(iter(spec.submodule_search_locations))) / "assets" / "two_cities.wav"


# ---- report -------------------------------------------------------------------------------

def _load() -> str:
    return "(" + ", ".join(f"{x:.1f}" for x in os.getloadavg()) + ")"


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--voice", default="alloy")
    parser.add_argument("--skip-stt", action="store_true")
    args = parser.parse_args(argv)

    import audiolab
    from audiolab.client.lab import local_server

    os.environ.setdefault("AUDIOLAB_RESPONSE_CACHE", "0")  # repeats measure synthesis, not a cache hit
    lab = audiolab.connect("local", environ={})
    registry = local_server().app.state.registry

    s = tts_streaming(lab, voice=args.voice, repeats=args.repeats)
    ratio = s["ttfb_s"] / s["total_s"]
    print(f"TTS streamed, 3 sentences ({s['audio_s']:.1f} s of audio, voice {args.voice}, mp3):")
    print(f"  time to first byte      {s['ttfb_s'] * 1000:7.0f} ms   goal <= {TTFB_GOAL_S * 1000:.0f} ms   "
          f"{_verdict(s['ttfb_s'] <= TTFB_GOAL_S)}")
    print(f"  full synthesis (stream) {s['total_s'] * 1000:7.0f} ms")
    print(f"  TTFB / full             {ratio:7.3f}      goal <= {TTFB_RATIO_GOAL:.3f}     "
          f"{_verdict(ratio <= TTFB_RATIO_GOAL)}")
    print(f"TTS RTF (lower is faster): direct {tts_direct_rtf(registry, voice=args.voice, repeats=args.repeats):.3f}, "
          f"HTTP stream {s['total_s'] / s['audio_s']:.3f}")
    k = tts_streaming(lab, voice=KOKORO_VOICE, repeats=args.repeats)
    print(f"Kokoro streamed, 3 sentences ({k['audio_s']:.1f} s of audio, voice {KOKORO_VOICE}, mp3):")
    print(f"  time to first byte      {k['ttfb_s'] * 1000:7.0f} ms   "
          f"goal <= {KOKORO_TTFB_GOAL_S * 1000:.0f} ms (idle)   "
          f"{_verdict(k['ttfb_s'] <= KOKORO_TTFB_GOAL_S)}   load average {_load()}")
    print(f"  full synthesis (stream) {k['total_s'] * 1000:7.0f} ms   "
          f"TTFB / full {k['ttfb_s'] / k['total_s']:.3f}")
    print("Seconds of compute per second of audio (3 sentences, engine called directly):")
    for family, voice in ENGINE_VOICES.items():
        c = tts_compute(registry, voice=voice, repeats=args.repeats)
        print(f"  {family:8} ({voice:12}) wall {c['wall']:6.3f}   CPU {c['cpu']:6.3f}   "
              f"load average {_load()}")
    if args.skip_stt:
        return 0
    stt = stt_http_vs_direct(lab, registry, repeats=args.repeats)
    if stt is None:
        print("STT RTFx HTTP / direct: skipped (whisper engine not installed)")
        return 0
    print(f"  {'whisper':8} ({'whisper-base':12}) wall {1 / stt['direct_rtfx']:6.3f}   "
          f"(1 / RTFx, two_cities.wav)   load average {_load()}")
    r = stt["http_rtfx"] / stt["direct_rtfx"]
    print(f"STT whisper-base on two_cities.wav ({stt['audio_s']:.1f} s): RTFx direct {stt['direct_rtfx']:.1f}, "
          f"HTTP {stt['http_rtfx']:.1f}")
    print(f"  RTFx HTTP / direct      {r:7.3f}      goal >= {STT_RATIO_GOAL:.2f}      {_verdict(r >= STT_RATIO_GOAL)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Prosody for the local TTS engines: from ``instructions`` words to numbers, and the DSP that applies them.

OpenAI's ``gpt-4o-mini-tts`` takes free-text ``instructions`` ("Whisper softly", "speak slowly and
calmly", "excited!"). The local engines cannot read intent, so this module maps instruction *words*
to a :class:`~audiolab.server.engines.ProsodyRequest` through one documented table, :data:`RULES`
(``python -m audiolab.server.engines.prosody`` prints it as Markdown). Each matching rule
multiplies rate, pitch, volume, pause length and pitch range, or asks for a breathy (whispered)
voice. An intensifier right before the word ("very slowly") applies the rule 1.5 times over; a
negation ("not too fast", "don't whisper") skips it.

The DSP helpers are shared by the Piper and eSpeak NG engines (which cut text into pieces with
:mod:`audiolab.server.text_pieces`): pitch and pitch-range changes (Praat PSOLA through
parselmouth), exact time-stretching, a whisper effect (noise excitation through random STFT
phase), pause stretching, edge trimming and level. They take and return float32 numpy arrays at
a given rate; no HTTP here.

Example:
    >>> from audiolab.server.engines.prosody import from_instructions
    >>> p = from_instructions("Speak slowly and calmly.")
    >>> p.rate < 1.0, p.pause > 1.0, p.pitch_range < 1.0
    (True, True, True)
    >>> from_instructions("Whisper softly").breathy
    True
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from audiolab.audio import Audio
from audiolab.server import text_pieces
from audiolab.server.engines import NEUTRAL_PROSODY, ProsodyRequest

__all__ = [
    "by_sentence",
    "Rule",
    "RULES",
    "LIMITS",
    "from_instructions",
    "matched_rules",
    "markdown_table",
    "change_pitch",
    "time_stretch",
    "whisperize",
    "stretch_pauses",
    "trim_silence",
    "set_level",
    "silence",
    "finish_sentence",
    "NORMAL_PEAK",
]


@dataclass(frozen=True)
class Rule:
    """One row of the instruction table: a word pattern and what it does to prosody.

    Multipliers compose by product; ``breathy=True`` turns on the whisper voice.
    """

    pattern: str
    rate: float = 1.0
    pitch: float = 1.0
    volume: float = 1.0
    pause: float = 1.0
    pitch_range: float = 1.0
    breathy: bool = False
    note: str = ""


# The instruction table (data, documented in the README). Patterns are regexes matched on
# lower-cased words, anchored at a word start.
RULES: tuple[Rule, ...] = (
    Rule(r"whisper\w*|hush\w*|breath(y|ily|less)", volume=0.4, rate=0.95, pitch_range=0.8, breathy=True,
         note="whispered: noise-excited voice, much quieter"),
    Rule(r"soft(ly)?\b|quiet(ly)?\b|gentl[ey]\w*|murmur\w*", volume=0.6, pitch_range=0.85, note="quieter"),
    Rule(r"loud(ly|er)?\b|shout\w*|yell\w*", volume=1.4, pitch=1.05, pitch_range=1.2, note="louder"),
    Rule(r"slow(ly|er)?\b|unhurried|leisurel\w*|deliberate\w*", rate=0.72, pause=1.3, note="slower"),
    Rule(r"fast(er)?\b|quick(ly|er)?\b|rapid\w*|hurried\w*|brisk\w*", rate=1.35, pause=0.75, note="faster"),
    Rule(r"calm\w*|relax\w*|sooth\w*|serene\w*|peaceful\w*|meditat\w*", rate=0.9, pitch=0.97, pause=1.4,
         pitch_range=0.7, volume=0.85, note="calm: slower, flatter, longer pauses"),
    Rule(r"excit\w*|enthusias\w*|energ\w*|thrill\w*|cheer\w*|upbeat|happ(y|ily)|joy\w*|lively",
         rate=1.12, pitch=1.15, pitch_range=1.6, pause=0.8, volume=1.15, note="excited: higher, wider, quicker"),
    Rule(r"sad\w*|somber\w*|sombre\w*|melanchol\w*|gloom\w*|tired\w*|weary", rate=0.85, pitch=0.93,
         pitch_range=0.6, volume=0.8, pause=1.3, note="sad: lower, flatter, slower"),
    Rule(r"ang(ry|rily)|stern\w*|firm(ly)?\b|forceful\w*|intense\w*", rate=1.05, pitch=0.97, pitch_range=1.3,
         volume=1.25, pause=0.9, note="firm: louder, more contour"),
    Rule(r"dramatic\w*|theatric\w*|suspense\w*|narrat\w*|storytell\w*", rate=0.92, pitch_range=1.35, pause=1.5,
         note="dramatic: longer pauses, wider contour"),
    Rule(r"pause\w*", pause=1.6, note="longer pauses"),
    Rule(r"monoton\w*|flat(ly)?\b|robot\w*|deadpan", pitch_range=0.25, note="monotone"),
    Rule(r"deep(er|ly)?\b|low(er)?[- ]pitch\w*|low(er)? voice|bass", pitch=0.85, note="lower pitch"),
    Rule(r"high(er)?[- ]pitch\w*|high(er)? voice|squeak\w*", pitch=1.2, note="higher pitch"),
    Rule(r"!", rate=1.03, pitch=1.04, pitch_range=1.15, note="each '!' (at most 3): a little more energy"),
)

_INTENSIFIERS = frozenset({"very", "really", "extremely", "super", "so", "quite", "incredibly", "especially"})
_NEGATIONS = frozenset({"not", "don't", "dont", "never", "no", "without", "isn't", "aren't", "doesn't", "nor"})
_INTENSITY = 1.5

#: Clamp range of each field after the rules are combined.
LIMITS = {"rate": (0.5, 2.0), "pitch": (0.7, 1.45), "volume": (0.2, 1.4), "pause": (0.3, 3.0),
          "pitch_range": (0.1, 2.5)}

_COMPILED = tuple(re.compile(r"(?<![\w'])(?:" + r.pattern + ")" if r.pattern != "!" else "!") for r in RULES)
_WORD = re.compile(r"[\w']+")


def matched_rules(instructions: str | None) -> list[tuple[Rule, float]]:
    """The rules an instruction text triggers, each with its strength (1.0, or 1.5 if intensified).

    Example:
        >>> [(r.note, k) for r, k in matched_rules("very slowly")]
        [('slower', 1.5)]
    """
    if not instructions:
        return []
    text = instructions.lower().replace("\u2019", "'")
    out: list[tuple[Rule, float]] = []
    for rule, rx in zip(RULES, _COMPILED):
        if rule.pattern == "!":
            n = min(text.count("!"), 3)
            out += [(rule, 1.0)] * n
            continue
        for m in rx.finditer(text):
            before = _WORD.findall(text[: m.start()])[-3:]
            if any(w in _NEGATIONS for w in before):
                continue
            strength = _INTENSITY if before and before[-1] in _INTENSIFIERS else 1.0
            out.append((rule, strength))
            break  # a rule counts once, however often its word appears
    return out


def from_instructions(instructions: str | None, *, base: ProsodyRequest = NEUTRAL_PROSODY) -> ProsodyRequest:
    """The :class:`ProsodyRequest` that ``instructions`` ask for, on top of ``base``.

    Words without a rule are ignored (the result is then ``base``). Each field is clamped to
    :data:`LIMITS` so a pile-up of words stays intelligible.

    Example:
        >>> from_instructions("excited!").pitch > 1.0
        True
        >>> from_instructions("Don't whisper").breathy
        False
    """
    fields = {k: getattr(base, k) for k in LIMITS}
    breathy = base.breathy
    for rule, strength in matched_rules(instructions):
        for k in LIMITS:
            fields[k] *= getattr(rule, k) ** strength
        breathy = breathy or rule.breathy
    clamped = {k: float(min(max(v, LIMITS[k][0]), LIMITS[k][1])) for k, v in fields.items()}
    return replace(base, breathy=breathy, **clamped)


def markdown_table() -> str:
    """The instruction table as Markdown, for the README."""
    rows = ["| words (regex) | rate | pitch | volume | pauses | pitch range | whisper | effect |",
            "|---|---|---|---|---|---|---|---|"]
    for r in RULES:
        factors = [getattr(r, k) for k in ("rate", "pitch", "volume", "pause", "pitch_range")]
        cells = ["`" + r.pattern.replace("|", "\\|") + "`"] + [f"×{f:g}" if f != 1.0 else "" for f in factors]
        rows.append("| " + " | ".join(cells + ["yes" if r.breathy else "", r.note]) + " |")
    return "\n".join(rows)


# ---- DSP ---------------------------------------------------------------------------------

#: Peak level of speech at volume=1 (-3 dBFS): headroom for volume up to 1.4 without clipping.
NORMAL_PEAK = 0.7
_EDGE_S = 0.04
# Praat keeps global state and parselmouth gives no thread-safety promise: one call at a time.
_PRAAT = threading.Lock()


def silence(sr: int, seconds: float) -> np.ndarray:
    return np.zeros(max(0, int(round(seconds * sr))), dtype=np.float32)


def _sound(samples: np.ndarray, sr: int):
    import parselmouth

    return parselmouth.Sound(np.asarray(samples, dtype=np.float64), sampling_frequency=sr)


def change_pitch(samples: np.ndarray, sr: int, *, ratio: float = 1.0, range_factor: float = 1.0,
                 floor: float = 60.0, ceiling: float = 600.0) -> np.ndarray:
    """Scale the F0 contour by ``ratio`` and its spread (in semitones) by ``range_factor``, keeping timing.

    Praat's pitch-synchronous overlap-add (PSOLA): each F0 value f becomes
    ``c·ratio·(f/c)**range_factor`` where ``c`` is the contour's mean, so ``range_factor=2``
    doubles its excursions in musical (log) terms. Unvoiced input comes back unchanged.
    """
    if abs(ratio - 1) < 1e-3 and abs(range_factor - 1) < 1e-3 or len(samples) < sr // 10:
        return samples
    with _PRAAT:  # the import too: parselmouth.praat is not safe to import from two threads
        from parselmouth.praat import call

        manip = call(_sound(samples, sr), "To Manipulation", 0.01, floor, ceiling)
        tier = call(manip, "Extract pitch tier")
        if call(tier, "Get number of points") < 3:
            return samples
        if abs(range_factor - 1) < 1e-3:
            call(tier, "Formula", f"self * {ratio!r}")
        else:  # the centre of the contour, in Hz (Praat has no median of a tier)
            centre = call(tier, "Get mean (points)", 0, 0)
            call(tier, "Formula", f"{centre * ratio!r} * (self / {centre!r}) ^ {range_factor!r}")
        call([tier, manip], "Replace pitch tier")
        out = call(manip, "Get resynthesis (overlap-add)").values[0]
    return out.astype(np.float32)


def time_stretch(samples: np.ndarray, sr: int, factor: float, *, floor: float = 60.0,
                 ceiling: float = 600.0) -> np.ndarray:
    """Make the clip ``factor`` times as long without changing its pitch (Praat PSOLA).

    Large factors are applied in stages of at most ×2 (or ÷2), where overlap-add stays clean.
    """
    if abs(factor - 1) < 0.01 or len(samples) == 0:
        return samples
    stages = max(1, math.ceil(abs(math.log2(factor)) - 1e-9))
    step = factor ** (1 / stages)
    with _PRAAT:
        from parselmouth.praat import call

        snd = _sound(samples, sr)
        for _ in range(stages):
            snd = call(snd, "Lengthen (overlap-add)", floor, ceiling, step)
        out = snd.values[0].astype(np.float32)
    want = int(round(len(samples) * factor))  # overlap-add rounds to periods: make it exact
    return out[:want] if len(out) >= want else np.concatenate([out, silence(sr, (want - len(out)) / sr)])


def whisperize(samples: np.ndarray, sr: int, *, seed: int = 0) -> np.ndarray:
    """A whispered version: the spectral envelope kept, the voicing replaced by noise.

    Each 23 ms STFT frame keeps only its spectral envelope (the magnitude smoothed over 400 Hz,
    which erases the harmonics) and gets random phase: the formants stay, the periodicity goes,
    which is what a whisper is, the vocal tract excited by turbulence instead of vocal-fold
    pulses. The band under 300 Hz, where voicing lives, is attenuated.
    """
    if len(samples) < 64:
        return samples
    from scipy.ndimage import uniform_filter1d
    from scipy.signal import istft, stft

    nper = 1 << max(6, int(round(math.log2(0.023 * sr))))
    _, _, spec = stft(samples, sr, nperseg=nper, noverlap=nper * 3 // 4)
    envelope = uniform_filter1d(np.abs(spec), size=max(1, round(400 / (sr / nper))), axis=0)
    freqs = np.fft.rfftfreq(nper, 1 / sr)
    weight = np.where(freqs < 300, 0.25, 1.0)[:, None]
    rng = np.random.default_rng(seed)
    noisy = envelope * weight * np.exp(2j * np.pi * rng.random(spec.shape))
    _, out = istft(noisy, sr, nperseg=nper, noverlap=nper * 3 // 4)
    return out[: len(samples)].astype(np.float32)


def _frame_db(samples: np.ndarray, hop: int) -> np.ndarray:
    n = len(samples) // hop
    if n == 0:
        return np.zeros(0)
    frames = samples[: n * hop].reshape(n, hop).astype(np.float64)
    rms = np.sqrt(np.mean(frames**2, axis=1) + 1e-12)
    return 20 * np.log10(rms / max(float(rms.max()), 1e-9))


def stretch_pauses(samples: np.ndarray, sr: int, factor: float, *, min_pause_s: float = 0.08,
                   threshold_db: float | None = None) -> np.ndarray:
    """Lengthen (``factor`` > 1) or shorten the silent gaps inside a clip, leaving speech untouched.

    A gap is a run of 10 ms frames below ``threshold_db`` (relative to the clip's loudest
    frame), ``min_pause_s`` or longer, not touching either end. By default the threshold sits
    10 dB over the noise floor (the 10th percentile frame), between -40 dB (clean synthesis)
    and -25 dB (a noisy recording). Silence is added, or removed, in the middle of each gap.
    """
    if abs(factor - 1) < 0.01 or len(samples) == 0:
        return samples
    hop = max(1, sr // 100)
    level = _frame_db(samples, hop)
    if level.size == 0:
        return samples
    if threshold_db is None:
        threshold_db = float(np.clip(np.percentile(level, 10) + 10, -40.0, -25.0))
    quiet = level < threshold_db
    parts, pos, i, n = [], 0, 0, len(quiet)
    while i < n:
        if not quiet[i]:
            i += 1
            continue
        j = i
        while j < n and quiet[j]:
            j += 1
        if i > 0 and j < n and (j - i) * hop >= min_pause_s * sr:
            mid = (i + j) // 2 * hop
            delta = int(round((j - i) * hop * (factor - 1)))
            if delta > 0:
                parts += [samples[pos:mid], np.zeros(delta, np.float32)]
                pos = mid
            else:
                parts.append(samples[pos:mid + delta // 2])
                pos = mid - delta + delta // 2
        i = j
    parts.append(samples[pos:])
    return np.concatenate(parts).astype(np.float32)


def trim_silence(samples: np.ndarray, sr: int, *, threshold_db: float = -45.0, keep_s: float = _EDGE_S) -> np.ndarray:
    """The clip without its leading and trailing silence, keeping ``keep_s`` at each edge."""
    hop = max(1, sr // 100)
    loud = np.flatnonzero(_frame_db(samples, hop) >= threshold_db)
    if loud.size == 0:
        return samples
    keep = int(keep_s * sr)
    return samples[max(0, loud[0] * hop - keep): min(len(samples), (loud[-1] + 1) * hop + keep)]


def set_level(samples: np.ndarray, volume: float = 1.0, *, peak: float = NORMAL_PEAK) -> np.ndarray:
    """Scale to a peak of ``peak·volume`` (kept under full scale)."""
    top = float(np.abs(samples).max()) if len(samples) else 0.0
    if top < 1e-6:
        return samples.astype(np.float32)
    return (samples * (min(peak * volume, 0.98) / top)).astype(np.float32)


def finish_sentence(samples: np.ndarray, sr: int, *, prosody: ProsodyRequest, speed: float = 1.0,
                    stretch: float = 1.0, gap_s: float = 0.0) -> np.ndarray:
    """The steps both engines share once a piece is synthesized.

    Trim the edges, scale the internal pauses by ``prosody.pause``, time-stretch by ``stretch``
    (the part of ``1/speed`` the engine could not reach natively), set the level from
    ``prosody.volume``, and append ``gap_s`` of silence
    (see :func:`~audiolab.server.text_pieces.gap_after`), scaled by ``prosody.pause`` and ``1/speed``.
    """
    x = trim_silence(np.asarray(samples, dtype=np.float32), sr)
    x = stretch_pauses(x, sr, prosody.pause)
    x = time_stretch(x, sr, stretch)
    x = set_level(x, prosody.volume)
    if gap_s > 0:
        x = np.concatenate([x, silence(sr, gap_s * prosody.pause / speed)])
    return x


if __name__ == "__main__":  # pragma: no cover
    print(markdown_table())


def by_sentence(engine, text: str, *, voice, speed: float, prosody: ProsodyRequest, name: str,
                source: str) -> Iterator[Audio]:
    """The ``synthesize`` loop the neural TTS engines share: one :class:`Audio` per piece of ``text``.

    The text is cut by :func:`~audiolab.server.text_pieces.pieces` (the one cutter); each piece is
    spoken by ``engine.synthesize_sentence`` with its pause after it and its index as the noise
    seed, and yielded as soon as it is ready. An engine that needs a large share of real time
    (Kokoro) sets ``first_piece_chars``, a shorter first phrase. ``name`` is the engine family in
    ``meta["engine"]``, ``source`` the clip's source label.
    """
    first = int(getattr(engine, "first_piece_chars", 30))
    for i, sentence, gap in text_pieces.pieces(text, first_max_chars=first):
        samples = engine.synthesize_sentence(text_pieces.speakable(sentence), voice=voice, speed=speed,
                                             prosody=prosody, gap_s=gap, seed=i)
        yield Audio.from_array(samples, engine.sample_rate, source=source, text=sentence,
                               meta={"engine": name, "voice": voice.id, "sentence": i})

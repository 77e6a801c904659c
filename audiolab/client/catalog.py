"""The model catalog: what the backend serves, joined with what the installed ``openai`` SDK knows.

The SDK is the reference for OpenAI's model ids, their parameters and their announced shutdown
dates: it is read at run time from the SDK's own type modules (``types/audio/speech_model.py``,
``types/audio_model.py``, ``types/shared/chat_model.py``, the realtime session model list), so
upgrading the SDK updates the catalog. A backend model object may add ``kind``,
``shutdown_date`` and ``replacement`` fields (the local backend does); those win.

Example:
    >>> lab = audiolab.connect("local")                       # doctest: +SKIP
    >>> lab.catalog().query("kind == 'tts'")                  # doctest: +SKIP
    >>> pick_model(lab, "stt")                                # doctest: +SKIP
    'gpt-4o-mini-transcribe'
"""

from __future__ import annotations

import ast
import datetime as _dt
import functools
import re
import warnings
from collections.abc import Iterable, Mapping
from importlib import resources

from audiolab.errors import CacheMiss, InvalidRequest, UnsupportedModel

__all__ = ["catalog", "catalog_frame", "sdk_models", "pick_model", "check_model", "model_kind",
           "served_models", "ModelShutdownWarning", "KINDS", "DEFAULT_PREFERENCE"]

KINDS = ("tts", "stt", "chat audio", "realtime", "chat")
#: What :func:`pick_model` tries first, per kind (then anything else served and not shut down).
#: Models with no announced shutdown come first; every SDK TTS model is deprecated, and
#: gpt-4o-mini-tts is the one that takes ``instructions``.
DEFAULT_PREFERENCE = {
    "tts": ("gpt-4o-mini-tts", "tts-1"),
    "stt": ("gpt-transcribe", "gpt-4o-mini-transcribe", "whisper-1"),
    "chat audio": ("gpt-audio-1.5", "gpt-audio", "gpt-audio-mini"),
    "realtime": ("gpt-realtime-2.1-mini", "gpt-realtime-2", "gpt-realtime-mini", "gpt-realtime"),
    "chat": ("gpt-5.4-mini", "gpt-4o-mini"),
}
_SOURCES = {  # kind -> (file under openai/, the Literal's owner: a TypeAlias name or (class, field))
    "tts": ("types/audio/speech_model.py", "SpeechModel"),
    "stt": ("types/audio_model.py", "AudioModel"),
    "chat audio": ("types/shared/chat_model.py", "ChatModel"),
    "realtime": (
        "types/realtime/realtime_session_create_request.py",
        ("RealtimeSessionCreateRequest", "model"),
    ),
}
_PARAMS = {  # kind -> (file, classes whose fields are the request params)
    "tts": ("types/audio/speech_create_params.py", ("SpeechCreateParams",)),
    "stt": ("types/audio/transcription_create_params.py",
            ("TranscriptionCreateParamsBase", "TranscriptionCreateParamsStreaming")),
    "chat audio": ("types/chat/completion_create_params.py", ("CompletionCreateParamsBase",)),
    "realtime": ("types/realtime/realtime_session_create_request.py", ("RealtimeSessionCreateRequest",)),
}
_CHAT_AUDIO_PARAMS = ("audio", "modalities", "messages", "stream", "stream_options", "max_completion_tokens")
_FORMATS = {  # kind -> (file, TypeAlias name or (class, field)) of the output formats
    "tts": ("types/audio/speech_create_params.py", ("SpeechCreateParams", "response_format")),
    "stt": ("types/audio_response_format.py", "AudioResponseFormat"),
    "chat audio": ("types/chat/chat_completion_audio_param.py", ("ChatCompletionAudioParam", "format")),
}
_SHUTDOWN = re.compile(r"-\s+((?:\"[^\"]+\",?\s*)+):\s*Announced\s+shutdown\s+date:\s*(\d{4}-\d{2}-\d{2})")
_TICKS = re.compile(r"`([^`]+)`")
_NEGATIVE = re.compile(r"\b(not|cannot)\b", re.I)
_ONLY = re.compile(r"\b(only works with|only with|supported by|only supported|only available)\b", re.I)
_FORMAT_RULE = re.compile(r"For (.+?), the (?:only )?supported formats? (?:is|are) (.+)", re.I)
_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


class ModelShutdownWarning(UserWarning):
    """A model past (or without) its announced shutdown date was chosen."""


# --- reading the SDK -------------------------------------------------------------------------
def _source(rel: str) -> str:
    return resources.files("openai").joinpath(rel).read_text(encoding="utf-8")


def _strings(node) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _literal(rel: str, owner) -> tuple[list[str], str]:
    """The string values of a Literal and the docstring that follows it."""
    tree = ast.parse(_source(rel))
    body = tree.body
    if isinstance(owner, tuple):
        cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == owner[0])
        body, target = cls.body, owner[1]
    else:
        target = owner
    for i, node in enumerate(body):
        name = getattr(getattr(node, "target", None), "id", None)
        if isinstance(node, (ast.AnnAssign, ast.Assign)) and (
            name == target or any(getattr(t, "id", None) == target for t in getattr(node, "targets", []))
        ):
            annotation = node.value if isinstance(owner, str) else node.annotation
            doc = body[i + 1].value.value if i + 1 < len(body) and isinstance(body[i + 1], ast.Expr) \
                and isinstance(getattr(body[i + 1], "value", None), ast.Constant) else ""
            return _strings(annotation), doc if isinstance(doc, str) else ""
    raise LookupError(f"{owner} not found in openai/{rel}")


def _fields(rel: str, classes: Iterable[str]) -> dict[str, str]:
    """Field name -> docstring for the TypedDict/BaseModel classes named."""
    tree = ast.parse(_source(rel))
    out: dict[str, str] = {}
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name in tuple(classes)):
        for i, node in enumerate(cls.body):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                nxt = cls.body[i + 1] if i + 1 < len(cls.body) else None
                documented = isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                doc = nxt.value.value if documented else ""
                out.setdefault(node.target.id, doc if isinstance(doc, str) else "")
    return out


def _shutdowns(doc: str) -> dict[str, str]:
    out = {}
    for names, date in _SHUTDOWN.findall(doc):
        for name in re.findall(r'"([^"]+)"', names):
            out[name] = date
    return out


def _sentences(doc: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", " ".join(doc.split())) if s]


def _rules(fields: Mapping[str, str], models: list[str]):
    """Per model: the params it cannot use, and per-model format lists, from the SDK's docstrings."""
    known = set(models)
    unsupported: dict[str, set[str]] = {m: set() for m in models}
    formats: dict[str, list[str]] = {}
    for field, doc in fields.items():
        if field == "model":
            continue
        for sentence in _sentences(doc):
            ticks = _TICKS.findall(sentence)
            named = [t for t in ticks if t in known]
            if not named:
                continue
            if field == "response_format" and (m := _FORMAT_RULE.search(sentence)):
                fmts = [t for t in _TICKS.findall(m.group(2)) if t not in known]
                for model in _TICKS.findall(m.group(1)):
                    if model in known:
                        formats[model] = fmts
                continue
            value = ticks[0] if ticks and ticks[0] not in known else None
            label = f"{field}={value}" if value and value != field else field
            if _ONLY.search(sentence):
                for model in models:
                    if model not in named:
                        unsupported[model].add(label)
            elif _NEGATIVE.search(sentence):
                for model in named:
                    unsupported[model].add(label)
    return unsupported, formats


@functools.lru_cache(maxsize=1)
def sdk_models() -> tuple[dict, ...]:
    """What the installed SDK says about audio models: one dict per (model, kind).

    Keys: ``model, kind, params, formats, shutdown_date`` (ISO string or None).
    """
    rows = []
    for kind, (rel, owner) in _SOURCES.items():
        models, doc = _literal(rel, owner)
        if kind == "chat audio":
            models = [m for m in models if "audio" in m]
        if kind == "tts":  # the speech params file repeats the list with the same dates
            doc += _literal("types/audio/speech_create_params.py", ("SpeechCreateParams", "model"))[1]
        dates = _shutdowns(doc)
        prel, classes = _PARAMS[kind]
        fields = _fields(prel, classes)
        if kind == "chat audio":
            fields = {k: v for k, v in fields.items() if k in _CHAT_AUDIO_PARAMS}
        unsupported, per_model_formats = _rules(fields, models)
        fmts: list[str] = []
        if kind in _FORMATS:
            fmts = _literal(*_FORMATS[kind])[0]
        elif kind == "realtime":
            fmts = [s for s in _strings(ast.parse(_source("types/realtime/realtime_audio_formats.py")))
                    if s.startswith("audio/")]
        for model in models:
            own = per_model_formats.get(model) or per_model_formats.get(_SNAPSHOT.sub("", model)) or fmts
            params = tuple(p for p in fields if p not in unsupported[model] and p != "model")
            rows.append({
                "model": model, "kind": kind,
                "params": params,
                "unsupported": tuple(sorted(unsupported[model])),
                "formats": tuple(dict.fromkeys(own)),
                "shutdown_date": dates.get(model),
            })
    return tuple(rows)


# --- the catalog -----------------------------------------------------------------------------
def model_kind(model: str, *, kind: str | None = None) -> str | None:
    """What kind of model an id names: the one rule the catalog and the widgets share.

    Args:
        model: a model id, OpenAI's or a local engine's.
        kind: the ``kind`` the backend declares for it (the local server's extra field), if any;
            it wins, except that a chat model with "audio" in its id is a ``"chat audio"`` model.

    Returns:
        One of :data:`KINDS` (``"tts"``, ``"stt"``, ``"chat audio"``, ``"realtime"``, ``"chat"``),
        or None when neither the backend nor the id says.

    Examples:
        >>> model_kind("gpt-4o-mini-tts"), model_kind("tts-1-hd")
        ('tts', 'tts')
        >>> model_kind("whisper-1"), model_kind("gpt-4o-mini-transcribe")
        ('stt', 'stt')

        ``gpt-realtime-whisper`` transcribes (in Realtime transcription sessions): it is "stt".

        >>> model_kind("gpt-realtime-whisper")
        'stt'
        >>> model_kind("gpt-realtime-mini"), model_kind("gpt-audio-mini")
        ('realtime', 'chat audio')
        >>> model_kind("piper-joe", kind="tts"), model_kind("smollm2-135m-instruct", kind="chat")
        ('tts', 'chat')
        >>> model_kind("gpt-4o-audio-preview", kind="chat")
        'chat audio'
        >>> model_kind("gpt-5.4-mini") is None
        True
    """
    if kind == "chat" and "audio" in model:
        return "chat audio"
    if kind in KINDS:
        return kind
    if "tts" in model:
        return "tts"
    if "transcribe" in model or "whisper" in model:
        return "stt"
    if "realtime" in model:
        return "realtime"
    if "audio" in model:
        return "chat audio"
    return None


def served_models(lab, kind: str) -> list[str]:
    """Ids of the models the backend lists that are of ``kind`` (by :func:`model_kind`), sorted.

    Example:
        >>> served_models(lab, "stt")          # doctest: +SKIP
        ['gpt-4o-mini-transcribe', 'gpt-realtime-whisper', 'whisper-1', 'whisper-base']
    """
    return sorted(m.id for m in lab.client.models.list()
                  if model_kind(m.id, kind=getattr(m, "kind", None)) == kind)


def _kind_of(model: Mapping) -> str | None:
    return model_kind(model.get("id", ""), kind=model.get("kind"))


def _date(value) -> _dt.date | None:
    if isinstance(value, _dt.date):
        return value
    try:
        return _dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _version_key(model: str):
    nums = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", model)]
    return (nums, -len(model))


def catalog_frame(models: Iterable[Mapping] | None, *, include_sdk: bool = True,
                  today: _dt.date | None = None, all_models: bool = False):
    """Build the catalog DataFrame from model objects (dicts as ``GET /v1/models`` returns them).

    Args:
        models: the backend's model objects, or None when the backend could not be asked.
        include_sdk: add SDK-known audio models the backend does not list (``served=False``).
        today: the date to judge shutdowns against (``datetime.date.today()`` if None).
        all_models: keep backend models of no audio kind (``kind="other"``).

    Returns:
        One row per (model, kind): ``model, kind, served, in_sdk, params, unsupported, formats,
        shutdown_date, days_left, past_shutdown, replacement, alias_of, engine, owned_by, note``
        (``note``: the backend's word on the id, e.g. that OpenAI no longer serves it).
    """
    import pandas as pd

    today = today or _dt.date.today()
    sdk = {(r["model"], r["kind"]): r for r in sdk_models()}
    sdk_by_model: dict[str, list[dict]] = {}
    for r in sdk.values():
        sdk_by_model.setdefault(r["model"], []).append(r)
    rows: dict[tuple, dict] = {}
    for m in models or ():
        mid = m.get("id")
        kinds = [r["kind"] for r in sdk_by_model.get(mid, [])] or [_kind_of(m)]
        if m.get("kind") in KINDS:
            kinds = [_kind_of(m)]
        for kind in kinds:
            if kind is None and not all_models:
                continue
            kind = kind or "other"
            info = sdk.get((mid, kind), {})
            rows[(mid, kind)] = {
                "model": mid, "kind": kind, "served": True, "in_sdk": bool(info),
                "params": info.get("params", ()), "unsupported": info.get("unsupported", ()),
                "formats": info.get("formats", ()),
                "shutdown_date": _date(m.get("shutdown_date")) or _date(info.get("shutdown_date")),
                "replacement": m.get("replacement"), "alias_of": m.get("alias_of"),
                "engine": m.get("engine"), "owned_by": m.get("owned_by"),
                "retired": bool(m.get("retired")), "note": m.get("note"),
            }
    if include_sdk or models is None:
        for key, info in sdk.items():
            if key not in rows:
                rows[key] = {"model": info["model"], "kind": info["kind"],
                             "served": None if models is None else False, "in_sdk": True,
                             "params": info["params"], "unsupported": info["unsupported"],
                             "formats": info["formats"], "shutdown_date": _date(info["shutdown_date"]),
                             "replacement": None, "alias_of": None, "engine": None, "owned_by": None,
                             "retired": False, "note": None}
    for row in rows.values():
        d = row["shutdown_date"]
        row["days_left"] = (d - today).days if d else None
        # A retired id (OpenAI no longer serves it, the local backend still does) counts as shut down.
        row["past_shutdown"] = bool(d and d <= today) or row["retired"]
    for row in rows.values():  # a replacement: the newest same-kind model with no shutdown announced
        if row["replacement"] or not row["shutdown_date"]:
            continue
        pool = [r for r in rows.values() if r["kind"] == row["kind"] and not r["shutdown_date"]
                and not r["retired"] and r["model"] != row["model"] and not _SNAPSHOT.search(r["model"])
                and (r["in_sdk"] or r["alias_of"])]  # OpenAI ids only, not a local engine's own id
        served = [r for r in pool if r["served"] is not False]
        pool = served or pool
        same = [r for r in pool if ("mini" in r["model"]) == ("mini" in row["model"])] or pool
        if same:
            row["replacement"] = max(same, key=lambda r: _version_key(r["model"]))["model"]
    cols = ["model", "kind", "served", "in_sdk", "shutdown_date", "days_left", "past_shutdown", "replacement",
            "params", "unsupported", "formats", "alias_of", "engine", "owned_by", "note"]
    df = pd.DataFrame(list(rows.values()), columns=cols)
    df["days_left"] = df["days_left"].astype("Int64")
    kind_order = {k: i for i, k in enumerate((*KINDS, "other"))}
    df = df.sort_values(["kind", "served", "model"], key=lambda s: s.map(kind_order) if s.name == "kind"
                        else (s.map({True: 0, None: 1, False: 2}) if s.name == "served" else s))
    return df.reset_index(drop=True)


def catalog(lab, *, include_sdk: bool = True, today: _dt.date | None = None, all_models: bool = False):
    """``lab.catalog()``: the backend's models joined with the SDK's knowledge, as a DataFrame.

    In replay mode without a recorded model list, ``served`` is None and only SDK rows appear.
    See :func:`catalog_frame` for the columns.
    """
    try:
        models = [m.to_dict() for m in lab.client.models.list()]
    except CacheMiss:
        warnings.warn("The cache holds no model list: the catalog shows what the SDK knows only.",
                      UserWarning, stacklevel=2)
        models = None
    return catalog_frame(models, include_sdk=include_sdk, today=today, all_models=all_models)


def _frame_of(lab_or_frame, today):
    if hasattr(lab_or_frame, "client"):
        return catalog(lab_or_frame, today=today)
    return lab_or_frame


def check_model(lab_or_frame, model: str, *, today: _dt.date | None = None) -> dict:
    """The catalog row of ``model``; warns (:class:`ModelShutdownWarning`) if past its shutdown date.

    Raises:
        UnsupportedModel: the backend does not serve ``model``.
    """
    df = _frame_of(lab_or_frame, today)
    rows = df[(df["model"] == model) & ~df["served"].eq(False)]  # None = unknown, kept
    if rows.empty:
        raise UnsupportedModel(f"The backend does not serve the model {model!r}.")
    row = rows.iloc[0].to_dict()
    if row["past_shutdown"]:
        hint = f" Use {row['replacement']!r} instead." if row.get("replacement") else ""
        when = "is retired: OpenAI no longer serves it"
        if row["shutdown_date"]:
            when = f"was shut down on {row['shutdown_date']} (announced in the openai SDK)"
        warnings.warn(f"{model!r} {when}.{hint}", ModelShutdownWarning, stacklevel=2)
    return row


def pick_model(lab_or_frame, kind: str, *, prefer: Iterable[str] | None = None,
               today: _dt.date | None = None) -> str:
    """A served model of ``kind`` that is not past its shutdown date, for notebook defaults.

    Args:
        lab_or_frame: a Lab, or a catalog DataFrame.
        kind: ``tts``, ``stt``, ``chat audio``, ``realtime`` or ``chat``.
        prefer: ids to try first (default :data:`DEFAULT_PREFERENCE`).
        today: the date for shutdown checks (``datetime.date.today()`` if None).

    Returns:
        The first preferred model that is served and not shut down, else the newest such model.
        A model you preferred that is skipped for being shut down, or a pick with no
        alternative, warns :class:`ModelShutdownWarning`.

    Raises:
        InvalidRequest: an unknown kind.
        UnsupportedModel: the backend serves no model of that kind.
    """
    if kind not in KINDS:
        raise InvalidRequest(f"Unknown model kind {kind!r}; use one of {', '.join(KINDS)}.", param="kind")
    df = _frame_of(lab_or_frame, today)
    df = df[(df["kind"] == kind) & ~df["served"].eq(False)]
    if df.empty:
        raise UnsupportedModel(f"The backend serves no {kind} model.", param="kind")
    served = {r["model"]: r for r in df.to_dict("records")}
    order = list(prefer if prefer is not None else DEFAULT_PREFERENCE.get(kind, ()))
    rest = sorted((m for m in served if m not in order),
                  key=lambda m: (served[m]["shutdown_date"] is not None, bool(_SNAPSHOT.search(m)),
                                 [-x for x in _version_key(m)[0]], m))
    for model in order + rest:
        row = served.get(model)
        if row is None:
            continue
        if row["past_shutdown"]:
            if prefer is not None and model in order:
                warnings.warn(
                    f"{model!r} was shut down on {row['shutdown_date']}; picking another {kind} model.",
                    ModelShutdownWarning,
                    stacklevel=2,
                )
            continue
        return model
    model = (order + rest)[0] if (order + rest)[0] in served else rest[0]
    warnings.warn(f"Every {kind} model the backend serves is past its shutdown date; using {model!r}.",
                  ModelShutdownWarning, stacklevel=2)
    return model

"""Reading and checking a Chat Completions request the way OpenAI does (``CreateChatCompletionRequest``).

Every refusal is an :class:`~audiolab.errors.InvalidRequest` naming the parameter at fault in
OpenAI's spelling (``messages[0].role``, ``audio.format``). Fields the local backend has no use
for (``store``, ``metadata``, ``user``, ``service_tier``, ``reasoning_effort``, ``verbosity``,
``parallel_tool_calls``, ``prompt_cache_key``, ``prediction``, ...) are accepted and ignored, as
OpenAI ignores what a model does not use; unknown fields are ignored too. Refused, with a
message saying why: ``n`` > 1, ``logit_bias`` (token ids belong to OpenAI's tokenizer),
``web_search_options``, custom tools, and image or file content parts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from audiolab.errors import InvalidRequest
from audiolab.server.registry import Alias, ModelSpec, VoiceSpec
from audiolab.server.validation import invalid, missing, number, type_name

__all__ = ["ChatRequest", "AUDIO_FORMATS", "ROLES", "parse_chat_request"]

#: ``audio.format`` values (``ChatCompletionAudioParam``); pcm16 is raw s16le mono at 24 kHz.
AUDIO_FORMATS = ("wav", "aac", "mp3", "flac", "opus", "pcm16")
ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_MODALITIES = ("text", "audio")


@dataclass(frozen=True)
class ChatRequest:
    """A checked chat request; messages stay in wire form until the route resolves their audio."""

    model: str
    spec: ModelSpec
    alias: Alias | None
    messages: tuple[Mapping, ...]
    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    stream: bool = False
    include_usage: bool = False
    audio_voice: VoiceSpec | None = None  # set when audio output is asked for
    audio_format: str | None = None
    tools: tuple[Mapping, ...] = ()
    tool_choice: str | Mapping = "auto"
    legacy_functions: bool = False  # the deprecated ``functions`` / ``function_call`` spelling
    response_format: Mapping | None = None
    logprobs: bool = False
    top_logprobs: int = 0
    extra: Mapping = field(default_factory=dict)

    @property
    def wants_audio(self) -> bool:
        return self.audio_voice is not None


def _number(body: Mapping, name: str, default, lo: float, hi: float, *, integer: bool = False):
    value = body.get(name)
    return default if value is None else number(value, name, lo=lo, hi=hi, integer=integer)


def _check_parts(content, i: int, role: str) -> None:
    where = f"messages[{i}].content"
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise invalid(f"Invalid type for '{where}': expected one of a string or array of objects, but got "
                   f"{type_name(content)} instead.", where, "invalid_type")
    allowed = {"user": ("text", "input_audio"), "assistant": ("text", "refusal")}.get(role, ("text",))
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind in ("image_url", "file") and role == "user":
            raise invalid(f"Invalid content type. {kind} is not supported by the local model "
                       "(SmolLM2 reads text; audio is transcribed first).", f"{where}[{j}].type")
        if kind not in allowed:
            raise invalid(f"Invalid value: {kind!r}. Supported values for {role} messages are: "
                       f"{', '.join(repr(a) for a in allowed)}.", f"{where}[{j}].type")
        if kind in ("text", "refusal") and not isinstance(part.get(kind), str):
            raise missing(f"{where}[{j}].{kind}")
        if kind == "input_audio":
            ia = part.get("input_audio")
            if not isinstance(ia, Mapping) or not isinstance(ia.get("data"), str):
                raise missing(f"{where}[{j}].input_audio.data")
            if ia.get("format") not in ("wav", "mp3"):
                raise invalid(f"Invalid value: {ia.get('format')!r}. Supported values are: 'wav' and 'mp3'.",
                           f"{where}[{j}].input_audio.format")


def _check_call(fn, where: str) -> None:
    if not (isinstance(fn, Mapping) and isinstance(fn.get("name"), str) and isinstance(fn.get("arguments"), str)):
        raise invalid(f"Invalid '{where}': expected an object with a string 'name' and string 'arguments'.", where,
                   "invalid_type")


def _check_tool_calls(m: Mapping, i: int) -> None:
    """An assistant message's ``tool_calls`` (function calls only) and legacy ``function_call``."""
    calls = m.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            raise invalid(f"Invalid type for 'messages[{i}].tool_calls': expected an array, but got "
                       f"{type_name(calls)} instead.", f"messages[{i}].tool_calls", "invalid_type")
        for k, call in enumerate(calls):
            where = f"messages[{i}].tool_calls[{k}]"
            if not isinstance(call, Mapping) or call.get("type", "function") != "function":
                kind = call.get("type") if isinstance(call, Mapping) else call
                raise invalid(f"Invalid value: {kind!r}. "
                              "The local backend supports tool calls of type 'function' only.",
                           f"{where}.type")
            _check_call(call.get("function"), f"{where}.function")
    if m.get("function_call") is not None:
        _check_call(m["function_call"], f"messages[{i}].function_call")


def _check_messages(messages) -> tuple[Mapping, ...]:
    if messages is None:
        raise missing("messages")
    if not isinstance(messages, list):
        raise invalid(f"Invalid type for 'messages': expected an array, but got {type_name(messages)} instead.",
                   "messages", "invalid_type")
    if not messages:
        raise invalid("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an "
                   "empty array instead.", "messages", "empty_array")
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping):
            raise invalid(f"Invalid type for 'messages[{i}]': expected an object, but got {type_name(m)} instead.",
                       f"messages[{i}]", "invalid_type")
        role = m.get("role")
        if role not in ROLES:
            raise invalid(f"Invalid value: {role!r}. Supported values are: 'system', 'assistant', 'user', "
                       "'function', 'tool', and 'developer'.", f"messages[{i}].role")
        content = m.get("content")
        needs_content = role in ("system", "developer", "user", "tool") or (
            role == "assistant" and not m.get("tool_calls") and not m.get("audio") and not m.get("function_call"))
        if content is None and needs_content:
            raise missing(f"messages[{i}].content")
        if content is not None:
            _check_parts(content, i, role)
        if role == "tool" and not isinstance(m.get("tool_call_id"), str):
            raise missing(f"messages[{i}].tool_call_id")
        if role == "assistant":
            _check_tool_calls(m, i)
        audio = m.get("audio")
        if role == "assistant" and audio is not None and not (isinstance(audio, Mapping)
                                                              and isinstance(audio.get("id"), str)):
            raise missing(f"messages[{i}].audio.id")
    return tuple(messages)


def _function_name(ref) -> str | None:
    """``ref["function"]["name"]`` when ``ref`` has that shape and the name is a string, else None."""
    fn = ref.get("function") if isinstance(ref, Mapping) else None
    name = fn.get("name") if isinstance(fn, Mapping) else None
    return name if isinstance(name, str) else None


def _check_tools(body: Mapping) -> tuple[tuple[Mapping, ...], str | Mapping, bool]:
    tools, choice, legacy = body.get("tools"), body.get("tool_choice"), False
    if tools is None and body.get("functions") is not None:  # deprecated spelling
        legacy = True
        funcs = body["functions"]
        tools = [{"type": "function", "function": f} for f in funcs] if isinstance(funcs, list) else funcs
        fc = body.get("function_call")
        choice = {"type": "function", "function": fc} if isinstance(fc, Mapping) else fc
    tools = tools or []
    if not isinstance(tools, list):
        raise invalid(f"Invalid type for 'tools': expected an array, but got {type_name(tools)} instead.",
                   "tools", "invalid_type")
    for k, t in enumerate(tools):
        if not isinstance(t, Mapping) or t.get("type") != "function":
            kind = t.get("type") if isinstance(t, Mapping) else t
            raise invalid(f"Invalid value: {kind!r}. The local backend supports tools of type 'function' only.",
                       f"tools[{k}].type")
        fn = t.get("function")
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise missing(f"tools[{k}].function.name")
    names = [t["function"]["name"] for t in tools]
    if choice is None:
        choice = "auto" if tools else "none"
    if isinstance(choice, Mapping) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        listed = allowed.get("tools") if isinstance(allowed, Mapping) else None
        if not isinstance(allowed, Mapping) or not isinstance(listed, list | None):
            raise invalid("Invalid type for 'tool_choice.allowed_tools': expected an object with a 'tools' array.",
                       "tool_choice.allowed_tools", "invalid_type")
        keep = {_function_name(a) for a in listed or ()}
        tools = [t for t in tools if t["function"]["name"] in keep]
        names, choice = [t["function"]["name"] for t in tools], allowed.get("mode", "auto")
    if isinstance(choice, Mapping):
        name = _function_name(choice) if choice.get("type") == "function" else None
        if name not in names:
            raise invalid(f"Invalid value for 'tool_choice': no function named {name!r} in 'tools'.", "tool_choice")
        choice = {"type": "function", "function": {"name": name}}
    elif choice not in ("none", "auto", "required"):
        raise invalid(f"Invalid value: {choice!r}. Supported values are: 'none', 'auto', and 'required'.",
                   "tool_choice")
    if choice != "none" and not tools and choice != "auto":
        raise invalid("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
                   "tool_choice")
    return tuple(tools), choice, legacy


def _check_response_format(value) -> Mapping | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind not in ("text", "json_object", "json_schema"):
        raise invalid(f"Invalid value: {kind!r}. Supported values are: 'text', 'json_object', and 'json_schema'.",
                   "response_format.type")
    if kind == "json_schema" and not isinstance(value.get("json_schema"), Mapping):
        raise missing("response_format.json_schema")
    return None if kind == "text" else value


def parse_chat_request(body, registry) -> ChatRequest:
    """Check a decoded JSON body and resolve its model and voice.

    Raises:
        InvalidRequest: a missing, malformed or unsupported parameter.
        UnsupportedModel: the model id is unknown or not a chat model (404, as OpenAI).
    """
    if not isinstance(body, Mapping):
        raise invalid("The request body must be a JSON object.", None, "invalid_type")
    model = body.get("model")
    spec, alias = registry.resolve(model, ("chat",))
    messages = _check_messages(body.get("messages"))
    n = _number(body, "n", 1, 1, 128, integer=True)
    if n != 1:
        raise invalid(f"n={n} is not supported by the local backend: it generates one choice per request. "
                   "Send n=1 (or leave it out) and repeat the request for more.", "n", "unsupported_value")
    for name in ("logit_bias", "web_search_options"):
        if body.get(name):
            raise invalid(f"'{name}' is not supported by the local backend.", name, "unsupported_parameter")
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise invalid(f"Invalid type for 'stream': expected a boolean, but got {type_name(stream)} instead.",
                   "stream", "invalid_type")
    options = body.get("stream_options")
    if options is not None and not stream:
        raise invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options")
    include_usage = bool(options.get("include_usage")) if isinstance(options, Mapping) else False
    max_tokens = _number(body, "max_completion_tokens", None, 1, 1 << 31, integer=True)
    if max_tokens is None:
        max_tokens = _number(body, "max_tokens", None, 1, 1 << 31, integer=True)
    stop = body.get("stop")
    stop = [stop] if isinstance(stop, str) else stop or []
    if not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) for s in stop):
        raise invalid("Invalid 'stop': expected a string or an array of up to 4 strings.", "stop")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise invalid(f"Invalid type for 'seed': expected an integer, but got {type_name(seed)} instead.",
                   "seed", "invalid_type")
    modalities = body.get("modalities") or ["text"]
    if not isinstance(modalities, list) or any(m not in _MODALITIES for m in modalities):
        raise invalid(f"Invalid value for 'modalities': {modalities!r}. Supported values are 'text' and 'audio'.",
                   "modalities")
    voice = fmt = None
    audio = body.get("audio")
    if "audio" in modalities:
        if not isinstance(audio, Mapping):
            raise invalid("The 'audio' parameter is required when 'modalities' includes 'audio'. "
                       "Pass audio={'voice': 'alloy', 'format': 'wav'}.", "audio", "missing_required_parameter")
        fmt = audio.get("format")
        if fmt not in AUDIO_FORMATS:
            raise invalid(f"Invalid value: {fmt!r}. Supported values are: 'wav', 'aac', 'mp3', 'flac', 'opus', "
                       "and 'pcm16'.", "audio.format")
        if stream and fmt != "pcm16":
            raise invalid(f"Audio output with stream=true only supports format 'pcm16' (got {fmt!r}).",
                       "audio.format", "unsupported_value")
        if audio.get("voice") is None:
            raise missing("audio.voice")
        try:
            voice = registry.voice(audio.get("voice"))
        except InvalidRequest as exc:
            raise invalid(exc.message, "audio.voice", exc.code or "invalid_value") from None
    tools, tool_choice, legacy = _check_tools(body)
    logprobs = body.get("logprobs") or False
    top = _number(body, "top_logprobs", None, 0, 20, integer=True)
    if top is not None and not logprobs:
        raise invalid("'top_logprobs' requires 'logprobs' to be true.", "top_logprobs")
    return ChatRequest(
        model=model, spec=spec, alias=alias, messages=messages, max_tokens=max_tokens,
        temperature=_number(body, "temperature", 1.0, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 0.0, 1.0),
        frequency_penalty=_number(body, "frequency_penalty", 0.0, -2.0, 2.0),
        presence_penalty=_number(body, "presence_penalty", 0.0, -2.0, 2.0),
        stop=tuple(stop), seed=seed, stream=stream, include_usage=include_usage,
        audio_voice=voice, audio_format=fmt, tools=tools, tool_choice=tool_choice, legacy_functions=legacy,
        response_format=_check_response_format(body.get("response_format")),
        logprobs=bool(logprobs), top_logprobs=top or 0,
        extra={k: v for k, v in body.items() if k not in ChatRequest.__dataclass_fields__},
    )

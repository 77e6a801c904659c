"""Function calling for the local chat models: tools described in the prompt, calls parsed back.

Small local models have no native tool-call format, so the tools are described in the system
prompt (:func:`describe_tools`) and an answer that is a JSON object naming one of them becomes a
:class:`ToolCall` in OpenAI's shape (:func:`parse_tool_calls`).

Example:
    >>> calls = parse_tool_calls('{"name": "get_weather", "arguments": {"city": "Paris"}}', ["get_weather"])
    >>> calls[0].name, calls[0].arguments
    ('get_weather', '{"city": "Paris"}')
    >>> parse_tool_calls("It is sunny in Paris.", ["get_weather"])
    ()
    >>> tool_names([{"type": "function", "function": {"name": "lookup_order"}}])
    ['lookup_order']
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ToolCall", "new_call_id", "tool_names", "describe_tools", "parse_tool_calls"]


@dataclass(frozen=True)
class ToolCall:
    """A function call the model asked for; ``arguments`` is JSON text, as in OpenAI's API."""

    id: str
    name: str
    arguments: str

    def to_openai(self) -> dict:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


def new_call_id() -> str:
    return "call_" + secrets.token_hex(12)


def tool_names(tools: Sequence[dict] | None) -> list[str]:
    return [t["function"]["name"] for t in tools or () if t.get("type", "function") == "function"]


def describe_tools(tools: Sequence[dict]) -> str:
    lines = ["You can call these functions:"]
    for t in tools:
        fn = t["function"]
        params = json.dumps(fn.get("parameters") or {"type": "object", "properties": {}}, separators=(",", ":"))
        lines.append(f"- {fn['name']}: {fn.get('description') or 'no description'} Parameters: {params}")
    lines.append('To call a function, reply with only a JSON object: {"name": "<function>", "arguments": {...}}. '
                 "Otherwise answer normally.")
    return "\n".join(lines)


def parse_tool_calls(text: str, names: Sequence[str]) -> tuple[ToolCall, ...]:
    """Tool calls in ``text`` if it is a JSON call (or list of calls) naming one of ``names``."""
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(body)
    except ValueError:
        return ()
    items = data if isinstance(data, list) else data.get("tool_calls", [data]) if isinstance(data, dict) else []
    calls = []
    for item in items:
        if not isinstance(item, dict):
            return ()
        item = item.get("function", item) if isinstance(item.get("function"), dict) else item
        name, args = item.get("name"), item.get("arguments", item.get("parameters", {}))
        if name not in names:
            return ()
        calls.append(ToolCall(new_call_id(), name, args if isinstance(args, str) else json.dumps(args)))
    return tuple(calls)

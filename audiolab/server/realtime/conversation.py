"""The items of a Realtime conversation: ordered, addressable by id, rendered for the chat model.

An :class:`Item` keeps its wire shape (``RealtimeConversationItem*``) plus what the server needs
beside it: the audio of audio content (24 kHz samples), the task that transcribes it, and for
spoken answers the timeline of sentences, so that ``conversation.item.truncate`` also cuts the
text the listener never heard.

Example:
    >>> conv = Conversation()
    >>> item = Item.from_wire({"type": "message", "role": "user",
    ...                        "content": [{"type": "input_text", "text": "Hi"}]})
    >>> conv.insert(item) is None, conv.messages("Be brief.")
    (True, [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'Hi'}])
"""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass, field

import numpy as np

from audiolab.audio import PCM_RATE
from audiolab.errors import InvalidRequest, NotFound
from audiolab.server.realtime.events import new_id

__all__ = ["Item", "Conversation"]

_ROLES = {"user": ("input_text", "input_audio", "input_image"), "assistant": ("output_text", "output_audio"),
          "system": ("input_text",)}
_TYPES = ("message", "function_call", "function_call_output")
_TRUNCATE_SLACK_MS = 20


@dataclass(eq=False)
class Item:
    """One conversation item.

    Attributes:
        wire: the item as OpenAI shows it, without audio bytes.
        audio: int16 samples at 24 kHz of its audio content part, if any.
        transcript: the :class:`~audiolab.server.realtime.work.Work` transcribing user audio
            (``None`` until a transcription starts).
        spoken: ``(end_ms, text)`` of each synthesised sentence of an assistant audio answer.
        heard: the server's own transcript of user audio, used as context even when the session
            does not ask for input transcription events.
    """

    wire: dict
    audio: np.ndarray | None = None
    transcript: object | None = None
    spoken: list[tuple[int, str]] = field(default_factory=list)
    heard: str | None = None

    @property
    def id(self) -> str:
        return self.wire["id"]

    @classmethod
    def from_wire(cls, raw, *, param: str = "item", decode_audio=None) -> Item:
        """An item from a client's ``conversation.item.create`` (or ``response.create`` input).

        Args:
            decode_audio: turns an ``input_audio`` part's base64 ``audio`` into 24 kHz int16 samples.

        Raises:
            InvalidRequest: not an item of a supported type, role or content.
        """
        if not isinstance(raw, dict):
            raise InvalidRequest(f"Invalid type for '{param}': expected an object.", param=param, code="invalid_type")
        kind = raw.get("type", "message")
        if kind not in _TYPES:
            raise InvalidRequest(f"Invalid value for '{param}.type': {kind!r}. Supported values are: "
                                 + ", ".join(repr(t) for t in _TYPES) + ".", param=f"{param}.type",
                                 code="invalid_value")
        wire = copy.deepcopy(raw)
        wire["id"] = raw.get("id") or new_id("item")
        wire["object"] = "realtime.item"
        wire.setdefault("status", "completed")
        audio = None
        if kind == "message":
            role = raw.get("role")
            if role not in _ROLES:
                raise InvalidRequest(f"Invalid value for '{param}.role': {role!r}. Supported values are: 'user', "
                                     "'assistant' and 'system'.", param=f"{param}.role", code="invalid_value")
            content = raw.get("content")
            if not isinstance(content, list):
                raise InvalidRequest(f"Missing required parameter: '{param}.content'.", param=f"{param}.content",
                                     code="missing_required_parameter")
            for i, part in enumerate(content):
                ptype = part.get("type") if isinstance(part, dict) else None
                if ptype not in _ROLES[role]:
                    raise InvalidRequest(f"Invalid value for '{param}.content[{i}].type': {ptype!r} is not allowed "
                                         f"for role {role!r}.", param=f"{param}.content[{i}].type",
                                         code="invalid_value")
                if ptype == "input_audio" and part.get("audio"):
                    if decode_audio is None:
                        raise InvalidRequest("Audio content is not accepted here.", param=f"{param}.content[{i}]")
                    audio = decode_audio(part.pop("audio"))
                if ptype == "output_audio":
                    raise InvalidRequest("Assistant audio cannot be created by the client; use output_text.",
                                         param=f"{param}.content[{i}].type", code="invalid_value")
        return cls(wire=wire, audio=audio)

    def to_wire(self, *, with_audio: bool = False) -> dict:
        """The wire item; ``with_audio`` adds base64 pcm16 to its audio part (``conversation.item.retrieved``)."""
        out = copy.deepcopy(self.wire)
        if with_audio and self.audio is not None:
            for part in out.get("content", []):
                if part.get("type") in ("input_audio", "output_audio"):
                    part["audio"] = base64.b64encode(self.audio.astype("<i2").tobytes()).decode()
        return out

    def text(self) -> str:
        """What the item says, as text for the chat model (transcripts stand in for audio)."""
        w = self.wire
        if w["type"] == "function_call":
            return f"[called {w.get('name', 'a function')}({w.get('arguments', '')})]"
        if w["type"] == "function_call_output":
            return f"[function result: {w.get('output', '')}]"
        bits = []
        for part in w.get("content", []):
            if part.get("type") in ("input_text", "output_text"):
                bits.append(part.get("text") or "")
            elif part.get("type") in ("input_audio", "output_audio"):
                bits.append(part.get("transcript") or self.heard or "")
        return " ".join(b.strip() for b in bits if b and b.strip())

    def role(self) -> str:
        if self.wire["type"] == "message":
            return self.wire["role"]
        return "assistant" if self.wire["type"] == "function_call" else "user"


class Conversation:
    """The default conversation: items in order, with ``previous_item_id`` bookkeeping."""

    def __init__(self):
        self.id = new_id("conv")
        self.items: list[Item] = []

    def get(self, item_id, *, param: str = "item_id") -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise NotFound(f"Conversation item with id '{item_id}' does not exist.", param=param, code="item_not_found")

    def insert(self, item: Item, *, previous_item_id: str | None = None) -> str | None:
        """Add ``item`` at the end, or after ``previous_item_id`` (``"root"``: first). Returns its predecessor's id."""
        if any(i.id == item.id for i in self.items):
            raise InvalidRequest(f"An item with id '{item.id}' already exists.", param="item.id",
                                 code="duplicate_item_id")
        if previous_item_id is None:
            index = len(self.items)
        elif previous_item_id == "root":
            index = 0
        else:
            index = self.items.index(self.get(previous_item_id, param="previous_item_id")) + 1
        self.items.insert(index, item)
        return self.items[index - 1].id if index > 0 else None

    def last_id(self) -> str | None:
        return self.items[-1].id if self.items else None

    def delete(self, item_id) -> None:
        self.items.remove(self.get(item_id))

    def messages(self, instructions: str | None, items: list[Item] | None = None, *,
                 max_chars: int | None = None) -> list[dict]:
        """Chat messages for the model: instructions, then each item as text (merging same-role neighbours).

        Args:
            max_chars: keep only the most recent items whose text fits (truncation ``"auto"``,
                approximated by characters: about four per token).
        """
        out: list[dict] = [{"role": "system", "content": instructions}] if instructions else []
        said = [(item, item.text()) for item in (self.items if items is None else items)]
        said = [(item, text) for item, text in said if text]
        if max_chars is not None:
            total, keep = 0, 0
            for _, text in reversed(said):
                total += len(text)
                if total > max_chars and keep:
                    break
                keep += 1
            said = said[len(said) - keep:]
        for item, text in said:
            role = item.role()
            if out and out[-1]["role"] == role and role != "system":
                out[-1]["content"] += "\n" + text
            else:
                out.append({"role": role, "content": text})
        return out

    @staticmethod
    def truncate(item: Item, *, content_index: int, audio_end_ms: int) -> None:
        """Cut an assistant audio answer at ``audio_end_ms``, and its transcript to what was heard.

        Raises:
            InvalidRequest: not an assistant audio part, or ``audio_end_ms`` past the audio's end.
        """
        content = item.wire.get("content") or []
        if (item.wire.get("role") != "assistant" or not 0 <= content_index < len(content)
                or content[content_index].get("type") != "output_audio" or item.audio is None):
            raise InvalidRequest("Only an assistant message's audio content can be truncated.",
                                 param="content_index", code="invalid_value")
        duration_ms = int(len(item.audio) * 1000 / PCM_RATE)
        # A client that counts played samples may round up: allow a few milliseconds past the end.
        if (not isinstance(audio_end_ms, int) or isinstance(audio_end_ms, bool)
                or not 0 <= audio_end_ms <= duration_ms + _TRUNCATE_SLACK_MS):
            raise InvalidRequest(f"audio_end_ms ({audio_end_ms}) must be between 0 and the audio's duration "
                                 f"({duration_ms} ms).", param="audio_end_ms", code="invalid_value")
        audio_end_ms = min(audio_end_ms, duration_ms)
        item.audio = item.audio[: audio_end_ms * 24]
        heard, start = [], 0
        for end, sentence in item.spoken:
            if end <= audio_end_ms:
                heard.append(sentence)
            else:  # the sentence being spoken: keep the share of its words already played
                words = sentence.split()
                share = (audio_end_ms - start) / max(end - start, 1)
                heard.append(" ".join(words[: int(len(words) * share)]))
                break
            start = end
        item.spoken = [(e, s) for e, s in item.spoken if e <= audio_end_ms]
        content[content_index]["transcript"] = " ".join(h for h in heard if h).strip()

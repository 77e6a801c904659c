"""Asides: questions asked about a user's turn *out of band*, while the conversation goes on.

A Realtime ``response.create`` with ``conversation: "none"`` makes a response that is not added to
the conversation: it reads only its own ``input`` (here an ``item_reference`` to the user's turn),
writes text, and carries ``metadata`` back in ``response.created`` / ``response.done``. That is how an
app labels each turn (its topic, its sentiment) without the assistant ever seeing the label in its
own history. :class:`Asides` asks its questions as soon as a user turn is committed, so the label is
written beside the assistant's answer, not after it.

Example:
    >>> aside_request("Name the topic in one word.", item_id="item_1", label="topic")["response"]["metadata"]
    {'aside': 'topic', 'item_id': 'item_1'}
    >>> Asides({"topic": "Name the topic in one word."}).answers([])
    {}
"""

from __future__ import annotations

from collections.abc import Mapping

from audiolab.realtime.events import COMMITTED, RESPONSE_CREATE, RESPONSE_DONE

__all__ = ["Asides", "aside_request", "aside_of"]


def aside_request(question: str, *, item_id: str, label: str, max_output_tokens: int = 8) -> dict:
    """The ``response.create`` that asks ``question`` about conversation item ``item_id``, out of band."""
    return {"type": RESPONSE_CREATE, "response": {
        "conversation": "none", "output_modalities": ["text"], "instructions": question,
        "input": [{"type": "item_reference", "id": item_id}], "max_output_tokens": max_output_tokens,
        "metadata": {"aside": label, "item_id": item_id}}}


def aside_of(event: dict) -> str | None:
    """The label of the aside a ``response.*`` event belongs to (from its echoed metadata), else None."""
    metadata = (event.get("response") or {}).get("metadata") or {}
    return metadata.get("aside")


class Asides:
    """An event handler that asks each ``{label: question}`` about every committed user turn.

    Set :attr:`s` to the open :class:`~audiolab.realtime.connection.RealtimeConnection` before audio
    is sent; :meth:`on_event` then runs on its receiver thread.
    """

    def __init__(self, questions: Mapping[str, str], *, max_output_tokens: int = 8):
        self.questions = dict(questions)
        self.max_output_tokens = max_output_tokens
        self.s = None
        self.asked = 0

    def on_event(self, event: dict) -> None:
        if event.get("type") == COMMITTED and self.s is not None:
            for label, question in self.questions.items():
                self.asked += 1
                self.s.send(aside_request(question, item_id=event["item_id"], label=label,
                                          max_output_tokens=self.max_output_tokens))

    def settled(self, raw: list[dict]) -> bool:
        """Whether every aside asked so far has its ``response.done`` (or failed with an ``error``)."""
        done = sum(1 for e in raw if e["type"] == RESPONSE_DONE and aside_of(e))
        return done + sum(1 for e in raw if e["type"] == "error") >= self.asked

    @staticmethod
    def answers(raw: list[dict]) -> dict[str, str]:
        """``{label: text}`` of the last finished aside of each label."""
        out: dict[str, str] = {}
        for e in raw:
            label = aside_of(e) if e["type"] == RESPONSE_DONE else None
            if label:
                parts = [p for item in e["response"].get("output") or [] for p in item.get("content") or []]
                out[label] = " ".join((p.get("text") or "").strip() for p in parts).strip()
        return out

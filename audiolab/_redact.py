"""Keeping API keys out of log lines: a ``logging.Filter`` that scrubs them from records.

Libraries around the SDK log secrets at DEBUG: the ``websockets`` client prints the handshake's
``Authorization: Bearer ...`` header, and uvicorn's WebSocket server prints the same header as it
receives it. :func:`scrub_logs` puts :class:`RedactSecrets` on such loggers, so the key is
replaced with ``[redacted]`` before any handler (a notebook, a file, pytest's caplog) sees it.

Example:
    >>> import logging
    >>> scrub_logs(["demo"])
    >>> rec = logging.LogRecord("demo", 10, __file__, 1, "Authorization: Bearer %s",
    ...                         ("sk-abc123456789",), None)
    >>> _ = logging.getLogger("demo").filters[0].filter(rec)
    >>> rec.getMessage()
    'Authorization: Bearer [redacted]'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

__all__ = ["RedactSecrets", "scrub_logs", "redact", "KIT_LOGGERS", "SERVER_LOGGERS"]

_SECRET = re.compile(r"(?i)(bearer\s+|openai-insecure-api-key\.|api[_-]?key[\"']?\s*[=:]\s*[\"']?)[^\s,;'\"]+"
                     r"|\bsk-[A-Za-z0-9_\-]{8,}")
#: Loggers of the libraries under ``lab.client`` (SDK, HTTP, WebSocket).
KIT_LOGGERS = ("websockets.client", "websockets", "openai", "openai._base_client", "httpx", "httpcore",
               "httpx2", "httpcore2")
#: Loggers of the local server (uvicorn logs WebSocket handshakes on ``uvicorn.error``).
SERVER_LOGGERS = ("uvicorn.error", "uvicorn.access", "uvicorn", "websockets.server", "audiolab.server")


def redact(text: str) -> str:
    """``text`` with bearer tokens and ``sk-...`` keys replaced by ``[redacted]``."""
    return _SECRET.sub(lambda m: (m.group(1) or "") + "[redacted]", text)


class RedactSecrets(logging.Filter):
    """Rewrites a record's message without its secrets (the record still goes out)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the handler's problem, not ours
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


def scrub_logs(names: Iterable[str]) -> None:
    """Put one :class:`RedactSecrets` on each named logger (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())

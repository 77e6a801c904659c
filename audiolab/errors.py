"""The audiolab exception tree, drawn in one place.

Every error the kit raises on purpose is an :class:`AudiolabError`. The local server turns each
one into OpenAI's error object ``{"error": {"message", "type", "param", "code"}}`` with the
status given by the class, through a single FastAPI handler (``audiolab.server.app``). Nothing
matches on message text: the class and its attributes carry the meaning.
"""

from __future__ import annotations

__all__ = [
    "AudiolabError",
    "AudioDecodeError",
    "InvalidRequest",
    "Unauthorized",
    "NotFound",
    "PermissionDenied",
    "UnsupportedModel",
    "PayloadTooLarge",
    "RateLimited",
    "EngineUnavailable",
    "EngineFailure",
    "BackendError",
    "MissingAPIKey",
    "CacheMiss",
    "NoSpeechHeard",
]


class AudiolabError(Exception):
    """Base of every error audiolab raises on purpose.

    Attributes:
        message: a sentence a person can act on.
        param: the request parameter at fault, if any (OpenAI's ``param``).
        code: a short machine-readable code (OpenAI's ``code``), if any.
    """

    status_code: int = 500
    error_type: str = "server_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code

    def to_openai(self) -> dict:
        """The OpenAI-shaped error body for this error."""
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(AudiolabError):
    """A request parameter is missing, malformed or out of range (HTTP 400)."""

    status_code = 400
    error_type = "invalid_request_error"


class AudioDecodeError(InvalidRequest):
    """Bytes that are not decodable audio: empty, truncated, or another kind of file."""

    def __init__(self, message: str, *, param: str | None = "file", code: str | None = "invalid_audio"):
        super().__init__(message, param=param, code=code)


class Unauthorized(AudiolabError):
    """Missing or wrong bearer token (HTTP 401)."""

    status_code = 401
    error_type = "invalid_request_error"

    def __init__(self, message: str = "Incorrect API key provided.", *, param=None, code="invalid_api_key"):
        super().__init__(message, param=param, code=code)


class NotFound(AudiolabError):
    """A resource id that does not exist (HTTP 404)."""

    status_code = 404
    error_type = "invalid_request_error"


class PermissionDenied(AudiolabError):
    """A feature this backend does not offer to anyone, such as custom voices (HTTP 403)."""

    status_code = 403
    error_type = "invalid_request_error"


class UnsupportedModel(NotFound):
    """A model id the backend does not serve, or that cannot do what was asked."""

    def __init__(self, message: str, *, param: str | None = "model", code: str | None = "model_not_found"):
        super().__init__(message, param=param, code=code)


class PayloadTooLarge(AudiolabError):
    """An upload over the size limit (HTTP 413)."""

    status_code = 413
    error_type = "invalid_request_error"


class RateLimited(AudiolabError):
    """The server is at capacity; retry after ``retry_after`` seconds (HTTP 429)."""

    status_code = 429
    error_type = "rate_limit_error"

    def __init__(self, message: str, *, retry_after: float = 1.0, param=None, code="rate_limit_exceeded"):
        super().__init__(message, param=param, code=code)
        self.retry_after = retry_after


class EngineUnavailable(AudiolabError):
    """An engine's package or weights are not installed (HTTP 503 on the server)."""

    status_code = 503
    error_type = "server_error"

    def __init__(self, message: str, *, package: str | None = None, param=None, code="engine_unavailable"):
        super().__init__(message, param=param, code=code)
        self.package = package


class EngineFailure(AudiolabError):
    """An engine crashed on one request (HTTP 500 with an error id); the server keeps serving."""

    status_code = 500
    error_type = "server_error"


class BackendError(AudiolabError):
    """The kit could not start or reach its backend."""


class MissingAPIKey(BackendError):
    """``backend="openai"`` was chosen but no ``OPENAI_API_KEY`` is set."""


class CacheMiss(AudiolabError):
    """Replay mode was asked for a request that the cache does not hold."""


class NoSpeechHeard(AudiolabError):
    """A realtime take held no speech the server's voice activity detection could find, so no
    turn began and nothing will answer it (check the microphone)."""

    status_code = 400
    error_type = "invalid_request_error"

"""One router per OpenAI resource. Routes validate, pick an engine, and shape the response."""

from __future__ import annotations

import importlib

from fastapi import FastAPI, Request

__all__ = ["include_all", "ENGINE_HEADER", "engine_headers", "state"]

ENGINE_HEADER = "x-audiolab-engine"

# Resource modules, each exposing ``router``. A module missing from the tree is skipped so that
# the backend can grow one resource at a time.
_RESOURCES = ("health", "models", "speech", "transcriptions", "translations", "chat", "realtime")


def engine_headers(spec) -> dict[str, str]:
    """The response header that names the engine (and local model) that served a request."""
    return {ENGINE_HEADER: f"{spec.engine}/{spec.id}"}


def state(request: Request):
    """The app state (settings, registry, jobs) of the app serving ``request``."""
    return request.app.state


def include_all(app: FastAPI) -> None:
    for name in _RESOURCES:
        try:
            module = importlib.import_module(f"audiolab.server.routes.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"audiolab.server.routes.{name}":
                continue
            raise
        app.include_router(module.router)

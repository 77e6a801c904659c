"""Validate wire objects against OpenAI's published OpenAPI document (``/work/shared``).

The document is parsed once per test session (it is ~3 MB of YAML) and each
``components/schemas/<name>`` becomes a JSON Schema 2020-12 validator whose ``$ref``s resolve
inside the document. OpenAPI 3.0's ``nullable: true`` is turned into a ``null`` alternative.

Example:
    >>> from tests.spec import validate
    >>> validate({"text": "hi"}, "CreateTranscriptionResponseJson")
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path

import jsonschema
import yaml

__all__ = ["validate", "schema", "SPEC_PATH", "SpecViolation"]

SPEC_PATH = Path(os.environ.get("AUDIOLAB_OPENAPI_SPEC", "/work/shared/openai-openapi.yaml"))
if not SPEC_PATH.is_file():  # a checkout next to the shared folder
    SPEC_PATH = Path(__file__).resolve().parents[2] / "shared" / "openai-openapi.yaml"

SpecViolation = jsonschema.ValidationError
_DOC: dict | None = None


def _nullable_to_31(node):
    """OpenAPI 3.0 ``nullable: true`` -> JSON Schema ``anyOf [..., {type: null}]``, in place."""
    if isinstance(node, dict):
        for v in node.values():
            _nullable_to_31(v)
        if node.pop("nullable", False):
            inner = {k: node.pop(k) for k in list(node) if not k.startswith(("x-", "description", "title"))}
            node["anyOf"] = [inner, {"type": "null"}]
    elif isinstance(node, list):
        for v in node:
            _nullable_to_31(v)
    return node


def _document() -> dict:
    global _DOC
    if _DOC is None:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        with open(SPEC_PATH, encoding="utf-8") as fh:
            doc = yaml.load(fh, Loader=loader)
        _DOC = {"components": _nullable_to_31(copy.deepcopy(doc["components"]))}
    return _DOC


def schema(name: str) -> dict:
    """The raw ``components/schemas/<name>`` object (after the nullable rewrite)."""
    try:
        return _document()["components"]["schemas"][name]
    except KeyError:
        raise KeyError(f"OpenAPI spec has no schema {name!r}") from None


@functools.cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    schema(name)  # a clear KeyError for a misspelled name
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": f"#/components/schemas/{name}", "components": _document()["components"]}
    return jsonschema.Draft202012Validator(root)


def validate(instance, schema_name: str) -> None:
    """Raise :class:`jsonschema.ValidationError` unless ``instance`` matches the named schema.

    Args:
        instance: a decoded JSON value (dict from ``response.json()``, an SSE event's data...).
        schema_name: a key of ``components/schemas`` such as ``CreateTranscriptionResponseJson``.
    """
    _validator(schema_name).validate(instance)

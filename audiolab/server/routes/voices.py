"""``/v1/audio/voices`` and ``/v1/audio/voice_consents``: OpenAI's custom voices, which the local
backend does not have.

OpenAI builds a custom voice from an audio sample and an uploaded consent recording, for eligible
customers. The local engines speak only their built-in voices, so creating a voice or a consent
answers 403 with code ``custom_voices_unavailable`` and a message naming the voices that exist;
listing consents answers an empty list, and a consent id is never found (404).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from audiolab.errors import NotFound, PermissionDenied
from audiolab.server.registry import OPENAI_VOICES

__all__ = ["router"]

router = APIRouter(prefix="/v1")

_CODE = "custom_voices_unavailable"


def _no_custom_voices(what: str) -> PermissionDenied:
    return PermissionDenied(
        f"The local backend has no custom voices, so it cannot {what}. Use a built-in voice "
        f"({', '.join(OPENAI_VOICES)}) or a local voice id; custom voices need OpenAI's API and an "
        "eligible account.",
        code=_CODE,
    )


@router.post("/audio/voices")
async def create_voice():
    raise _no_custom_voices("create a voice")


@router.post("/audio/voice_consents")
async def create_voice_consent():
    raise _no_custom_voices("store a voice consent recording")


@router.get("/audio/voice_consents")
async def list_voice_consents():
    return JSONResponse({"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False})


def _missing(consent_id: str) -> NotFound:
    return NotFound(
        f"No voice consent with id '{consent_id}': the local backend has no custom voices and stores "
        "no consent recordings.",
        param="consent_id",
        code=_CODE,
    )


@router.get("/audio/voice_consents/{consent_id}")
async def retrieve_voice_consent(consent_id: str):
    raise _missing(consent_id)


@router.post("/audio/voice_consents/{consent_id}")
async def update_voice_consent(consent_id: str):
    raise _missing(consent_id)


@router.delete("/audio/voice_consents/{consent_id}")
async def delete_voice_consent(consent_id: str):
    raise _missing(consent_id)

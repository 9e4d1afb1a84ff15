"""Bearer-token authentication, on unless the operator started the service with ``--no-auth`` on localhost."""
from __future__ import annotations

import hmac

from fastapi import Request

from .config import ServiceSettings
from .errors import ServiceError

CHALLENGE = {"WWW-Authenticate": "Bearer"}


def authorize(settings: ServiceSettings, request: Request) -> None:
    """Refuse a request without one of the configured tokens (a no-op under ``--no-auth``)."""
    if not settings.auth_required:
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise ServiceError(401, "authentication required",
                           "Send the header 'Authorization: Bearer <token>' with a token the operator gave you.",
                           headers=CHALLENGE)
    candidate = given.strip().encode()
    # every token is compared, in constant time, so the timing says nothing about which one is close
    matches = [hmac.compare_digest(candidate, token.encode()) for token in settings.tokens]
    if not any(matches):
        raise ServiceError(401, "invalid token", "The bearer token is not one this service accepts; check it with "
                           "the operator.", headers=CHALLENGE)

"""A ceiling on request bodies, enforced while they stream in (a missing or false Content-Length does not help)."""
from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

from fastapi import HTTPException

Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


class _TooLarge(HTTPException):
    """Raised from inside ``receive``: FastAPI passes HTTP exceptions through its body parsing unchanged."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(413, too_large_detail(size, limit))


def too_large_detail(size: int, limit: int) -> str:
    return (f"The body has at least {size:,} bytes; this endpoint accepts at most {limit:,}. "
            "Send fewer inputs per request (or a smaller model file).")


class BodyLimit:
    """ASGI middleware: answers 413 once a body passes its limit (uploads have their own, larger one)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, max_upload_bytes: int, upload_path: str = "/models") -> None:
        self.app, self.max_body, self.max_upload, self.upload_path = app, max_body_bytes, max_upload_bytes, upload_path

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_upload if scope.get("path") == self.upload_path else self.max_body
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(send, limit, int(declared))
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(seen, limit)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await _refuse(send, limit, seen)


async def _refuse(send: Callable[[Message], Awaitable[None]], limit: int, size: int) -> None:
    body = json.dumps({"error": "request too large", "detail": too_large_detail(size, limit)}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

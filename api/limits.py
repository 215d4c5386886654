"""Request size limit (ASGI): bodies over CEP_MAX_REQUEST_BYTES get 413 before any parsing."""

from __future__ import annotations

from typing import Any

import orjson

from api.errors import error_body

__all__ = ["BodyLimit"]


class BodyLimit:
    """Refuse a body larger than `limit` bytes, by Content-Length or while streaming."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        """ASGI entry."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    if int(v) > self.limit:
                        await self._refuse(send)
                        return
                except ValueError:
                    await self._refuse(send, 400, "bad Content-Length")
                    return
        seen = 0
        started = False

        async def send_(msg: dict) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        async def receive_() -> dict:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return msg

        try:
            await self.app(scope, receive_, send_)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Any, status: int = 413, msg: str | None = None) -> None:
        body = orjson.dumps(error_body(
            "too_large" if status == 413 else "bad_request",
            msg or f"request body over {self.limit} bytes"))
        await send({"type": "http.response.start", "status": status,
                     "headers": [(b"content-type", b"application/json"),
                                 (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass

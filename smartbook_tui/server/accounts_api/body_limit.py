"""The largest request body the account API takes: its bodies are a few short fields, and the process it shares
with the presence server must not hold a flood's bodies in memory. A plain ASGI wrapper, so that a body over the
cap is refused from its Content-Length before anything reads it (413, in the API's error form). A body must say its
length (the HTTP server then reads no more than that); one sent in chunks is refused the same way."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["MAX_BODY", "BodyLimit"]

MAX_BODY = 16 * 1024  # bytes

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]

_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class BodyLimit:
    def __init__(self, app: Asgi, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._acceptable(scope):
            await _refuse(send, self.limit)
            return
        await self.app(scope, receive, send)

    def _acceptable(self, scope: Scope) -> bool:
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is None:
            return scope.get("method") not in _WITH_BODY
        return declared.isdigit() and int(declared) <= self.limit


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps(
        {"error": "body_too_large", "message": f"the request body is over {limit:,} bytes or does not say its length"}
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})

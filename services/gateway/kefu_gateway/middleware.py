"""Pure ASGI middleware: correlation id, access log, metrics and a request-body size limit."""

from __future__ import annotations

import time
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kefu_common.context import (
    REQUEST_ID_HEADER,
    get_request_id,
    reset_request_id,
    sanitize_request_id,
    set_request_id,
)
from kefu_common.logging import get_logger
from kefu_common.metrics import observe_http
from kefu_common.problem import PROBLEM_CONTENT_TYPE, Problem
from kefu_common.tracing import annotate_current_span

log = get_logger("kefu.gateway.http")
_HEADER = REQUEST_ID_HEADER.lower().encode()
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class RequestContextMiddleware:
    """Binds X-Request-ID (the caller's, or a new one), echoes it, logs the request and counts
    it in the Prometheus metrics by route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == _HEADER), None)
        request_id = sanitize_request_id(incoming)
        token = set_request_id(request_id)
        started = time.perf_counter()
        status = 500
        annotate_current_span(**{"kefu.request_id": request_id})  # FastAPI's request span

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k != _HEADER]
                headers.append((_HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            observe_http(scope["method"], scope.get("route"), status, started)
            if scope["path"] not in _QUIET_PATHS:
                log.info(
                    "http_request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )
            reset_request_id(token)


class BodySizeLimitMiddleware:
    """Refuses request bodies above `max_bytes` with 413 before any handler sees them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        for key, value in scope["headers"]:
            if key == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._reject(scope, send)
                return
        # Read (and count) the whole body up front, then replay it to the app.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(scope, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, send: Send) -> None:
        problem = Problem(
            status=413,
            code="payload_too_large",
            detail=f"the request body exceeds {self.max_bytes} bytes",
        )
        body = orjson.dumps(problem.body(instance=scope["path"], request_id=get_request_id()))
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

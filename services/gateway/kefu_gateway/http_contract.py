"""What a browser client and a generated client need of every response (issue #13).

- **CORS** from an allow-list in settings (`GATEWAY_CORS_ALLOW_ORIGINS`, empty = off): a
  browser-based agent desktop or an H5 customer page on another origin can call the API, and
  can read the headers it needs (ETag for If-Match, Location, the quota, the request id).
- **Compression**: bodies of 1 KiB or more are Brotli- or gzip-compressed, as the client's
  Accept-Encoding prefers (compression.py).
- **`Cache-Control: private, no-store`** on every `/v1` answer: they carry personal data
  (customers' names and words, transcripts) that no shared cache may keep. A route that sets
  its own Cache-Control keeps it.
- **The OpenAPI declares the response headers** each operation really sends, with their schema,
  and header parameters as plain strings (FastAPI renders an optional header `string | null`,
  which generated clients then type as nullable): `declare_headers` rewrites the spec once.

One place for all of it, installed by `app.create_app`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Response
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kefu_common.context import REQUEST_ID_HEADER
from kefu_gateway.compression import CompressionMiddleware

# The spec's info.license (the project's, pyproject.toml) and its one server: relative, so the
# document is right behind any host, port or proxy that serves it (Redocly's recommended rules
# want both declared).
API_LICENSE = {"name": "Apache-2.0", "identifier": "Apache-2.0"}
API_SERVERS = [{"url": "/", "description": "The gateway that serves this document"}]

COMPRESS_MIN_BYTES = 1024
PRIVATE = b"private, no-store"

# Request headers a browser client may send, and response headers it may read.
ALLOWED_REQUEST_HEADERS = (
    "Authorization", "Content-Type", "Idempotency-Key", "If-Match", "If-None-Match",
    "X-API-Key", REQUEST_ID_HEADER,
)
EXPOSED_RESPONSE_HEADERS = (
    "ETag", "Location", "RateLimit", "RateLimit-Policy", "Retry-After", REQUEST_ID_HEADER,
    "Content-Disposition",
)


class PrivateNoStoreMiddleware:
    """`Cache-Control: private, no-store` on every `/v1` response that did not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return

        async def send_private(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", PRIVATE))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_private)


def install_browser_middleware(app: FastAPI, *, cors_allow_origins: list[str]) -> None:
    """Add in order (each added one wraps the previous): no-store, then compression, then CORS
    outermost of the three, so a preflight is answered before auth or body limits run and
    errors carry the CORS headers too."""
    app.add_middleware(PrivateNoStoreMiddleware)
    app.add_middleware(CompressionMiddleware, minimum_size=COMPRESS_MIN_BYTES)
    if cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cors_allow_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=list(ALLOWED_REQUEST_HEADERS),
            expose_headers=list(EXPOSED_RESPONSE_HEADERS),
            allow_credentials=False,  # bearer tokens and API keys, never cookies
            max_age=600,
        )


def created(response: Response, location: str) -> None:
    """Every 201 says where the new thing can be read (a fragment names it inside its parent
    when it has no URL of its own, e.g. a contact in the ticket's timeline)."""
    response.headers["Location"] = location


def _header(description: str, *, required: bool = False, fmt: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if fmt:
        schema["format"] = fmt
    return {"description": description, "required": required, "schema": schema}


REQUEST_ID = _header("The request's correlation id (yours if you sent a valid one)", required=True)
ETAG = _header('The version of the returned resource, `"<version>"`: send it as If-Match / If-None-Match',
               required=True)
LOCATION = _header("Where the created resource can be read", required=True, fmt="uri-reference")
RETRY_AFTER = _header("Seconds to wait before retrying", required=True)
RATELIMIT = _header('The caller\'s quota left, `"caller";r=<remaining>;t=<seconds to reset>` '
                    "(partners and customers)")
RATELIMIT_POLICY = _header('The caller\'s quota, `"caller";q=<requests>;w=<window seconds>`')


# Operations answering with one of these send its ETag (routes/tickets.py, routes/customer.py).
ETAG_SCHEMAS = frozenset({"TicketPublic", "TicketCreated", "CaseProgress"})


def _returns_etag(response: dict[str, Any]) -> bool:
    return any(
        media.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1] in ETAG_SCHEMAS
        for media in response.get("content", {}).values()
    )


def declare_headers(spec: dict[str, Any]) -> dict[str, Any]:
    """Response headers and plain-string header parameters in the spec (in place; returns it)."""
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "header":
                    parameter["schema"] = _plain_string(parameter.get("schema", {}))
            for status, response in operation.get("responses", {}).items():
                headers = response.setdefault("headers", {})
                headers[REQUEST_ID_HEADER] = REQUEST_ID
                if status == "201":
                    headers["Location"] = LOCATION
                if status[:1] == "2" or status == "304":
                    headers.setdefault("RateLimit", RATELIMIT)
                    headers.setdefault("RateLimit-Policy", RATELIMIT_POLICY)
                    if _returns_etag(response):
                        headers["ETag"] = ETAG
                if status == "429":
                    headers["RateLimit"] = {**RATELIMIT, "required": True}
                    headers["RateLimit-Policy"] = {**RATELIMIT_POLICY, "required": True}
                if status in ("429", "503", "504"):
                    headers["Retry-After"] = RETRY_AFTER
                if status == "304":
                    headers["ETag"] = ETAG
    _drop_unused_schemas(spec)
    return spec


def _drop_unused_schemas(spec: dict[str, Any]) -> None:
    """Schemas no operation reaches any more (FastAPI's HTTPValidationError once every 422 is
    ProblemDetail, problems.py) are dropped: a generator would emit dead types for them."""
    schemas = spec.get("components", {}).get("schemas", {})
    prefix = "#/components/schemas/"
    reached: set[str] = set()
    pending = [spec.get("paths", {}), spec.get("webhooks", {})]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(prefix) and ref[len(prefix):] not in reached:
                reached.add(ref[len(prefix):])
                pending.append(schemas.get(ref[len(prefix):], {}))
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    for name in set(schemas) - reached:
        del schemas[name]


def _plain_string(schema: dict[str, Any]) -> dict[str, Any]:
    """`anyOf: [{type: string, ...}, {type: null}]` -> `{type: string, ...}` (an optional header
    is absent, never null); other keys (title, description, default) are kept."""
    branches = schema.get("anyOf")
    if not branches:
        return schema
    strings = [b for b in branches if b.get("type") != "null"]
    if len(strings) != 1:
        return schema
    plain = {k: v for k, v in schema.items() if k != "anyOf"}
    plain.update(strings[0])
    if plain.get("default", "") is None:
        del plain["default"]
    return plain

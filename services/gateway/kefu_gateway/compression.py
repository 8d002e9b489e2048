"""Compressed responses, Brotli or gzip as the client's `Accept-Encoding` prefers (issue #13).

- **Negotiation** (RFC 9110 §12.5.3): q-values count, `q=0` refuses a coding, `*` stands for any
  coding not named; of the codings with the highest q, Brotli is chosen before gzip (smaller
  for the same CPU on JSON). Nothing acceptable (or `identity` only): the body goes as it is.
- **Only bodies worth it**: at least `minimum_size` bytes (the first chunk of a stream counts),
  never a response that already has a Content-Encoding, a partial one (206), or a media type
  that is compressed already (XLSX is a zip, images, fonts...) or an event stream.
- **Streams stay streams**: a streamed CSV export is compressed chunk by chunk, each chunk
  flushed (Brotli `flush`, gzip `Z_SYNC_FLUSH`), so rows still reach the client as they are
  read and memory stays flat; the stream is finished with the body.
- `Vary: Accept-Encoding` on every response large enough to have been compressed, compressed
  or not, so a shared cache never serves one coding to a client that asked for another.

The encoders are the standard ones: Starlette's gzip responder (zlib) and Google's `brotli`
bindings (its reference encoder) in a responder of the same shape. Bodies of 128 KiB or more are
compressed in a worker thread, as Starlette does for gzip, so the event loop is never held.
"""

from __future__ import annotations

import anyio.to_thread
import brotli
from starlette.datastructures import Headers
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipResponder, IdentityResponder
from starlette.types import ASGIApp, Receive, Scope, Send

from kefu_gateway.export import XLSX_MEDIA_TYPE

BR, GZIP = "br", "gzip"
# Brotli's quality 11 is for static files; 5 is the usual choice for dynamic bodies (gzip -9
# size or better, at a fraction of 11's CPU).
BROTLI_QUALITY = 5
GZIP_LEVEL = 6
THREAD_MINIMUM_SIZE = 128 * 1024
ALREADY_COMPRESSED = (*DEFAULT_EXCLUDED_CONTENT_TYPES, XLSX_MEDIA_TYPE, "application/x-brotli",
                      "application/zstd", "application/pdf")


def preferred_encoding(accept_encoding: str) -> str | None:
    """`br`, `gzip` or None (identity) for an Accept-Encoding header value."""
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        if not coding:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0  # a malformed weight accepts nothing
        weights[coding.lower()] = q
    wildcard = weights.get("*", 0.0)
    ranked = [(weights.get(coding, wildcard), coding) for coding in (BR, GZIP)]
    best_q = max(q for q, _ in ranked)
    if best_q <= 0:
        return None
    return next(coding for q, coding in ranked if q == best_q)


class BrotliResponder(IdentityResponder):
    """Starlette's responder machinery (start/body/stream handling) with Brotli as the coding."""

    content_encoding = BR

    def __init__(self, app: ASGIApp, minimum_size: int, *, exclude_content_types: tuple[str, ...]) -> None:
        super().__init__(app, minimum_size, exclude_content_types=exclude_content_types)
        self._compressor: brotli.Compressor | None = None

    async def apply_compression(self, body: bytes, *, more_body: bool) -> bytes:
        if len(body) >= THREAD_MINIMUM_SIZE:
            return await anyio.to_thread.run_sync(self._compress, body, more_body)
        return self._compress(body, more_body)

    def _compress(self, body: bytes, more_body: bool) -> bytes:
        if self._compressor is None:
            self._compressor = brotli.Compressor(mode=brotli.MODE_TEXT, quality=BROTLI_QUALITY)
        out = self._compressor.process(body)
        return out + (self._compressor.flush() if more_body else self._compressor.finish())


class CompressionMiddleware:
    def __init__(self, app: ASGIApp, *, minimum_size: int) -> None:
        self.app = app
        self.minimum_size = minimum_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        coding = preferred_encoding(Headers(scope=scope).get("accept-encoding", ""))
        responder: IdentityResponder
        if coding == BR:
            responder = BrotliResponder(self.app, self.minimum_size, exclude_content_types=ALREADY_COMPRESSED)
        elif coding == GZIP:
            responder = GZipResponder(self.app, self.minimum_size, compresslevel=GZIP_LEVEL,
                                      thread_minimum_size=THREAD_MINIMUM_SIZE,
                                      exclude_content_types=ALREADY_COMPRESSED)
        else:
            responder = IdentityResponder(self.app, self.minimum_size, exclude_content_types=ALREADY_COMPRESSED)
        await responder(scope, receive, send)

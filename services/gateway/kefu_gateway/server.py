"""How the gateway's HTTP server runs (uvicorn), shared by `python -m kefu_gateway` and the tests.

Request heads are bounded before they are read whole: uvicorn's httptools protocol buffers a
header of any size (a 32 MB header was accepted without credentials), so
`BoundedHttpToolsProtocol` counts the bytes of each request head as they arrive and answers

* `431 Request Header Fields Too Large` when the head (request line and headers) exceeds
  `GATEWAY_MAX_HEADER_BYTES` (default 32 KiB; passed as uvicorn's
  `h11_max_incomplete_event_size`, the same bound h11 applies), or one header line exceeds
  `MAX_LINE_BYTES` (8 KiB);
* `414 URI Too Long` when the request target exceeds `MAX_LINE_BYTES`;

then closes the connection. Bodies are bounded separately (`GATEWAY_MAX_BODY_BYTES`, 413).
"""

from __future__ import annotations

from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from kefu_gateway.settings import GatewaySettings

MAX_LINE_BYTES = 8 * 1024
DEFAULT_MAX_HEADER_BYTES = 32 * 1024


class _HeadTooLarge(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounded request heads (see the module)."""

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self._max_head = config.h11_max_incomplete_event_size or DEFAULT_MAX_HEADER_BYTES
        self._head_bytes = 0
        self._in_head = True

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes, self._in_head = 0, True

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_LINE_BYTES:
            raise _HeadTooLarge(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) + len(value) > MAX_LINE_BYTES:
            raise _HeadTooLarge(431)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self._in_head:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                self._refuse(exc.__context__.status)
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        if self._in_head and self._head_bytes > self._max_head:
            self._refuse(431)

    def _refuse(self, status: int) -> None:
        self.logger.info("request head refused with %d (%d bytes so far)", status, self._head_bytes)
        self.transport.write(STATUS_LINE[status] + b"content-length: 0\r\nconnection: close\r\n\r\n")
        self.transport.close()


def uvicorn_options(settings: GatewaySettings) -> dict[str, Any]:
    """The options of `uvicorn.run` / `uvicorn.Config` for this gateway (app aside)."""
    return {
        "host": settings.http_host,
        "port": settings.http_port,
        "workers": settings.workers,
        "loop": "uvloop",
        "http": BoundedHttpToolsProtocol,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "log_config": None,
        "access_log": False,
        "proxy_headers": True,
        "timeout_graceful_shutdown": int(settings.shutdown_grace_seconds),
    }

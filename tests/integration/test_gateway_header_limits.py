"""Request headers are bounded (issue #14, item 19): the gateway's real server (uvicorn with the
options `python -m kefu_gateway` uses) refuses an oversized header block or line with 431 /
414 before reading it all, and goes on serving."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from support import served_in_thread
from kefu_gateway.app import create_app
from kefu_gateway.server import uvicorn_options


@pytest.fixture(scope="module")
def served(gateway_settings: Any) -> Iterator[int]:
    settings = gateway_settings.model_copy(update={"max_header_bytes": 16 * 1024})
    options = {**uvicorn_options(settings), "host": "127.0.0.1", "port": 0}
    options.pop("workers")  # one process, in this thread
    config = uvicorn.Config(create_app(settings, configure_logs=False), lifespan="on", **options)
    with served_in_thread(config) as port:
        yield port


def _exchange(port: int, head: bytes, *, chunk: int = 64 * 1024, total: int | None = None) -> bytes:
    """Send a request head (optionally padded with a header of `total` bytes, in chunks) and
    read the answer until the server closes or answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        if total:
            sock.sendall(b"X-Padding: ")
            sent = 0
            try:
                while sent < total:
                    sock.sendall(b"a" * chunk)
                    sent += chunk
                sock.sendall(b"\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused before we were done: what we want
        answer = b""
        try:
            while b"\r\n\r\n" not in answer:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except ConnectionResetError:
            pass
        return answer


def test_a_32_mb_header_is_refused_with_431_before_it_is_read(served: int) -> None:
    answer = _exchange(served, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", total=32 * 1024 * 1024)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]


def test_one_header_line_over_8_kib_is_431_even_within_the_block_limit(served: int) -> None:
    answer = _exchange(served, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]


def test_an_overlong_request_line_is_414(served: int) -> None:
    answer = _exchange(served, b"GET /healthz?" + b"q" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 414"), answer[:200]


def test_ordinary_headers_and_bodies_are_served_after_a_refusal(served: int) -> None:
    _exchange(served, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", total=1024 * 1024)
    answer = _exchange(served, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Token: " + b"t" * 4000 + b"\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    body = b'{"x": "' + b"y" * 60_000 + b'"}'
    answer = _exchange(served, b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    assert not answer.startswith(b"HTTP/1.1 431"), answer[:200]

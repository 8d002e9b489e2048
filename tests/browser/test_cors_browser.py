"""A browser-based client on another origin calls the API when its origin is on the CORS
allow-list, and is refused when it is not (issue #13): a real page, served from two other
origins, runs `fetch` with a bearer token in headless Chromium against a gateway that allows one
of them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from support import free_port, staff_headers

PAGE = """<!doctype html><meta charset="utf-8"><title>agent desktop</title>
<script>
async function callKefu(base, token) {
  try {
    const r = await fetch(base + "/v1/tickets?page_size=1", {headers: {Authorization: "Bearer " + token}});
    return {ok: true, status: r.status, requestId: r.headers.get("X-Request-ID")};
  } catch (e) {
    return {ok: false, error: String(e)};
  }
}
</script>"""


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def page_origins() -> Iterator[tuple[str, str]]:
    """Two origins serving the same page: one the gateway allows, one it does not."""
    servers = [ThreadingHTTPServer(("127.0.0.1", free_port()), _Page) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tuple(f"http://127.0.0.1:{s.server_address[1]}" for s in servers)  # type: ignore[misc]
    for server in servers:
        server.shutdown()


@pytest.fixture(scope="module")
async def cors_gateway(platform: Any, page_origins: tuple[str, str]) -> AsyncIterator[str]:
    """A second gateway on the same services, allowing only the first page origin."""
    import uvicorn

    from kefu_gateway.app import create_app

    settings = platform.settings.model_copy(
        update={"cors_allow_origins": [page_origins[0]], "http_port": free_port()}
    )
    server = uvicorn.Server(uvicorn.Config(create_app(settings, configure_logs=False), host="127.0.0.1",
                                           port=settings.http_port, log_config=None, access_log=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{settings.http_port}"
    finally:
        server.should_exit = True
        await task


async def test_a_page_on_an_allowed_origin_calls_the_api_and_another_origin_is_refused(
    browser_context: Any, platform: Any, cors_gateway: str, page_origins: tuple[str, str]
) -> None:
    token = staff_headers(platform.settings)["Authorization"].removeprefix("Bearer ")
    allowed, other = page_origins
    page = await browser_context.new_page()
    try:
        await page.goto(f"{allowed}/desk.html")
        result = await page.evaluate("([b, t]) => callKefu(b, t)", [cors_gateway, token])
        assert result["ok"] and result["status"] == 200, result
        assert result["requestId"]  # an exposed header the page may read
        await page.goto(f"{other}/desk.html")
        refused = await page.evaluate("([b, t]) => callKefu(b, t)", [cors_gateway, token])
        assert refused == {"ok": False, "error": "TypeError: Failed to fetch"}, refused
    finally:
        await page.close()

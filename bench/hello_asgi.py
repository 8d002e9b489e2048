"""The bare ASGI baseline of `make bench`: one JSON answer, served exactly as the gateway is
served (uvicorn, one worker, uvloop, httptools, no access log).

    python bench/hello_asgi.py PORT
"""

from __future__ import annotations

import sys

BODY = b'{"status":"ok"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(
        app, host="127.0.0.1", port=int(sys.argv[1]), workers=1, loop="uvloop",
        http="httptools", log_level="warning", access_log=False,
    )

"""Back-pressure of the real-time WebSocket (issue #13): messages to a client go through a
bounded queue; a client that stops reading holds at most that many, and the stream gives up
on it after the timeout instead of buffering. The client side is the ASGI interface itself:
its `send` never completes, as a peer's full TCP window makes it block."""

from __future__ import annotations

import asyncio

import pytest
from starlette.websockets import WebSocket

from kefu_gateway.realtime_schemas import ErrorMessage
from kefu_gateway.routes.realtime import _Outbox, _SlowConsumer


async def test_a_client_that_stops_reading_holds_a_bounded_queue_and_is_given_up_on() -> None:
    sent: list[object] = []
    never = asyncio.Event()

    async def receive() -> dict[str, object]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)
        if message["type"] == "websocket.send":
            await never.wait()  # the client's window is full

    websocket = WebSocket({"type": "websocket", "path": "/", "headers": []}, receive, send)
    await websocket.accept()
    outbox = _Outbox(websocket, size=3, timeout=0.2)
    message = ErrorMessage(status=400, code="x", detail="y")
    put = 0
    with pytest.raises(_SlowConsumer):
        for _ in range(1_000):
            await outbox.put(message)
            put += 1
            assert outbox.queue.qsize() <= 3
    assert put == 4  # one in the writer's hands, three queued, then the wait times out
    assert len([m for m in sent if m["type"] == "websocket.send"]) == 1
    outbox.writer.cancel()

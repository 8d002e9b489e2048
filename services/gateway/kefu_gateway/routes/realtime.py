"""Real-time QA over a WebSocket (issue #13): the agent's client streams the turns of a live
call or chat linked to a ticket and receives, within the turn, risk alerts and coaching
prompts; `end` stores the evaluation. One WebSocket is one `StreamConversation` (live) to
scoring, which stores each turn before its ack (resumable by conversation id and seq).

Authentication is checked before the handshake is accepted: a refused connection gets an HTTP
answer (401 / 403 / 404 / 503, problem+json) instead of the 101. Tokens: `Authorization: Bearer`
(desktop clients) or, for browsers (which cannot set that header on a WebSocket), the
subprotocol list `["kefu.v1", "kefu.bearer.<token>"]`; the server always selects `kefu.v1`
and never echoes the token. After the handshake every error is an `error` message followed by
close code 4000 + its HTTP status (docs/gateway.md "Real-time QA").
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import grpc
from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from google.protobuf import json_format
from pydantic import BaseModel, ValidationError
from starlette.websockets import WebSocketDisconnect

from kefu.common.v1 import types_pb2
from kefu.scoring.v1 import scoring_pb2
from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.errors import InvalidArgument, NotFound, PermissionDenied, ServiceError
from kefu_common.logging import get_logger
from kefu_common.problem import GRPC_TO_HTTP, PROBLEM_CONTENT_TYPE, Problem, problem_from_rpc_error
from kefu_common.protoconv import enum_to_str, str_to_enum
from kefu_gateway.auth import Principal, _authenticate, has_permission
from kefu_gateway.clients import Clients
from kefu_gateway.realtime_schemas import (
    CLIENT_MESSAGE,
    AckMessage,
    AlertMessage,
    CoachingMessage,
    ErrorMessage,
    EvaluationMessage,
    ReadyMessage,
    TurnMessage,
    json_schema,
)
from kefu_gateway.routes.qa import evaluation_public

log = get_logger("kefu.gateway.realtime")

router = APIRouter(prefix="/v1/realtime", tags=["quality"])

SUBPROTOCOL = "kefu.v1"
BEARER_PROTOCOL = "kefu.bearer."
MAX_MESSAGE_CHARS = 64 * 1024
_CONVERSATION_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,100}$")


@router.get(
    "/schema",
    operation_id="getRealtimeMessageSchema",
    summary="JSON Schema of the real-time QA WebSocket's messages (client and server)",
    description="The WebSocket itself is `GET /v1/realtime/conversations/{conversation_id}?ticket_id=…` "
    "(docs/gateway.md, Real-time QA); OpenAPI cannot describe it, so its messages are published here.",
    openapi_extra={"security": []},  # a public document: said in the spec, not left implicit
)
async def realtime_schema() -> dict[str, object]:
    return json_schema()


def _token(websocket: WebSocket) -> HTTPAuthorizationCredentials | None:
    header = websocket.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        return HTTPAuthorizationCredentials(scheme=scheme, credentials=value.strip())
    for offered in websocket.scope.get("subprotocols", []):
        if offered.startswith(BEARER_PROTOCOL):
            return HTTPAuthorizationCredentials(scheme="Bearer", credentials=offered[len(BEARER_PROTOCOL):])
    return None


async def _admit(websocket: WebSocket, conversation_id: str, ticket_id: str) -> tuple[Principal, Any]:
    """The caller (staff) and the linked ticket, or a ServiceError refusing the handshake."""
    principal, _ = await _authenticate(websocket, _token(websocket), None)  # type: ignore[arg-type]
    if not has_permission(principal, "quality:evaluate"):
        raise PermissionDenied("real-time QA is for staff roles", code="staff_only")
    if not _CONVERSATION_ID.match(conversation_id):
        raise InvalidArgument("conversation_id must be 1..100 characters of A-Z a-z 0-9 . _ : -",
                              code="invalid_conversation_id")
    if not ticket_id:
        raise InvalidArgument("ticket_id (query) is required: the call or chat is linked to a ticket",
                              code="ticket_id_required")
    clients: Clients = websocket.app.state.clients
    try:
        ticket = await clients.ticketing.GetTicket(
            ticketing_pb2.GetTicketRequest(id=ticket_id), timeout=clients.timeout)
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            raise NotFound(f"ticket_id {ticket_id[:64]!r} names no ticket", code="unknown_ticket") from None
        raise
    return principal, ticket


def _denial(problem: Problem, path: str) -> JSONResponse:
    headers = dict(problem.headers)
    if problem.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(problem.body(instance=path, request_id=None), status_code=problem.status,
                        headers=headers, media_type=PROBLEM_CONTENT_TYPE)


def _problem(exc: BaseException) -> Problem:
    if isinstance(exc, grpc.aio.AioRpcError):
        return problem_from_rpc_error(exc)
    if isinstance(exc, ServiceError):
        return Problem(status=GRPC_TO_HTTP.get(exc.status, 500), code=exc.code, detail=exc.message)
    return Problem(status=500, code="internal_error", detail="the stream failed")


class _Outbox:
    """Messages to the client through a bounded queue and one writer: a client that stops
    reading fills it, the stream stops reading turns, and after `timeout` it is closed
    (4408 slow_consumer) — memory never grows with a slow client."""

    def __init__(self, websocket: WebSocket, *, size: int, timeout: float) -> None:
        self.websocket, self.timeout = websocket, timeout
        self.queue: asyncio.Queue[BaseModel | None] = asyncio.Queue(maxsize=size)
        self.writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        try:
            while (message := await self.queue.get()) is not None:
                await self.websocket.send_text(message.model_dump_json())
        except (WebSocketDisconnect, RuntimeError):
            pass  # the client is gone: the reading side ends the stream

    async def put(self, message: BaseModel) -> None:
        try:
            await asyncio.wait_for(self.queue.put(message), self.timeout)
        except TimeoutError:
            raise _SlowConsumer() from None

    async def drain(self) -> None:
        """Everything queued is sent (or the client is gone)."""
        try:
            await asyncio.wait_for(self.queue.put(None), self.timeout)
            await asyncio.wait_for(self.writer, self.timeout)
        except (TimeoutError, WebSocketDisconnect, RuntimeError):
            self.writer.cancel()


class _SlowConsumer(Exception):
    pass


@router.websocket("/conversations/{conversation_id}")
async def realtime_conversation(websocket: WebSocket, conversation_id: str, ticket_id: str = "") -> None:
    settings = websocket.app.state.settings
    try:
        principal, ticket = await _admit(websocket, conversation_id, ticket_id)
    except (ServiceError, grpc.aio.AioRpcError) as exc:
        await websocket.send_denial_response(_denial(_problem(exc), websocket.url.path))
        return
    clients: Clients = websocket.app.state.clients
    call = clients.scoring.StreamConversation()
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in websocket.scope.get("subprotocols", []) else None)
    outbox = _Outbox(websocket, size=settings.realtime_send_queue, timeout=settings.realtime_send_timeout_seconds)
    close_code = 1000
    try:
        await _write(call, scoring_pb2.StreamRequest(start=scoring_pb2.StreamStart(
            conversation_id=conversation_id, ticket_id=ticket.id, agent_id=principal.subject,
            category=ticket.category, channel=enum_to_str(types_pb2.Channel, ticket.channel) or "",
            team=ticket.owner.team, live=True,
            request_id=f"realtime:{conversation_id}",
        )))
        started = await _read(call)
        await outbox.put(ReadyMessage(conversation_id=conversation_id, ticket_id=ticket.id,
                                      stored_turns=started.started.stored_turns, resumed=started.started.resumed))
        await _relay(websocket, call, outbox)
    except WebSocketDisconnect:
        close_code = 0  # the client left: the stored turns wait for its reconnect
    except _SlowConsumer:
        close_code = await _fail(outbox, Problem(status=408, code="slow_consumer",
                                                 detail="the client did not read its messages in time"), drop=True)
    except (ServiceError, grpc.aio.AioRpcError, ValidationError) as exc:
        problem = _problem(exc) if not isinstance(exc, ValidationError) else Problem(
            status=400, code="invalid_message", detail=_validation_detail(exc))
        close_code = await _fail(outbox, problem)
    except Exception:  # never an unhandled error in the ASGI app: the client gets a code
        log.exception("realtime_stream_failed", conversation_id=conversation_id)
        close_code = await _fail(outbox, Problem(status=500, code="internal_error", detail="the stream failed"))
    finally:
        call.cancel()
        if close_code:
            await outbox.drain()
            try:
                await websocket.close(close_code)
            except (RuntimeError, WebSocketDisconnect):
                pass  # already closed by the client
        else:
            outbox.writer.cancel()


async def _fail(outbox: _Outbox, problem: Problem, *, drop: bool = False) -> int:
    log.info("realtime_stream_refused", status=problem.status, code=problem.code)
    if drop:  # the queue is full: the error goes first
        while not outbox.queue.empty():
            outbox.queue.get_nowait()
    try:
        outbox.queue.put_nowait(ErrorMessage(status=problem.status, code=problem.code, detail=problem.detail))
    except asyncio.QueueFull:
        pass
    return 4000 + problem.status if problem.status < 1000 else 1011


def _validation_detail(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]


async def _relay(websocket: WebSocket, call: Any, outbox: _Outbox) -> None:
    """Client turns to scoring one at a time; what each raised back, then its ack."""
    while True:
        raw = await websocket.receive_text()
        if len(raw) > MAX_MESSAGE_CHARS:
            raise InvalidArgument(f"a message is at most {MAX_MESSAGE_CHARS} characters", code="message_too_large")
        message = CLIENT_MESSAGE.validate_json(raw)
        if not isinstance(message, TurnMessage):
            await _write(call, scoring_pb2.StreamRequest(end=scoring_pb2.StreamEnd()))
            event = await _read(call)
            await outbox.put(EvaluationMessage(evaluation=evaluation_public(event.evaluation)))
            return
        await _write(call, scoring_pb2.StreamRequest(seq=message.seq, turn=scoring_pb2.Turn(
            role=str_to_enum(scoring_pb2.Role, message.role), text=message.text,
            start_ms=message.start_ms, end_ms=message.end_ms)))
        while True:
            event = await _read(call)
            await outbox.put(_server_message(event, message.seq))
            if event.WhichOneof("event") == "turn_ack":
                break


async def _write(call: Any, request: scoring_pb2.StreamRequest) -> None:
    try:
        await call.write(request)
    except asyncio.InvalidStateError:  # scoring ended the stream (an error): say which
        await _finished(call)


async def _read(call: Any) -> scoring_pb2.StreamEvent:
    event = await call.read()
    if event is grpc.aio.EOF:
        await _finished(call)
    return event  # type: ignore[no-any-return]


async def _finished(call: Any) -> None:
    code = await call.code()
    raise grpc.aio.AioRpcError(
        code if code != grpc.StatusCode.OK else grpc.StatusCode.INTERNAL,
        await call.initial_metadata(), await call.trailing_metadata(),
        details=await call.details() or "the scoring stream ended early",
    )


def _server_message(event: scoring_pb2.StreamEvent, seq: int) -> BaseModel:
    kind = event.WhichOneof("event")
    if kind == "alert":
        return AlertMessage(seq=seq, **_fields(event.alert))
    if kind == "coaching":
        return CoachingMessage(seq=seq, **_fields(event.coaching))
    ack = event.turn_ack
    emotion = _fields(ack.emotion) if ack.HasField("emotion") else None
    return AckMessage(seq=ack.seq or seq, turn_index=ack.turn_index, duplicate=ack.duplicate, emotion=emotion)


def _fields(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)

"""Real-time QA over the gateway's WebSocket (issue #13), with a real WebSocket client
(`websockets`) against the gateway served by uvicorn, over real services: ticketing,
escalation, scoring with its signal relay on (risk signals reach escalation's RaiseSignal)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
import httpx
import pytest
import uvicorn
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from kefu.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from escalation_support import Inbox, escalation_database
from support import staff_headers, ticket_body

THREAT = "我要打12315投诉你们"


async def _serve(app: Any, settings: Any) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    """The gateway as `python -m kefu_gateway` serves it (its uvicorn options), on this loop."""
    from kefu_gateway.server import uvicorn_options

    options = {**uvicorn_options(settings), "host": "127.0.0.1", "port": 0, "loop": "asyncio"}
    options.pop("workers")
    config = uvicorn.Config(app, lifespan="on", **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    return server, task, server.servers[0].sockets[0].getsockname()[1]


@pytest.fixture(scope="module")
async def stack(database_url: str, escalation_addr: str, gateway_settings: Any) -> AsyncIterator[dict[str, Any]]:
    """The gateway (uvicorn, on this loop) over the session's services and a scoring server of
    this module's with its signal relay on (to the session's escalation service)."""
    from kefu_gateway.app import create_app
    from kefu_scoring.app import service as scoring_service
    from kefu_scoring.settings import ScoringSettings

    scoring = await scoring_service.create_server(ScoringSettings(
        grpc_port=0, relay_signals=True, escalation_addr=escalation_addr, relay_interval_seconds=0.2), database_url)
    await scoring.start()
    scoring_addr = f"127.0.0.1:{scoring.port}"
    settings = gateway_settings.model_copy(update={"scoring_addr": scoring_addr})
    server, task, port = await _serve(create_app(settings, configure_logs=False), settings)
    try:
        yield {"port": port, "settings": settings, "scoring_addr": scoring_addr, "database_url": database_url}
    finally:
        server.should_exit = True
        await task
        await scoring.stop()


@pytest.fixture(scope="module")
async def http(stack: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    headers = staff_headers(stack["settings"], role="lead", subject="lead-1")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack['port']}", headers=headers) as client:
        yield client


async def new_ticket(http: httpx.AsyncClient, stack: dict[str, Any] | None = None) -> str:
    """A ticket created through the gateway; with `stack`, also known to escalation's clocks
    (its ticket.created projected, as escalation's consumer and clock worker would: they are
    tested on their own; here the inbox row is written directly, escalation_support.Inbox)."""
    response = await http.post("/v1/tickets", json=ticket_body(), headers={"Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code == 201, response.text
    ticket_id = str(response.json()["id"])
    if stack is not None:
        async with escalation_database(stack["database_url"]) as db:
            inbox = Inbox(db)
            inbox.ticket = uuid.UUID(ticket_id)
            await inbox.created(datetime.now(UTC))
            await inbox.project()
    return ticket_id


def url(stack: dict[str, Any], conversation_id: str, ticket_id: str) -> str:
    return f"ws://127.0.0.1:{stack['port']}/v1/realtime/conversations/{conversation_id}?ticket_id={ticket_id}"


def agent_token(stack: dict[str, Any], role: str = "agent") -> str:
    return staff_headers(stack["settings"], role=role, subject="agent-7")["Authorization"].removeprefix("Bearer ")


class Call:
    """The agent's client: one WebSocket, one turn at a time, everything received logged."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.log: list[tuple[str, Any]] = []
        self.seq = 0

    @classmethod
    async def open(cls, stack: dict[str, Any], conversation_id: str, ticket_id: str, *, browser: bool = False) -> Call:
        token = agent_token(stack)
        if browser:  # the token in Sec-WebSocket-Protocol, as a browser can send it
            ws = await websockets.connect(url(stack, conversation_id, ticket_id),
                                          subprotocols=["kefu.v1", f"kefu.bearer.{token}"])  # type: ignore[list-item]
        else:
            ws = await websockets.connect(url(stack, conversation_id, ticket_id),
                                          additional_headers={"Authorization": f"Bearer {token}"})
        call = cls(ws)
        call.ready = await call.receive()
        assert call.ready["type"] == "ready"
        call.seq = call.ready["stored_turns"]
        return call

    async def receive(self) -> dict[str, Any]:
        message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout=15))
        self.log.append(("received", message))
        return message

    async def turn(self, role: str, text: str, *, seq: int | None = None) -> list[dict[str, Any]]:
        """Send a turn; everything received up to and including its ack."""
        if seq is None:
            self.seq += 1
            seq = self.seq
        self.log.append(("sent", seq))
        await self.ws.send(json.dumps({"type": "turn", "seq": seq, "role": role, "text": text}))
        received = []
        while True:
            message = await self.receive()
            received.append(message)
            if message["type"] == "ack":
                return received

    async def end(self) -> dict[str, Any]:
        await self.ws.send(json.dumps({"type": "end"}))
        message = await self.receive()
        assert message["type"] == "evaluation", message
        await self.ws.close()
        return dict(message["evaluation"])


async def risk_escalations(http: httpx.AsyncClient, ticket_id: str, *, settle: int = 3) -> list[dict[str, Any]]:
    """The ticket's risk-signal escalations once the relay has delivered (polls until the list
    has stayed the same `settle` times; the relay runs every 0.2 s)."""
    seen: list[dict[str, Any]] | None = None
    same = 0
    for _ in range(150):
        response = await http.get("/v1/escalations", params={"ticket_id": ticket_id})
        assert response.status_code == 200, response.text
        found = [e for e in response.json()["items"] if e["trigger"] == "risk_signal"]
        same = same + 1 if found and found == seen else 0
        if same >= settle:
            return found
        seen = found
        await asyncio.sleep(0.2)
    return seen or []


async def test_threat_alert_arrives_before_the_next_turn_and_escalates_the_ticket_once(
    stack: dict[str, Any], http: httpx.AsyncClient
) -> None:
    ticket_id = await new_ticket(http, stack)
    call = await Call.open(stack, f"call-{uuid.uuid4().hex[:12]}", ticket_id)
    assert (call.ready["stored_turns"], call.ready["resumed"]) == (0, False)
    await call.turn("agent", "您好，很高兴为您服务")
    received = await call.turn("customer", THREAT)
    [alert] = [m for m in received if m["type"] == "alert"]
    assert (alert["kind"], alert["matched_text"], alert["turn_index"], alert["seq"]) == ("regulator", "12315", 1, 2)
    assert alert["signal_id"].startswith("scoring-")
    # the same threat again, twice in one turn and in a later turn of the same call
    await call.turn("customer", f"{THREAT}，{THREAT}！")
    await call.turn("agent", "非常抱歉，我马上为您处理")
    await call.turn("customer", THREAT)
    evaluation = await call.end()
    # The alert was received after the risky turn left and before the next turn was sent.
    sent = [i for i, (what, _) in enumerate(call.log) if what == "sent"]
    first_alert = next(i for i, (what, m) in enumerate(call.log) if what == "received" and m["type"] == "alert")
    assert sent[1] < first_alert < sent[2]
    assert "regulator" in evaluation["risk_flags"]

    escalations = await risk_escalations(http, ticket_id)
    assert len(escalations) == 1, escalations
    assert escalations[0]["to_level"] == "L3"


async def test_a_second_call_on_the_same_ticket_with_the_same_threat_raises_no_second_escalation(
    stack: dict[str, Any], http: httpx.AsyncClient
) -> None:
    ticket_id = await new_ticket(http, stack)
    for _ in range(2):
        call = await Call.open(stack, f"call-{uuid.uuid4().hex[:12]}", ticket_id)
        await call.turn("customer", "你们再不处理我就打12315投诉，气死我了！")
        await call.end()
    assert len(await risk_escalations(http, ticket_id)) == 1


async def test_reconnect_mid_call_resumes_without_a_duplicated_turn_and_the_evaluation_equals_the_batch_score(
    stack: dict[str, Any], http: httpx.AsyncClient
) -> None:
    ticket_id = await new_ticket(http)
    conversation_id = f"call-{uuid.uuid4().hex[:12]}"
    turns = [("agent", "喂"), ("customer", "我的快递三天没动了"), ("agent", "这个我保证明天到，你自己看吧"),
             ("customer", THREAT), ("agent", "非常抱歉，我马上为您核实")]
    call = await Call.open(stack, conversation_id, ticket_id, browser=True)
    assert call.ws.subprotocol == "kefu.v1"  # the token is never echoed
    await call.turn(*turns[0])
    await call.turn(*turns[1])
    prompts = [m for m in await call.turn(*turns[2]) if m["type"] == "coaching"]
    assert {p["rule_id"] for p in prompts} >= {"forbidden-phrases", "unauthorised-promise", "greeting-required"}
    # turn 4 leaves, then the connection drops before its ack is read
    await call.ws.send(json.dumps({"type": "turn", "seq": 4, "role": turns[3][0], "text": turns[3][1]}))
    await asyncio.sleep(0.5)
    await call.ws.close()

    again = await Call.open(stack, conversation_id, ticket_id)
    assert again.ready["resumed"] is True
    stored = again.ready["stored_turns"]
    assert stored in (3, 4)
    # The client resends what it has no ack for: a stored turn is acknowledged, not re-scored.
    resent = await again.turn(*turns[3], seq=4)
    assert [m["type"] for m in resent] == (["ack"] if stored == 4 else ["alert", "ack"])
    assert resent[-1]["duplicate"] is (stored == 4)
    again.seq = 4
    await again.turn(*turns[4])
    # a gap is refused
    await again.ws.send(json.dumps({"type": "turn", "seq": 9, "role": "agent", "text": "?"}))
    error = await again.receive()
    assert (error["type"], error["code"], error["status"]) == ("error", "turn_sequence_gap", 400)
    with pytest.raises(ConnectionClosed) as closed:
        await again.ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400

    final = await Call.open(stack, conversation_id, ticket_id)
    assert final.ready["stored_turns"] == 5
    evaluation = await final.end()
    assert [t["text"] for t in evaluation["turns"]] == [t for _, t in turns]  # each turn once

    async with grpc.aio.insecure_channel(stack["scoring_addr"]) as channel:
        batch = await scoring_pb2_grpc.ScoringServiceStub(channel).ScoreConversation(scoring_pb2.ScoreConversationRequest(
            request_id=f"batch-{uuid.uuid4().hex}", turns=[
                scoring_pb2.Turn(role=scoring_pb2.ROLE_AGENT if r == "agent" else scoring_pb2.ROLE_CUSTOMER, text=t)
                for r, t in turns]))
    assert evaluation["total_score"] == batch.total_score and evaluation["grade"] == batch.grade
    assert [(h["rule_id"], h["turn_index"], h["start"], h["end"], h["points"]) for h in evaluation["hits"]] == [
        (h.rule_id, h.turn_index, h.start, h.end, h.points) for h in batch.hits]
    assert [d["score"] for d in evaluation["dimensions"]] == [d.score for d in batch.dimensions]
    assert evaluation["risk_flags"] == list(batch.risk_flags)

    # an ended conversation cannot be resumed
    ended = await websockets.connect(url(stack, conversation_id, ticket_id),
                                     additional_headers={"Authorization": f"Bearer {agent_token(stack)}"})
    message = json.loads(await ended.recv())
    assert message["code"] == "conversation_ended"


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [({}, 401, "missing_token"), ({"Authorization": "Bearer not-a-token"}, 401, "invalid_token")],
)
async def test_bad_token_is_refused_before_the_handshake(
    stack: dict[str, Any], http: httpx.AsyncClient, headers: dict[str, str], status: int, code: str
) -> None:
    ticket_id = await new_ticket(http)
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(url(stack, "call-x", ticket_id), additional_headers=headers)
    response = refused.value.response
    assert response.status_code == status
    assert json.loads(response.body)["code"] == code


async def test_customer_token_is_refused_staff_only(stack: dict[str, Any], http: httpx.AsyncClient) -> None:
    ticket_id = await new_ticket(http)
    token = agent_token(stack, role="customer")
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(url(stack, "call-x", ticket_id), subprotocols=["kefu.v1", f"kefu.bearer.{token}"])  # type: ignore[list-item]
    assert refused.value.response.status_code == 403
    assert json.loads(refused.value.response.body)["code"] == "staff_only"


async def test_unknown_ticket_is_refused_before_the_handshake(stack: dict[str, Any]) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(url(stack, "call-x", str(uuid.uuid4())),
                                 additional_headers={"Authorization": f"Bearer {agent_token(stack)}"})
    assert refused.value.response.status_code == 404
    assert json.loads(refused.value.response.body)["code"] == "unknown_ticket"


async def test_a_malformed_message_closes_with_4400_and_a_stable_code(
    stack: dict[str, Any], http: httpx.AsyncClient
) -> None:
    call = await Call.open(stack, f"call-{uuid.uuid4().hex[:12]}", await new_ticket(http))
    await call.ws.send(json.dumps({"type": "turn", "seq": 1, "role": "manager", "text": "hi"}))
    error = await call.receive()
    assert (error["type"], error["code"]) == ("error", "invalid_message")
    with pytest.raises(ConnectionClosed) as closed:
        await call.ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400


async def test_the_message_schema_is_published(http: httpx.AsyncClient) -> None:
    schema = (await http.get("/v1/realtime/schema")).json()
    assert set(schema["client"]["discriminator"]["mapping"]) == {"turn", "end"}
    assert set(schema["server"]["discriminator"]["mapping"]) == {
        "ready", "alert", "coaching", "ack", "evaluation", "error"}


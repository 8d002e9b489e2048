"""The JSON messages of the real-time QA WebSocket (`/v1/realtime/conversations/{id}`, issue
#13; docs/gateway.md "Real-time QA"). Every message is one JSON object with a `type`.

Client → server: `turn`, `end`. Server → client: `ready` (once, after the handshake), then per
turn `alert`* `coaching`* `ack`, then `evaluation` after `end`; `error` before any close that
is not normal. The JSON Schema of both directions is served at
`GET /v1/realtime/schema` so clients can generate their types.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from kefu_gateway.schemas import EvaluationPublic, TurnEmotionPublic


class _Client(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TurnMessage(_Client):
    """One turn of the live call or chat. `seq` numbers the conversation's turns from 1; after
    a reconnect resend from `ready.stored_turns + 1` (a seq already stored is acknowledged with
    `duplicate: true` and not scored again; a gap closes the stream with `turn_sequence_gap`)."""

    type: Literal["turn"]
    seq: int = Field(ge=1, le=2000)
    role: Literal["agent", "customer", "bot"]
    text: str = Field(max_length=10_000)
    start_ms: int = Field(default=0, ge=0)
    end_ms: int = Field(default=0, ge=0)


class EndMessage(_Client):
    """The call is over: the server scores every stored turn, stores the evaluation and sends it."""

    type: Literal["end"]


ClientMessage = Annotated[TurnMessage | EndMessage, Field(discriminator="type")]
CLIENT_MESSAGE: TypeAdapter[TurnMessage | EndMessage] = TypeAdapter(ClientMessage)


class ReadyMessage(BaseModel):
    type: Literal["ready"] = "ready"
    conversation_id: str
    ticket_id: str
    stored_turns: int = Field(description="Turns the server holds; send seq stored_turns + 1 next")
    resumed: bool = Field(description="The conversation was started before (a reconnect)")


class AlertMessage(BaseModel):
    """A risk in the customer's words: a threat (regulator, media, legal), abuse, or strong
    negative emotion. With a linked ticket it is also a signal to escalation (`signal_id`)."""

    type: Literal["alert"] = "alert"
    seq: int
    kind: str = Field(description="regulator | media | legal | abuse | negative_emotion | other")
    rule_id: str
    rule_version: int
    severity: str
    turn_index: int
    start: int
    end: int
    matched_text: str = Field(description="PII-masked")
    signal_id: str = Field(description="The escalation signal queued for it ('' when none)")


class CoachingMessage(BaseModel):
    """A prompt on the agent's own words: forbidden phrase, unauthorised promise, shirking, or
    a greeting missing once its window (the agent's first turns) has passed."""

    type: Literal["coaching"] = "coaching"
    seq: int
    rule_id: str
    rule_version: int
    name: str
    dimension: str
    severity: str
    turn_index: int = Field(description="The turn the prompt is about (the first agent turn for a missing greeting)")
    start: int
    end: int
    matched_text: str = Field(description="PII-masked; empty for something missing")


class AckMessage(BaseModel):
    """The turn is stored (it survives a reconnect); everything it raised was sent before this."""

    type: Literal["ack"] = "ack"
    seq: int
    turn_index: int
    duplicate: bool = Field(description="Stored before: acknowledged again, not scored again")
    emotion: TurnEmotionPublic | None = Field(default=None, description="Customer turns")


class EvaluationMessage(BaseModel):
    type: Literal["evaluation"] = "evaluation"
    evaluation: EvaluationPublic


class ErrorMessage(BaseModel):
    """Sent just before the server closes with close code 4000 + `status` (4400, 4404,
    4408 slow consumer, 4409, 4503 …); `code` is stable, as in problem+json bodies."""

    type: Literal["error"] = "error"
    status: int
    code: str
    detail: str


ServerMessage = Annotated[
    ReadyMessage | AlertMessage | CoachingMessage | AckMessage | EvaluationMessage | ErrorMessage,
    Field(discriminator="type"),
]
SERVER_MESSAGE: TypeAdapter[
    ReadyMessage | AlertMessage | CoachingMessage | AckMessage | EvaluationMessage | ErrorMessage
] = TypeAdapter(ServerMessage)


def json_schema() -> dict[str, object]:
    """Both directions' JSON Schema (for `GET /v1/realtime/schema`)."""
    return {"client": CLIENT_MESSAGE.json_schema(), "server": SERVER_MESSAGE.json_schema()}

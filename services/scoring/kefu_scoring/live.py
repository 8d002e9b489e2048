"""Live conversations (issue #13): the turns of a real-time stream stored as they arrive, so a
client that reconnects resumes by conversation id and sequence number without duplicating a
turn, and the end scores exactly the turns that were acknowledged.

The only module writing ``scoring.live_conversation`` and ``scoring.live_turn`` (migration
0015). Functions take the caller's session and flush, never commit.

* A conversation is opened by its first live `start`; a later `start` with the same id resumes
  it (same ticket and agent, else refused) and learns how many turns are stored. Its
  `started_at` and idempotency key are fixed at the first start, so the evaluation stored at
  the end is the one `ScoreConversation` stores for the same turns.
* Turn `seq` n is stored only after n - 1 (the conversation's row is locked by the update
  that moves its count: two connections on one conversation take turns). A seq already stored is a
  duplicate (acknowledged, not scored again) when its content is the same, a conflict when
  not; a seq beyond the next one is a gap.
* Texts are stored as spoken (the scorecard needs them: PII read aloud) only while the call is
  live: ending deletes them in the transaction that marks the conversation ended.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.errors import FailedPrecondition
from kefu_scoring.engine import Turn
from kefu_scoring.service import Conversation

CONVERSATION_ENDED = "conversation_ended"
CONVERSATION_MISMATCH = "conversation_mismatch"
TURN_SEQUENCE_GAP = "turn_sequence_gap"
TURN_SEQUENCE_CONFLICT = "turn_sequence_conflict"


@dataclass(frozen=True)
class Opened:
    conversation: Conversation  # as first started: its request_id and started_at
    stored: int  # turns stored so far
    resumed: bool


async def open_conversation(session: AsyncSession, *, conversation: Conversation, now: datetime) -> Opened:
    started_at = conversation.started_at or now
    params = {
        "c": conversation.conversation_id, "r": conversation.request_id, "t": conversation.ticket_id,
        "a": conversation.agent_id, "cat": conversation.category, "ch": conversation.channel,
        "team": conversation.team, "p": conversation.product, "s": started_at, "now": now,
    }
    inserted = await session.scalar(text(
        "INSERT INTO scoring.live_conversation (conversation_id, request_id, ticket_id, agent_id, category, "
        "channel, team, product, started_at, updated_at) VALUES (:c, :r, :t, :a, :cat, :ch, :team, :p, :s, :now) "
        "ON CONFLICT (conversation_id) DO NOTHING RETURNING 1"), params)
    if inserted is not None:
        return Opened(replace(conversation, started_at=started_at), 0, False)
    row = (await _execute(session, (
        "SELECT request_id, ticket_id, agent_id, category, channel, team, product, started_at, status, turns "
        "FROM scoring.live_conversation WHERE conversation_id = :c"), {"c": conversation.conversation_id})).one()
    if (row.ticket_id, row.agent_id) != (conversation.ticket_id, conversation.agent_id):
        raise FailedPrecondition(
            f"conversation {conversation.conversation_id!r} was started for another ticket or agent",
            code=CONVERSATION_MISMATCH,
        )
    if row.status == "ended":
        raise FailedPrecondition(
            f"conversation {conversation.conversation_id!r} has ended; its evaluation is stored",
            code=CONVERSATION_ENDED,
        )
    first = replace(
        conversation, request_id=row.request_id, category=row.category, channel=row.channel,
        team=row.team, product=row.product, started_at=row.started_at,
    )
    return Opened(first, int(row.turns), True)


async def stored_turns(session: AsyncSession, conversation_id: str) -> list[Turn]:
    rows = (await _execute(session, (
        "SELECT role, text, start_ms, end_ms FROM scoring.live_turn WHERE conversation_id = :c ORDER BY seq"),
        {"c": conversation_id})).all()
    return [Turn(r.role, r.text, int(r.start_ms), int(r.end_ms)) for r in rows]


async def store(session: AsyncSession, conversation_id: str, seq: int, turn: Turn, *, now: datetime) -> bool:
    """Store turn `seq` if it is the next one (True); False when it is stored already with this
    content; FailedPrecondition for a gap, a changed turn or an ended conversation. The common
    case is one statement: the count moves from seq - 1 to seq (row-locked) and the turn is
    inserted only if it did."""
    stored = await session.scalar(text(
        "WITH counted AS (UPDATE scoring.live_conversation SET turns = :s, updated_at = :now "
        "WHERE conversation_id = :c AND turns = :s - 1 AND status = 'open' RETURNING conversation_id) "
        "INSERT INTO scoring.live_turn (conversation_id, seq, role, text, start_ms, end_ms, received_at) "
        "SELECT conversation_id, :s, :r, :t, :b, :e, :now FROM counted RETURNING 1"),
        {"c": conversation_id, "s": seq, "r": turn.role, "t": turn.text, "b": turn.start_ms, "e": turn.end_ms,
         "now": now})
    if stored is not None:
        return True
    return await check_stored(session, conversation_id, seq, turn)


async def check_stored(session: AsyncSession, conversation_id: str, seq: int, turn: Turn) -> bool:
    """False when turn `seq` is stored with this content (a resend); FailedPrecondition when
    it is not the next one, was stored with another content, or the conversation has ended."""
    row = (await _execute(session, (
        "SELECT turns, status FROM scoring.live_conversation WHERE conversation_id = :c FOR UPDATE"),
        {"c": conversation_id})).one()
    if row.status == "ended":
        raise FailedPrecondition(f"conversation {conversation_id!r} has ended", code=CONVERSATION_ENDED)
    stored = int(row.turns)
    if seq > stored:
        raise FailedPrecondition(
            f"turn seq {seq} is not the next one: {stored} turns are stored, send seq {stored + 1}",
            code=TURN_SEQUENCE_GAP,
        )
    earlier = (await _execute(session, (
        "SELECT role, text, start_ms, end_ms FROM scoring.live_turn WHERE conversation_id = :c AND seq = :s"),
        {"c": conversation_id, "s": seq})).one()
    if Turn(earlier.role, earlier.text, int(earlier.start_ms), int(earlier.end_ms)) != turn:
        raise FailedPrecondition(
            f"turn seq {seq} was stored with another content", code=TURN_SEQUENCE_CONFLICT
        )
    return False


async def end(session: AsyncSession, conversation_id: str, evaluation_id: uuid.UUID, *, now: datetime) -> None:
    """The evaluation is stored: the conversation is ended and its texts deleted."""
    await _execute(session, (
        "UPDATE scoring.live_conversation SET status = 'ended', evaluation_id = :e, updated_at = :now "
        "WHERE conversation_id = :c"), {"c": conversation_id, "e": evaluation_id, "now": now})
    await _execute(session, ("DELETE FROM scoring.live_turn WHERE conversation_id = :c"), {"c": conversation_id})


async def _execute(session: AsyncSession, sql: str, params: dict[str, object]) -> Any:
    return await (await session.connection()).execute(text(sql), params)

"""The one writer of ``escalation.clock_ticket`` (issue #15: each table written by one module).

A ticket's row holds what the projector absorbed (``last_sequence``, the state snapshot, the
next deadline, the next cycle's SLA snapshot), what the triggers keep (matrix tier, severity,
team, calendar, contacts, reopens, the owed progress update) and the level it reached. The
projector (clocks/projector.py), the timer and the escalator (escalations/escalator.py) change it only through the
functions here; readers (reports, the ticket's SLA view, what-if, the timer's wake-ups) read it
directly. Every function takes the caller's session and never commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.db import driver_connection, json_param

__all__ = [
    "clear_update_due",
    "count_inbound_contact",
    "owe_update",
    "raise_levels",
    "save_projected",
    "save_ticked",
    "set_created",
    "set_next_cycle_sla",
    "set_reopen_count",
    "set_severity",
    "set_team",
    "set_update_due",
    "tighten_targets",
]


async def _execute(session: AsyncSession, sql: str, params: Mapping[str, Any]) -> Any:
    return await (await session.connection()).execute(text(sql), params)


# ------------------------------------------------------------------------------ projector and timer


async def save_projected(session: AsyncSession, ticket_ids: Sequence[uuid.UUID], sequences: Sequence[int],
                         deadlines: Sequence[datetime | None], states: Sequence[str],
                         calendars: Sequence[str | None], now: datetime) -> None:
    """Upsert the rows of the tickets a projection batch touched (how far it got for each, the
    next deadline, the state snapshot), in one statement."""
    await _execute(session,
        "INSERT INTO escalation.clock_ticket (ticket_id, last_sequence, next_deadline, updated_at, clock_state, "
        "clock_calendar) SELECT t, s, d, :now, j, cal FROM unnest(CAST(:t AS uuid[]), CAST(:s AS bigint[]), "
        "CAST(:d AS timestamptz[]), CAST(:j AS jsonb[]), CAST(:cal AS jsonb[])) AS v(t, s, d, j, cal) "
        "ON CONFLICT (ticket_id) DO UPDATE SET "
        "last_sequence = GREATEST(clock_ticket.last_sequence, EXCLUDED.last_sequence), "
        "next_deadline = EXCLUDED.next_deadline, updated_at = EXCLUDED.updated_at, "
        "clock_state = EXCLUDED.clock_state, clock_calendar = EXCLUDED.clock_calendar",
        {"t": list(ticket_ids), "s": list(sequences), "d": list(deadlines), "now": now, "j": list(states),
         "cal": list(calendars)})


async def set_next_cycle_sla(session: AsyncSession, snapshots: Mapping[uuid.UUID, str]) -> None:
    """The SLA snapshot (JSON text) each ticket's next cycle takes (a reclassification's)."""
    await _execute(session,
        "UPDATE escalation.clock_ticket c SET sla = CAST(v.s AS jsonb) FROM unnest(CAST(:t AS uuid[]), "
        "CAST(:s AS text[])) AS v(t, s) WHERE c.ticket_id = v.t",
        {"t": list(snapshots), "s": list(snapshots.values())})


_SAVE_TICKED = (
    "UPDATE escalation.clock_ticket c SET next_deadline = v.d, clock_state = v.j, updated_at = $2, "
    "level = GREATEST(c.level, v.l), clock_calendar = coalesce(v.cal, c.clock_calendar) "
    "FROM jsonb_to_recordset($1::jsonb) AS v(t uuid, d timestamptz, j jsonb, l text, cal jsonb) "
    "WHERE c.ticket_id = v.t"
)


async def save_ticked(session: AsyncSession, rows: Sequence[Mapping[str, Any]], now: datetime) -> None:
    """After a timer pass, in one statement: each ticket's next deadline (``d``), snapshot
    (``j``), the level its breaches reached (``l``, None: unchanged) and, when it had none yet,
    its calendar snapshot (``cal``)."""
    await (await driver_connection(session)).execute(_SAVE_TICKED, json_param(list(rows)), now)


# ------------------------------------------------------------------------------ levels


async def raise_levels(session: AsyncSession, top: Mapping[uuid.UUID, str]) -> None:
    """Raise each ticket's level to `top[ticket]` (never lowers: L0 < L1 < L2 < L3 as text)."""
    await _execute(session,
        "UPDATE escalation.clock_ticket c SET level = v.l FROM unnest(CAST(:t AS uuid[]), "
        "CAST(:l AS text[])) AS v(t, l) WHERE c.ticket_id = v.t AND v.l > c.level",
        {"t": list(top), "l": list(top.values())})


# ------------------------------------------------------------------------------ trigger state


async def set_created(session: AsyncSession, ticket_id: uuid.UUID, *, matrix_tier: str | None,
                      severity: str | None, team: str, calendar: str, ack_seconds: int | None,
                      next_update_seconds: int | None, policy: str | None) -> None:
    """What the ticket's creation tells (its SLA snapshot); the creating call is contact 1."""
    await _execute(session,
        "UPDATE escalation.clock_ticket SET matrix_tier = :tier, severity = :sev, team = :team, "
        "calendar = :cal, ack_seconds = :ack, next_update_seconds = :nu, inbound_contacts = 1, "
        "policy = :policy "
        "WHERE ticket_id = :t",
        {"tier": matrix_tier, "sev": severity, "team": team, "cal": calendar, "ack": ack_seconds,
         "nu": next_update_seconds, "t": ticket_id, "policy": policy})


async def set_team(session: AsyncSession, ticket_id: uuid.UUID, team: str) -> None:
    await _execute(session, "UPDATE escalation.clock_ticket SET team = :team WHERE ticket_id = :t",
                   {"team": team, "t": ticket_id})


async def set_severity(session: AsyncSession, ticket_id: uuid.UUID, severity: str | None) -> None:
    await _execute(session, "UPDATE escalation.clock_ticket SET severity = :s WHERE ticket_id = :t",
                   {"s": severity, "t": ticket_id})


async def count_inbound_contact(session: AsyncSession, ticket_id: uuid.UUID) -> int | None:
    """One more customer-initiated contact; returns the count (None: no row)."""
    count: int | None = await session.scalar(text(
        "UPDATE escalation.clock_ticket SET inbound_contacts = inbound_contacts + 1 "
        "WHERE ticket_id = :t RETURNING inbound_contacts"), {"t": ticket_id})
    return count


async def set_reopen_count(session: AsyncSession, ticket_id: uuid.UUID, reopens: int) -> None:
    await _execute(session, "UPDATE escalation.clock_ticket SET reopen_count = :n WHERE ticket_id = :t",
                   {"n": reopens, "t": ticket_id})


# ------------------------------------------------------------------------------ owed progress update


async def owe_update(session: AsyncSession, ticket_id: uuid.UUID, due: datetime | None,
                     since: datetime | None) -> None:
    """The next progress update is owed by `due` (None: nothing owed), its window from `since`.
    next_update_due is the timer's (cleared once the miss fired); next_update_by is the
    commitment the customer sees, kept while overdue until the next entry (issue #14.1)."""
    await _execute(session,
        "UPDATE escalation.clock_ticket SET next_update_due = :d, next_update_by = :d, "
        "next_update_since = :s WHERE ticket_id = :t",
        {"d": due, "s": since if due is not None else None, "t": ticket_id})


async def clear_update_due(session: AsyncSession, ticket_id: uuid.UUID) -> None:
    """The timer fired the missed update (the commitment the customer sees stays)."""
    await _execute(session, "UPDATE escalation.clock_ticket SET next_update_due = NULL WHERE ticket_id = :t",
                   {"t": ticket_id})


async def set_update_due(session: AsyncSession, ticket_id: uuid.UUID, due: datetime) -> None:
    """An earlier owed update (a shorter `next_update` target after a reclassification)."""
    await _execute(session, "UPDATE escalation.clock_ticket SET next_update_due = :d, next_update_by = :d "
                   "WHERE ticket_id = :t", {"d": due, "t": ticket_id})


async def tighten_targets(session: AsyncSession, ticket_id: uuid.UUID, *, matrix_tier: Any,
                          ack_seconds: int | None, next_update_seconds: int | None) -> Any | None:
    """A reclassification: the new matrix tier; shorter acknowledgement and next-update targets
    apply, longer ones loosen nothing. Returns (level, calendar, next_update_seconds,
    next_update_since, next_update_due) after the change, None when there is no row."""
    return (await _execute(session,
        "UPDATE escalation.clock_ticket SET matrix_tier = :tier, "
        "ack_seconds = LEAST(coalesce(ack_seconds, :ack), :ack), "
        "next_update_seconds = LEAST(coalesce(next_update_seconds, :nu), :nu) "
        "WHERE ticket_id = :t RETURNING level, calendar, next_update_seconds, next_update_since, next_update_due",
        {"t": ticket_id, "tier": matrix_tier, "ack": ack_seconds, "nu": next_update_seconds})).first()

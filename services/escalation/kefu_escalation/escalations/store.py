"""The one writer of ``escalation.escalation``: the escalation rows (once per ticket, cycle and
trigger key, by a unique index), their acknowledgement, and the reads of them. Every function
takes the caller's session and never commits."""

from __future__ import annotations

import uuid
from collections import namedtuple
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.db import driver_connection, json_param
from kefu_common.timestamps import rfc3339

COLUMNS = ("id, ticket_id, cycle, trigger, trigger_key, from_level, to_level, to_party, team, reason, "
            "actor, created_at, calendar, ack_due_at, acknowledged_at, acknowledged_by, status")
EscalationRow = namedtuple("EscalationRow", COLUMNS.replace(",", " "))  # type: ignore[misc]
# An escalation `_planned` describes: its key there and the type of its column.
_PLANNED_COLUMNS = (("id", "uuid"), ("t", "uuid"), ("c", "int"), ("trigger", "text"), ("key", "text"),
                    ("from", "text"), ("to", "text"), ("party", "text"), ("team", "text"), ("reason", "text"),
                    ("actor", "text"), ("at", "timestamptz"), ("cal", "text"), ("ack", "timestamptz"))
# Batches travel as one JSON array (orjson, in C) rather than one array parameter per column:
# asyncpg's per-element array encoding cost more CPU than everything else in the statement.
_INSERT_ESCALATIONS = (
    f"INSERT INTO escalation.escalation ({COLUMNS}) SELECT v.*, NULL, NULL, 'open' FROM jsonb_to_recordset($1::jsonb) "
    "AS v(" + ", ".join(f'"{c}" {t}' for c, t in _PLANNED_COLUMNS) + ") "
    f"ON CONFLICT (ticket_id, cycle, trigger_key) DO NOTHING RETURNING {COLUMNS}"
)


async def _execute(session: AsyncSession, sql: str, params: Mapping[str, Any]) -> Any:
    return await (await session.connection()).execute(text(sql), params)


# ------------------------------------------------------------------------------ writes


async def insert(session: AsyncSession, planned: Sequence[dict[str, Any]]) -> list[Any]:
    """Insert planned escalations in one statement; returns the rows inserted (a key another
    transaction recorded first is skipped)."""
    conn = await driver_connection(session)
    return [EscalationRow(*r) for r in await conn.fetch(_INSERT_ESCALATIONS, json_param(planned))]


async def mark_ack_breached(session: AsyncSession, escalation_id: uuid.UUID) -> None:
    await _execute(session, "UPDATE escalation.escalation SET status = 'ack_breached' WHERE id = :id",
                   {"id": escalation_id})


async def record_acknowledgement(session: AsyncSession, escalation_id: uuid.UUID, *, actor: str,
                                 now: datetime) -> None:
    """The first acknowledgement counts; a late one keeps ``ack_breached``."""
    await _execute(session,
        "UPDATE escalation.escalation SET acknowledged_at = :now, acknowledged_by = :a, "
        "status = CASE WHEN status = 'open' THEN 'acknowledged' ELSE status END "
        "WHERE id = :id AND acknowledged_at IS NULL", {"now": now, "a": actor[:128], "id": escalation_id})


# ------------------------------------------------------------------------------ reads


async def current_open_cycle(session: AsyncSession, ticket_id: uuid.UUID) -> int | None:
    """The number of the ticket's cycle if it is open (not stopped), else None."""
    row = (await _execute(session,
        "SELECT cycle, bool_or(kind = 'stopped' AND target IS NULL) AS stopped FROM escalation.clock_event "
        "WHERE ticket_id = :t AND cycle = (SELECT max(cycle) FROM escalation.clock_event WHERE ticket_id = :t) "
        "GROUP BY cycle", {"t": ticket_id})).first()
    if row is None or row.stopped:
        return None
    return int(row.cycle)


async def list_by_key(session: AsyncSession, ticket_id: uuid.UUID, cycle: int, key: str) -> Any | None:
    return (await _execute(session,
        f"SELECT {COLUMNS} FROM escalation.escalation WHERE ticket_id = :t AND cycle = :c AND trigger_key = :k",
        {"t": ticket_id, "c": cycle, "k": key})).first()


async def get_escalation(session: AsyncSession, escalation_id: uuid.UUID) -> Any | None:
    return (await _execute(session, f"SELECT {COLUMNS} FROM escalation.escalation WHERE id = :id",
                           {"id": escalation_id})).first()


async def list_escalations(session: AsyncSession, *, ticket_id: uuid.UUID | None = None,
                           status: str = "", trigger: str = "", team: str = "", min_level: str = "",
                           limit: int = 50, before: tuple[datetime, uuid.UUID] | None = None) -> list[Any]:
    """Newest first; `before` is the keyset (created_at, id) of the previous page's last row."""
    where, params = [], {"lim": limit}
    filters = {"ticket_id = :t": ticket_id, "status = :status": status, "trigger = :trigger": trigger,
               "team = :team": team, "to_level >= :lvl": min_level}  # L0 < L1 < L2 < L3 sorts as text
    for clause, value in filters.items():
        if value:
            where.append(clause)
            params[clause.rsplit(":", 1)[1]] = value
    if before is not None:
        where.append("(created_at, id) < (:b_at, :b_id)")
        params["b_at"], params["b_id"] = before
    sql = (f"SELECT {COLUMNS} FROM escalation.escalation "
           f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY created_at DESC, id DESC LIMIT :lim")
    return list((await _execute(session, sql, params)).all())


def escalation_payload(row: Any) -> dict[str, Any]:
    """The notification body of one escalation (no customer PII: ids and levels only)."""
    return {
        "escalation_id": str(row.id), "cycle": row.cycle, "trigger": row.trigger,
        "trigger_key": row.trigger_key, "from_level": row.from_level, "to_level": row.to_level,
        "to_party": row.to_party, "team": row.team, "reason": row.reason,
        "ack_due_at": rfc3339(row.ack_due_at) if row.ack_due_at else None,
    }

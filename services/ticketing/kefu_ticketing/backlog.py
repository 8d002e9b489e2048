"""The backlog now (issue #12): open tickets by group, status and age band, in one statement.

Open means ``new``, ``open``, ``pending_customer`` or ``reopened``. Age counts from the
ticket's ``first_contact_at`` (the customer has waited since then) to the clock's now. Bands
are half-open: ``0-4h`` [0, 4 h), ``4-24h``, ``1-3d``, ``3-7d``, ``7d+``. Grouping is by the
ticket's current team / assignee / category / channel, as the metrics group (metrics.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_ticketing.metrics import group_expression

OPEN_STATUSES = ("new", "open", "pending_customer", "reopened")
AGE_BANDS = ("0-4h", "4-24h", "1-3d", "3-7d", "7d+")

_SQL = """
SELECT {group} AS grp, t.status,
       CASE WHEN t.first_contact_at > CAST(:now AS timestamptz) - interval '4 hours' THEN 0
            WHEN t.first_contact_at > CAST(:now AS timestamptz) - interval '24 hours' THEN 1
            WHEN t.first_contact_at > CAST(:now AS timestamptz) - interval '3 days' THEN 2
            WHEN t.first_contact_at > CAST(:now AS timestamptz) - interval '7 days' THEN 3
            ELSE 4 END AS band,
       count(*) AS tickets, min(t.first_contact_at) AS oldest
FROM ticketing.ticket t
WHERE t.status IN ('new', 'open', 'pending_customer', 'reopened')
GROUP BY 1, 2, 3
ORDER BY {group} COLLATE "C", array_position(ARRAY['new', 'open', 'pending_customer', 'reopened'],
         t.status::text), 3
"""


@dataclass(frozen=True)
class BacklogRow:
    group: str
    status: str
    age_band: str
    tickets: int
    oldest_first_contact_at: datetime


async def backlog(
    session: AsyncSession, *, now: datetime, group_by: str | None
) -> list[BacklogRow]:
    """Open tickets at `now` by (group, status, age band); only non-empty cells."""
    conn = await session.connection()
    result = await conn.execute(text(_SQL.format(group=group_expression(group_by))), {"now": now})
    return [
        BacklogRow(str(r.grp), str(r.status), AGE_BANDS[r.band], int(r.tickets), r.oldest)
        for r in result
    ]

"""One outbox relay: lease the due rows in a short transaction, send with no transaction open,
record the outcomes in another short transaction.

Extracted from the gateway's webhook delivery, which did it right first: a relay that sent
inside its claiming transaction held row locks and a pooled connection for as long as the
network call took (seconds, or a timeout), so no remote call may happen inside a transaction
that holds locks (STYLE.md). An outbox says how to claim, send and record:

    class Signals(Outbox[Item, Reply]):
        async def claim(self, session, *, now, until, limit):   # due rows, FOR UPDATE SKIP LOCKED,
            ...                                                # next_attempt_at = until (the lease)
        async def send(self, item):                            # the network call; no session here
            ...
        async def record(self, session, sent, *, now):         # [(item, outcome)]: delivered / retry / failed
            ...

    attempted = await relay_once(db, Signals(), clock, lease=timedelta(seconds=60), limit=50)

A row is claimed by one replica at a time (SKIP LOCKED, then the lease until it is recorded or
the lease runs out). Delivery is at least once: a crash between the send and the record sends
the row again once its lease has passed, so receivers de-duplicate by the row's id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.clock import Clock
from kefu_common.db import Database

__all__ = ["Outbox", "relay_once"]

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


class Outbox(Protocol[Item, Outcome]):
    async def claim(self, session: AsyncSession, *, now: datetime, until: datetime, limit: int) -> list[Item]:
        """The due rows (at most `limit`), leased until `until`, as plain values."""
        ...

    async def send(self, item: Item) -> Outcome:
        """Deliver one item over the network; no transaction is open. Failures are outcomes."""
        ...

    async def record(self, session: AsyncSession, sent: Sequence[tuple[Item, Outcome]], *, now: datetime) -> None:
        """Store what each send came to (delivered, retry at …, failed)."""
        ...


async def relay_once(
    db: Database, outbox: Outbox[Item, Outcome], clock: Clock, *, lease: timedelta, limit: int,
    concurrent: bool = False,
) -> list[tuple[Item, Outcome]]:
    """One pass: claim, send (one after the other, or all at once with `concurrent`), record;
    returns what was attempted and how it went."""
    now = clock.now()
    async with db.session() as session:
        items = await outbox.claim(session, now=now, until=now + lease, limit=limit)
    if not items:
        return []
    if concurrent:
        outcomes = list(await asyncio.gather(*(outbox.send(item) for item in items)))
    else:
        outcomes = [await outbox.send(item) for item in items]
    sent = list(zip(items, outcomes, strict=True))
    async with db.session() as session:
        await outbox.record(session, sent, now=clock.now())
    return sent

"""One leader among the replicas of a service, for work that must not run N times at once
(following an event stream into one cursor): a PostgreSQL session advisory lock.

    async with leadership(db, lock_key("kefu-escalation-consumer", name)) as leading:
        if leading:
            await follow()          # only one replica at a time gets here
        # else: another replica leads; try again later (it may die: its lock goes with it)

The lock lives on one connection of `db.direct_engine` (the primary itself, never a
transaction pooler), held for as long as the block runs and released at its end. A replica
that dies loses its connection and with it the lock, so a standby takes over at its next try:
at once after a SIGKILL (the kernel closes the socket); after a lost node (no FIN ever comes)
when PostgreSQL's keepalives on that connection find the peer gone, which this module sets to
about half a minute (`KEEPALIVE`) instead of the operating system's two hours. Should two ever lead at once (a lock connection lost unnoticed) the work
must still be right: leadership saves doubled work, the writes' own idempotency keeps them
right.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import AsyncIterator

from sqlalchemy import text

from kefu_common.db import Database


# (setting, value): idle seconds before the first probe, seconds between probes, probes lost
# before the server drops the connection (and the lock).
KEEPALIVE = (("tcp_keepalives_idle", "10"), ("tcp_keepalives_interval", "5"), ("tcp_keepalives_count", "3"))


def lock_key(*parts: str) -> int:
    """A stable advisory lock key for a named piece of work."""
    return zlib.crc32("\x1f".join(parts).encode())


@contextlib.asynccontextmanager
async def leadership(db: Database, key: int) -> AsyncIterator[bool]:
    """True inside the block when this process holds `key`'s lock (and holds it until the
    block ends); False when another process does."""
    async with db.direct_engine.connect() as conn:
        taken = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}))
        if taken:
            for name, value in KEEPALIVE:  # session settings, only on the lock's connection
                await conn.execute(text(f"SET {name} = {value}"))
        await conn.commit()  # the lock is the session's: no transaction stays open meanwhile
        try:
            yield taken
        finally:
            if taken:
                with contextlib.suppress(Exception):  # a dead connection has released it anyway
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    for name, _ in KEEPALIVE:  # back to the server's defaults in the pool
                        await conn.execute(text(f"RESET {name}"))
                    await conn.commit()

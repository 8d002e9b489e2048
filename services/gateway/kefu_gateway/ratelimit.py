"""Per-caller request quotas and failed-authentication throttles, shared by every replica.

Counters are fixed windows kept in PostgreSQL (`gateway.rate_window`, one row per counter
name and window, written only here), so the published quota holds however many gateway
processes and pods serve a caller.

**Quotas** (partners per API key or token, customers): at most `limit` requests per `window`
seconds per caller. A process does not ask the database for every request: it leases a few
requests at a time (`lease = max(1, limit // 50)`: 12 of 600) with one upsert, and spends them
locally. The total granted in a window never exceeds the quota; a replica's unspent lease may
make the others refuse a little early (at most `lease` per replica and window). Every limited
response says where the caller stands (IETF draft `draft-ietf-httpapi-ratelimit-headers`):

    RateLimit-Policy: "caller";q=600;w=60
    RateLimit: "caller";r=599;t=42          (remaining requests, seconds until the window ends)

and a request over the quota is 429 `rate_limited` with `Retry-After`. Staff desk clients are
not limited here (internal, authenticated users). Should the database be unreachable, each
process goes on counting on its own (fail open: the quota then holds per process).

**Failed authentication** (`AuthThrottle`): each failure counts against the client address and,
for an API key, against its prefix. Past `GATEWAY_AUTH_FAILURES_PER_ADDRESS` /
`_PER_KEY_PREFIX` failures in a window, every authentication from that address, or with that
prefix, is 429 `too_many_failed_authentications` with `Retry-After` until the window ends —
answered from memory, without a database lookup. Successful authentications never count.

Time comes from the injected clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from kefu_common.clock import Clock
from kefu_common.db import Database
from kefu_common.errors import ResourceExhausted
from kefu_common.tasks import PollingLoop

_ADD = text(
    "INSERT INTO gateway.rate_window (name, window_start, used) VALUES (:name, :start, :n) "
    "ON CONFLICT (name, window_start) DO UPDATE SET used = gateway.rate_window.used + :n "
    "RETURNING used"
)
_PURGE = text("DELETE FROM gateway.rate_window WHERE window_start < :before")
MAX_TRACKED = 100_000  # callers remembered per process before old windows are dropped


class SharedWindows:
    """Fixed-window counters in `gateway.rate_window`, on the injected clock."""

    def __init__(self, clock: Clock, db: Database | None = None) -> None:
        self.clock = clock
        self.db = db  # set in the app's lifespan

    def window(self, seconds: int) -> tuple[int, float]:
        """(index of the current window, seconds until it ends)."""
        now = self.clock.now().timestamp()
        index = math.floor(now / seconds)
        return index, (index + 1) * seconds - now

    async def add(self, name: str, *, index: int, seconds: int, n: int) -> int:
        """Add `n` to the counter `name` of window `index`; its total after."""
        if self.db is None:
            raise RuntimeError("SharedWindows has no database yet (the app's lifespan sets it)")
        start = datetime.fromtimestamp(index * seconds, UTC)
        async with self.db.session() as session:
            conn = await session.connection()
            return int((await conn.execute(_ADD, {"name": name, "start": start, "n": n})).scalar_one())

    async def purge(self, *, older_than: timedelta) -> None:
        if self.db is not None:
            async with self.db.session() as session:
                conn = await session.connection()
                await conn.execute(_PURGE, {"before": self.clock.now() - older_than})

    def purge_loop(self, *, keep: timedelta, log: object) -> PollingLoop:
        async def once() -> bool:
            await self.purge(older_than=keep)
            return False

        return PollingLoop("rate-window-purge", once, interval=min(3600.0, keep.total_seconds()), log=log)


@dataclass
class _Lease:
    index: int
    left: int  # requests leased to this process and not spent yet
    others: int  # what the shared counter had not granted yet at the last lease (hint only)
    exhausted: bool = False


def _seconds(remaining: float) -> int:
    return max(1, math.ceil(remaining))


class RateLimiter:
    def __init__(self, *, limit: int, window_seconds: int, windows: SharedWindows) -> None:
        if limit < 1 or window_seconds < 1:
            raise ValueError("limit and window must be positive")
        self.limit = limit
        self.window = window_seconds
        self.windows = windows
        self.lease = max(1, limit // 50)
        self._leases: dict[str, _Lease] = {}
        self.policy = f'"caller";q={limit};w={window_seconds}'

    async def hit(self, caller: str) -> dict[str, str]:
        """Count one request; the headers to send, or RateLimited when over the quota."""
        index, remaining = self.windows.window(self.window)
        reset = _seconds(remaining)
        lease = self._leases.get(caller)
        if lease is None or lease.index != index:
            if len(self._leases) >= MAX_TRACKED:
                self._leases = {k: v for k, v in self._leases.items() if v.index == index}
            lease = self._leases[caller] = _Lease(index, 0, self.limit)
        if lease.left == 0 and not lease.exhausted:
            try:
                total = await self.windows.add(f"quota:{caller}", index=index, seconds=self.window, n=self.lease)
            except (SQLAlchemyError, OSError):  # the counter is unreachable: count in this process
                total = self.limit - lease.others + self.lease
            granted = max(0, min(self.lease, self.limit - (total - self.lease)))
            lease.left += granted
            lease.others = max(0, self.limit - total)
            lease.exhausted = granted == 0
        if lease.left == 0:
            headers = {"RateLimit-Policy": self.policy, "RateLimit": f'"caller";r=0;t={reset}',
                       "Retry-After": str(reset)}
            raise ResourceExhausted(
                f"more than {self.limit} requests in {self.window} s; retry in {reset} s",
                code="rate_limited", headers=headers,
            )
        lease.left -= 1
        return {
            "RateLimit-Policy": self.policy,
            "RateLimit": f'"caller";r={lease.others + lease.left};t={reset}',
        }


class AuthThrottle:
    """Failed authentications per client address and per API key prefix (see the module)."""

    def __init__(self, *, per_address: int, per_prefix: int, window_seconds: int, windows: SharedWindows) -> None:
        self.per_address = per_address
        self.per_prefix = per_prefix
        self.window = window_seconds
        self.windows = windows
        self._blocked: dict[str, int] = {}  # counter name -> window index it is blocked in

    def _names(self, address: str | None, prefix: str | None) -> list[tuple[str, int]]:
        names = []
        if address:
            names.append((f"authfail:addr:{address}", self.per_address))
        if prefix:
            names.append((f"authfail:prefix:{prefix}", self.per_prefix))
        return names

    def check(self, address: str | None, prefix: str | None) -> None:
        """Refuse at once (no lookup) an authentication from a throttled address or prefix."""
        index, remaining = self.windows.window(self.window)
        for name, _ in self._names(address, prefix):
            if self._blocked.get(name) == index:
                reset = _seconds(remaining)
                raise ResourceExhausted(
                    f"too many failed authentications; retry in {reset} s",
                    code="too_many_failed_authentications", headers={"Retry-After": str(reset)},
                )

    async def failed(self, address: str | None, prefix: str | None) -> None:
        """Count one failure; the address or prefix is throttled once past its limit."""
        index, _ = self.windows.window(self.window)
        if len(self._blocked) >= MAX_TRACKED:
            self._blocked = {k: v for k, v in self._blocked.items() if v == index}
        for name, limit in self._names(address, prefix):
            try:
                total = await self.windows.add(name, index=index, seconds=self.window, n=1)
            except (SQLAlchemyError, OSError):  # unreachable: the failure stays a plain 401
                return
            if total >= limit:
                self._blocked[name] = index

"""Per-caller request quotas for the external clients (partners per API key or token, customers).

A fixed window: at most `limit` requests per `window` seconds per caller, counted in this
process. Every limited response says where the caller stands (IETF draft
`draft-ietf-httpapi-ratelimit-headers`):

    RateLimit-Policy: "caller";q=600;w=60
    RateLimit: "caller";r=599;t=42          (remaining requests, seconds until the window ends)

and a request over the quota is 429 `rate_limited` with `Retry-After`. Time comes from the
injected clock. Staff desk clients are not limited here (internal, authenticated users).
With several workers each counts on its own, so the effective quota is `limit × workers`;
a shared counter (PostgreSQL or Redis) is the next step if partners need an exact one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kefu_common.clock import Clock
from kefu_common.errors import ResourceExhausted


@dataclass
class _Window:
    index: int
    used: int


class RateLimiter:
    MAX_TRACKED = 100_000  # callers remembered before old windows are dropped

    def __init__(self, *, limit: int, window_seconds: int, clock: Clock) -> None:
        if limit < 1 or window_seconds < 1:
            raise ValueError("limit and window must be positive")
        self.limit = limit
        self.window = window_seconds
        self.clock = clock
        self._windows: dict[str, _Window] = {}
        self.policy = f'"caller";q={limit};w={window_seconds}'

    def hit(self, caller: str) -> dict[str, str]:
        """Count one request; the headers to send, or RateLimited when over the quota."""
        now = self.clock.now().timestamp()
        index = math.floor(now / self.window)
        reset = max(1, math.ceil((index + 1) * self.window - now))
        current = self._windows.get(caller)
        if current is None or current.index != index:
            if len(self._windows) >= self.MAX_TRACKED:
                self._windows = {k: w for k, w in self._windows.items() if w.index == index}
            current = self._windows[caller] = _Window(index, 0)
        if current.used >= self.limit:
            headers = {"RateLimit-Policy": self.policy, "RateLimit": f'"caller";r=0;t={reset}',
                       "Retry-After": str(reset)}
            raise ResourceExhausted(
                f"more than {self.limit} requests in {self.window} s; retry in {reset} s",
                code="rate_limited", headers=headers,
            )
        current.used += 1
        return {
            "RateLimit-Policy": self.policy,
            "RateLimit": f'"caller";r={self.limit - current.used};t={reset}',
        }

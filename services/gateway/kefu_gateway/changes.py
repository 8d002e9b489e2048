"""Wakes long-polling progress reads as soon as their ticket changes.

One `WatchEvents` stream per gateway process, opened on the first wait and then kept (resumed
from the last sequence it saw after any error), fans events out to the requests waiting on
each ticket. It only *wakes* waiters: the route then re-reads the cheap progress stamp, so a
missed or spurious wake-up costs at most one extra stamp read or the rest of the wait, never a
wrong answer. Events that cannot change what a customer sees (views, contacts) wake nobody.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

import grpc

from kefu.ticketing.v1 import ticketing_pb2, ticketing_pb2_grpc
from kefu_common.logging import get_logger
from kefu_common.tasks import BackgroundLoop

log = get_logger("kefu.gateway.changes")

# Event types after which a customer-visible read may differ (docs/events.md).
VISIBLE_EVENT_TYPES = frozenset(
    {"ticket.updated", "ticket.assigned", "ticket.progress_added", "ticket.status_changed"}
)
RETRY_MIN_SECONDS = 0.1
RETRY_MAX_SECONDS = 2.0


class TicketChanges:
    def __init__(self, stub: ticketing_pb2_grpc.TicketingServiceStub) -> None:
        self._stub = stub
        self._waiters: defaultdict[str, set[asyncio.Event]] = defaultdict(set)
        self._after: int | None = None
        self._loop = BackgroundLoop("gateway-ticket-changes", self._follow)

    async def wait(self, ticket_id: str, *, after_sequence: int, timeout: float) -> bool:
        """True when the ticket changed (an event after `after_sequence`), False on timeout."""
        if self._after is None:
            self._after = after_sequence
        await self._loop.start()
        event = asyncio.Event()
        self._waiters[ticket_id].add(event)
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
            return True
        except TimeoutError:
            return False
        finally:
            waiters = self._waiters[ticket_id]
            waiters.discard(event)
            if not waiters:
                del self._waiters[ticket_id]

    def waiting(self, ticket_id: str) -> int:
        """How many requests wait on this ticket now."""
        return len(self._waiters.get(ticket_id, ()))

    async def _follow(self) -> None:
        delay = RETRY_MIN_SECONDS
        while True:
            try:
                stream = self._stub.WatchEvents(
                    ticketing_pb2.WatchEventsRequest(after_sequence=self._after or 0)
                )
                async for event in stream:
                    delay = RETRY_MIN_SECONDS
                    self._after = event.sequence
                    if event.type in VISIBLE_EVENT_TYPES:
                        for waiter in self._waiters.get(event.ticket_id, ()):
                            waiter.set()
            except grpc.aio.AioRpcError as err:
                log.info("ticket_changes_reconnect", status=err.code().name, after=self._after)
            except Exception:  # never let the follower die: waits would only ever time out
                log.exception("ticket_changes_failed", after=self._after)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)

    async def close(self) -> None:
        await self._loop.stop()

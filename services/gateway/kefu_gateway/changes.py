"""Customer-visible changes of tickets, followed from ticketing's event stream.

One `WatchEvents` stream per gateway process, opened on the first progress read and then kept
(resumed from the last sequence after any error), does two things:

* **wakes long polls** waiting on a ticket as soon as a customer-visible event arrives;
* **keeps the progress tags current** for polls answered without any RPC: a tag learned from
  an ownership-checked read is remembered per (ticket, customer) and dropped by the next
  customer-visible event of that ticket. It is used only while the stream is being followed,
  and for at most `ttl` seconds, so a missed event costs at most that long; a change becomes
  visible to cached polls within the stream's delay (milliseconds). A per-ticket generation
  counter keeps a read that raced with an event from remembering a stale tag.

Wake-ups are only hints: the route re-reads the stamp before answering. Events that cannot
change what a customer sees (views, contacts) neither wake nor invalidate.

`ViewCounter` records the progress views of cached answers in batches (one RecordProgressView
per ticket and customer per flush), so every read is still counted.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import grpc

from kefu.ticketing.v1 import ticketing_pb2, ticketing_pb2_grpc
from kefu_common.context import set_request_id
from kefu_common.logging import get_logger
from kefu_common.tasks import BackgroundLoop

log = get_logger("kefu.gateway.changes")

# Event types after which a customer-visible read may differ (docs/events.md).
VISIBLE_EVENT_TYPES = frozenset(
    {"ticket.updated", "ticket.assigned", "ticket.progress_added", "ticket.status_changed"}
)
RETRY_MIN_SECONDS = 0.1
RETRY_MAX_SECONDS = 2.0
MAX_REMEMBERED = 100_000  # tickets; beyond, start afresh


class TicketChanges:
    def __init__(self, stub: ticketing_pb2_grpc.TicketingServiceStub, *, tag_ttl: float = 0.0) -> None:
        self._stub = stub
        self._tag_ttl = tag_ttl
        self._waiters: defaultdict[str, set[asyncio.Event]] = defaultdict(set)
        # ticket id -> customer id -> (tag, monotonic expiry)
        self._tags: dict[str, dict[str, tuple[str, float]]] = {}
        self._generations: defaultdict[str, int] = defaultdict(int)
        self._following = False
        self._after: int | None = None
        self._loop = BackgroundLoop("gateway-ticket-changes", self._follow)

    async def _ensure_following(self, after_sequence: int) -> None:
        if self._after is None:
            self._after = after_sequence
        await self._loop.start()

    # --- remembered tags ---------------------------------------------------------------------

    def generation(self, ticket_id: str) -> int:
        """Read before a stamp RPC and pass to `remember` after it."""
        return self._generations.get(ticket_id, 0)

    async def remember(
        self, ticket_id: str, customer_id: str, tag: str, *, generation: int, after_sequence: int
    ) -> None:
        """Remember the tag an ownership-checked read of this customer returned, unless an
        event for the ticket arrived meanwhile."""
        if self._tag_ttl <= 0:
            return
        await self._ensure_following(after_sequence)
        if self._following and generation == self.generation(ticket_id):
            if len(self._tags) >= MAX_REMEMBERED:
                self._tags.clear()
            self._tags.setdefault(ticket_id, {})[customer_id] = (tag, time.monotonic() + self._tag_ttl)

    def tag_for(self, ticket_id: str, customer_id: str) -> str | None:
        """The current tag of this customer's ticket, when known without asking ticketing."""
        entry = self._tags.get(ticket_id, {}).get(customer_id)
        if entry is None or not self._following or entry[1] < time.monotonic():
            return None
        return entry[0]

    # --- long polls --------------------------------------------------------------------------

    async def wait(self, ticket_id: str, *, after_sequence: int, timeout: float) -> bool:
        """True when the ticket changed (an event after `after_sequence`), False on timeout."""
        await self._ensure_following(after_sequence)
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

    # --- the stream --------------------------------------------------------------------------

    def _changed(self, ticket_id: str) -> None:
        self._generations[ticket_id] += 1
        self._tags.pop(ticket_id, None)
        for waiter in self._waiters.get(ticket_id, ()):
            waiter.set()

    async def _follow(self) -> None:
        set_request_id(None)  # started from some request: its id must not stick to the stream
        delay = RETRY_MIN_SECONDS
        while True:
            try:
                stream = self._stub.WatchEvents(
                    ticketing_pb2.WatchEventsRequest(after_sequence=self._after or 0)
                )
                self._following = True
                async for event in stream:
                    delay = RETRY_MIN_SECONDS
                    self._after = event.sequence
                    if event.type in VISIBLE_EVENT_TYPES:
                        self._changed(event.ticket_id)
            except grpc.aio.AioRpcError as err:
                log.info("ticket_changes_reconnect", status=err.code().name, after=self._after)
            except Exception:  # never let the follower die: waits would only ever time out
                log.exception("ticket_changes_failed", after=self._after)
            finally:
                # Not following: remembered tags may go stale, so forget them all.
                self._following = False
                self._tags.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)

    async def close(self) -> None:
        await self._loop.stop()


class ViewCounter:
    """Progress views answered from remembered tags, recorded in batches."""

    def __init__(
        self, stub: ticketing_pb2_grpc.TicketingServiceStub, *, timeout: float, interval: float = 1.0
    ) -> None:
        self._stub = stub
        self._timeout = timeout
        self._interval = interval
        self._pending: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._loop = BackgroundLoop("gateway-view-counter", self._run)

    async def add(self, ticket_id: str, customer_id: str) -> None:
        self._pending[(ticket_id, customer_id)] += 1
        await self._loop.start()

    async def flush(self) -> None:
        pending, self._pending = self._pending, defaultdict(int)
        for (ticket_id, customer_id), count in pending.items():
            while count:
                batch = min(count, 10_000)
                try:
                    await self._stub.RecordProgressView(
                        ticketing_pb2.RecordProgressViewRequest(
                            request_id=f"views/{ticket_id}/{customer_id}/{time.time_ns()}",
                            ticket_id=ticket_id,
                            viewer=f"customer:{customer_id}",
                            customer_id=customer_id,
                            count=batch,
                        ),
                        timeout=self._timeout,
                    )
                except grpc.aio.AioRpcError as err:
                    if err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                        self._pending[(ticket_id, customer_id)] += count  # next flush retries
                    else:
                        log.warning("progress_views_dropped", ticket_id=ticket_id, code=err.code().name)
                    break
                count -= batch

    async def _run(self) -> None:
        set_request_id(None)  # started from some request: its id must not stick to the batches
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:
                log.exception("progress_views_flush_failed")

    async def close(self) -> None:
        await self._loop.stop()
        await self.flush()

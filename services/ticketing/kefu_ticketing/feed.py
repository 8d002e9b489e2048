"""The live ticketing event feed behind `WatchEvents`: replay from a sequence, then follow.

    feed = EventFeed(db)
    await feed.start()                       # one LISTEN connection for the whole process
    async for event in feed.watch(after_sequence=41):
        ...                                  # 42, 43, ... then live events, forever
    await feed.stop()                        # ends every watcher

Why every event arrives exactly once and in order, with no gap:

* The outbox is the only source. `events.append_event` draws each sequence while holding a
  transaction-scoped advisory lock that is released only after its commit is visible, so
  sequences become visible in increasing order: once a reader sees sequence N, every event
  below N that will ever exist is already visible (rolled-back writes leave holes in the
  numbering but never a row that appears later). This holds as long as every writer goes
  through `append_event`.
* A watcher is just a cursor `last`. It reads `sequence > last ORDER BY sequence` in batches
  and advances `last` to each event it yields, so it never yields a sequence twice, never
  goes backwards, and, by the previous point, never steps over a row that commits later.
  A consumer that reconnects with the last sequence it processed continues at the next one.
* Notifications carry no data; they only wake watchers to read again. A watcher takes the
  current wake-up handle *before* each read, so a notification that lands during the read
  or while the consumer is busy makes it read again at once. A lost notification, or a
  LISTEN connection that dropped, costs at most `poll_interval`: every watcher re-reads that
  often regardless, and the listener wakes everybody after each (re)connect.

A watcher holds a pooled connection only for the duration of one batch read, never while it
waits or while its consumer processes events. A database error during a read ends the stream
with `Unavailable`; the consumer resumes from its last sequence.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import col, select

from kefu_common.db import Database
from kefu_common.errors import InvalidArgument, Unavailable
from kefu_common.logging import get_logger
from kefu_common.pg_listen import PgListener
from kefu_ticketing.events import NOTIFY_CHANNEL
from kefu_ticketing.models import OutboxEvent

log = get_logger("kefu.ticketing.feed")

APPLICATION_NAME = "kefu-ticketing-feed"


class EventFeed:
    def __init__(self, db: Database, *, poll_interval: float = 1.0, batch_size: int = 500) -> None:
        if poll_interval <= 0 or batch_size <= 0:
            raise ValueError("poll_interval and batch_size must be positive")
        self._db = db
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._changed = asyncio.Event()  # set (and replaced) on every wake-up
        self._reads: dict[tuple[int, asyncio.Event], asyncio.Future[list[OutboxEvent]]] = {}
        self._started = False
        self._stopped = False
        self._listener = PgListener(db.direct_url, NOTIFY_CHANNEL, on_notify=self._wake, name=APPLICATION_NAME)

    async def start(self) -> None:
        """Start the LISTEN connection; returns after the first attempt to open it.

        If the database is unreachable the attempt is logged and retried in the background
        with backoff; watchers meanwhile still see every event through polling."""
        if self._started:
            return
        self._started = True
        await self._listener.start()

    async def stop(self) -> None:
        """Close the LISTEN connection and end every watcher."""
        self._stopped = True
        self._wake()
        await self._listener.stop()

    def watch(self, after_sequence: int) -> AsyncIterator[OutboxEvent]:
        """Every event with sequence > after_sequence, in order, then live ones as they commit.

        Ends when `stop()` is called; the consumer may also just stop iterating (`aclose()`)."""
        if isinstance(after_sequence, bool) or not isinstance(after_sequence, int) or after_sequence < 0:
            raise InvalidArgument(
                "after_sequence must be a non-negative integer", code="invalid_after_sequence"
            )
        if not self._started:
            raise RuntimeError("EventFeed.start() must be called before watch()")
        return self._follow(after_sequence)

    async def _follow(self, last: int) -> AsyncIterator[OutboxEvent]:
        while not self._stopped:
            changed = self._changed  # before the read: a wake-up during it is not lost
            batch = await self._shared_read(last, changed)
            for event in batch:
                if self._stopped:
                    return
                yield event
                assert event.sequence is not None
                last = event.sequence
            if len(batch) == self._batch_size:
                continue  # more is waiting right now
            try:
                await asyncio.wait_for(changed.wait(), self._poll_interval)
            except TimeoutError:
                pass  # the safety net: read again anyway

    async def _shared_read(self, after: int, changed: asyncio.Event) -> list[OutboxEvent]:
        """The batch after `after`, read once for every watcher at the same position since the
        same wake-up (one commit wakes them all, and they are usually all caught up: one read
        instead of one per watcher). A watcher joins only a read still in flight and begun since
        the last wake-up: a commit visible to a read of its own would either be in that read or
        have woken it since (a new handle, a new key), so it misses nothing a read of its own
        would have found; the safety-net poll stays a fresh read for the same reason."""
        key = (after, changed)
        read = self._reads.get(key)
        if read is None:
            read = self._reads[key] = asyncio.ensure_future(self._read_after(after))
            read.add_done_callback(lambda done: self._read_done(key, done))
        return await asyncio.shield(read)  # a watcher that goes away leaves the read to others

    def _read_done(self, key: tuple[int, asyncio.Event], read: asyncio.Future[list[OutboxEvent]]) -> None:
        self._reads.pop(key, None)
        if not read.cancelled():
            read.exception()  # retrieved here too: every watcher of it may have gone meanwhile

    async def _read_after(self, after: int) -> list[OutboxEvent]:
        query = (
            select(OutboxEvent)
            .where(col(OutboxEvent.sequence) > after)
            .order_by(col(OutboxEvent.sequence))
            .limit(self._batch_size)
        )
        try:
            async with self._db.session() as session:
                return list((await session.exec(query)).all())
        except (OperationalError, InterfaceError, OSError) as exc:
            log.warning("event_feed_read_failed", error=repr(exc))
            raise Unavailable(
                "the event store is unavailable; resume from your last sequence",
                code="events_unavailable",
            ) from None

    def _wake(self, _payload: str = "") -> None:
        self._changed.set()
        self._changed = asyncio.Event()

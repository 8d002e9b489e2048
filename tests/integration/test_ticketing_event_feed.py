"""EventFeed against the real PostgreSQL: replay, live follow, resume, exactly once, in order.

The session database is shared with other tests that write events, so every test filters by
the ticket ids it created and, when it only wants its own events, starts from the current
maximum sequence. A test that must prove delivery by notification uses a poll interval far
longer than its wait, so the polling safety net cannot hide a broken LISTEN path.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.db import Database, to_libpq_url
from kefu_common.errors import InvalidArgument
from kefu_ticketing import events
from kefu_ticketing.events import to_message
from kefu_ticketing.feed import APPLICATION_NAME, EventFeed
from kefu_ticketing.models import OutboxEvent

WAIT = 10.0  # upper bound for anything that should happen "now"
NO_POLL = 300.0  # a poll interval that never fires within a test


@pytest.fixture(scope="module")
async def db(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url, schema="ticketing")
    yield db
    await db.dispose()


@pytest.fixture
async def make_feed(db: Database) -> AsyncIterator[object]:
    feeds: list[EventFeed] = []

    async def make(database: Database | None = None, **kwargs: float) -> EventFeed:
        feed = EventFeed(database or db, **kwargs)  # type: ignore[arg-type]
        await feed.start()
        feeds.append(feed)
        return feed

    yield make
    for feed in feeds:
        await feed.stop()


def body(i: int = 0) -> ticketing_pb2.Event:
    """A typed event body: ticket.created for i = 0, else ticket.updated; `i` is its version."""
    change = {"created": ticketing_pb2.TicketCreated()} if i == 0 else {"updated": ticketing_pb2.TicketUpdated()}
    return ticketing_pb2.Event(version=i, **change)


def marker(row: OutboxEvent) -> int:
    return ticketing_pb2.Event.FromString(row.body).version


async def write(db: Database, ticket_id: uuid.UUID, count: int = 1) -> list[int]:
    """`count` events for `ticket_id` in one committed transaction; their sequences."""
    async with db.session() as session:
        written = [
            await events.append_event(
                session,
                ticket_id=ticket_id,
                body=body(i),
                occurred_at=datetime.now(UTC),
            )
            for i in range(count)
        ]
    return [e.sequence for e in written if e.sequence is not None]


async def write_many(db: Database, n: int) -> tuple[list[uuid.UUID], list[int]]:
    ids = [uuid.uuid4() for _ in range(n)]
    seqs = [(await write(db, t))[0] for t in ids]
    return ids, seqs


async def max_sequence(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(text("SELECT coalesce(max(sequence), 0) FROM outbox_event"))).scalar_one())


async def take_until(
    stream: AsyncIterator[OutboxEvent], ours: Iterable[uuid.UUID], last: uuid.UUID
) -> tuple[list[OutboxEvent], list[int]]:
    """Read until the event of ticket `last`; return our events (by ticket id) and the
    sequences of everything seen. Bounded: fails the test after WAIT seconds."""
    wanted = set(ours) | {last}
    mine: list[OutboxEvent] = []
    seen: list[int] = []

    async def run() -> None:
        async for event in stream:
            assert event.sequence is not None
            seen.append(event.sequence)
            if event.ticket_id in wanted:
                mine.append(event)
                if event.ticket_id == last:
                    return
        raise AssertionError("the stream ended before the last expected event")

    await asyncio.wait_for(run(), WAIT)
    return mine, seen


async def next_event(stream: AsyncIterator[OutboxEvent]) -> OutboxEvent:
    return await anext(stream)


def strictly_increasing(seqs: list[int]) -> bool:
    return all(a < b for a, b in zip(seqs, seqs[1:], strict=False))


async def listener_pids(db: Database) -> set[int]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT pid FROM pg_stat_activity"
                " WHERE application_name = :name AND datname = current_database()"
            ),
            {"name": APPLICATION_NAME},
        )
        return {int(r[0]) for r in rows}


async def until(predicate, what: str) -> None:  # type: ignore[no-untyped-def]
    async def loop() -> None:
        while not await predicate():
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(loop(), WAIT)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for: {what}") from None


# -- replay ---------------------------------------------------------------------------------


async def test_replay_from_zero_and_from_n_gives_exactly_the_later_events_in_order(
    db: Database, make_feed
) -> None:
    ids, seqs = await write_many(db, 8)
    # Several batches, boundaries included; no polling: a full batch must be followed at once.
    feed = await make_feed(batch_size=3, poll_interval=NO_POLL)

    mine, seen = await take_until(feed.watch(0), ids, ids[-1])
    assert [e.sequence for e in mine] == seqs
    assert [e.ticket_id for e in mine] == ids
    assert strictly_increasing(seen)
    assert seen[0] >= 1

    mine, seen = await take_until(feed.watch(seqs[2]), ids, ids[-1])
    assert [e.sequence for e in mine] == seqs[3:]
    assert min(seen) > seqs[2]
    assert strictly_increasing(seen)

    event = mine[0]
    assert event.event_type == "ticket.created"
    assert marker(event) == 0 and to_message(event).HasField("created")
    assert isinstance(event.event_id, uuid.UUID)
    assert event.occurred_at.tzinfo is not None


async def test_watch_rejects_a_negative_after_sequence(make_feed) -> None:
    feed = await make_feed()
    with pytest.raises(InvalidArgument) as err:
        feed.watch(-1)
    assert err.value.code == "invalid_after_sequence"


# -- live -----------------------------------------------------------------------------------


async def test_a_watcher_receives_live_events_by_notification(db: Database, make_feed) -> None:
    feed = await make_feed(poll_interval=NO_POLL)
    stream = feed.watch(await max_sequence(db))
    first = asyncio.create_task(next_event(stream))
    ids = []
    for _ in range(3):
        ids.append(uuid.uuid4())
        await write(db, ids[-1])
    got = [await asyncio.wait_for(first, WAIT)]
    while len(got) < 3:
        got.append(await asyncio.wait_for(anext(stream), WAIT))
    assert [e.ticket_id for e in got] == ids
    # Now the watcher is parked on the notification; only LISTEN can deliver this in time.
    later = uuid.uuid4()
    pending = asyncio.create_task(next_event(stream))
    await write(db, later)
    assert (await asyncio.wait_for(pending, WAIT)).ticket_id == later
    await stream.aclose()


async def test_concurrent_writers_are_delivered_once_each_in_strictly_increasing_order(
    db: Database, make_feed
) -> None:
    feed = await make_feed(poll_interval=NO_POLL, batch_size=7)
    start = await max_sequence(db)
    watchers = [feed.watch(start) for _ in range(3)]
    ids = [uuid.uuid4() for _ in range(40)]
    sentinel = uuid.uuid4()

    async def write_all() -> list[list[int]]:
        written = await asyncio.gather(*(write(db, t, count=2) for t in ids))
        await write(db, sentinel)
        return written

    readers = [asyncio.create_task(take_until(w, ids, sentinel)) for w in watchers]
    written = await write_all()
    for reader in readers:
        mine, seen = await reader
        assert strictly_increasing(seen)
        assert len(seen) == len(set(seen))
        assert [e.sequence for e in mine] == sorted(s for pair in written for s in pair) + [
            mine[-1].sequence
        ]
        assert mine[-1].ticket_id == sentinel
        # One transaction's two events stay together and in order.
        for first, second in zip(mine[:-1:2], mine[1:-1:2], strict=True):
            assert first.ticket_id == second.ticket_id
            assert (marker(first), marker(second)) == (0, 1)
    for w in watchers:
        await w.aclose()


async def test_a_consumer_that_stops_and_resumes_from_its_last_sequence_misses_nothing(
    db: Database, make_feed
) -> None:
    feed = await make_feed(poll_interval=NO_POLL)
    start = await max_sequence(db)
    before, before_seqs = await write_many(db, 6)

    stream = feed.watch(start)
    processed: list[OutboxEvent] = []
    async for event in stream:
        if event.ticket_id in before:
            processed.append(event)
            if len(processed) == 4:
                break  # the consumer goes away mid-stream
    await stream.aclose()
    last_seen = processed[-1].sequence
    assert last_seen is not None

    during, during_seqs = await write_many(db, 5)  # written while it is away
    sentinel = uuid.uuid4()

    live = [uuid.uuid4() for _ in range(3)]
    stream = feed.watch(last_seen)
    reader = asyncio.create_task(take_until(stream, [*before, *during, *live], sentinel))
    live_seqs = [(await write(db, t))[0] for t in live]  # written while it follows again
    await write(db, sentinel)
    mine, seen = await reader
    resumed = [e.sequence for e in mine[:-1]]
    assert resumed == before_seqs[4:] + during_seqs + live_seqs
    assert min(seen) > last_seen
    assert strictly_increasing(seen)
    all_processed = [e.sequence for e in processed] + resumed
    assert all_processed == before_seqs + during_seqs + live_seqs


async def test_a_rolled_back_transaction_produces_no_event(db: Database, make_feed) -> None:
    feed = await make_feed(poll_interval=NO_POLL)
    stream = feed.watch(await max_sequence(db))
    rolled_back, sentinel = uuid.uuid4(), uuid.uuid4()
    reader = asyncio.create_task(take_until(stream, [rolled_back], sentinel))

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with db.session() as session:
            await events.append_event(
                session,
                ticket_id=rolled_back,
                body=body(),
                occurred_at=datetime.now(UTC),
            )
            raise Boom
    await write(db, sentinel)
    mine, _ = await reader
    assert [e.ticket_id for e in mine] == [sentinel]


class PausingDatabase(Database):
    """A Database whose next read, once armed, pauses after its query until released."""

    def __init__(self, url: str) -> None:
        super().__init__(url, schema="ticketing")
        self.armed = False
        self.paused = asyncio.Event()
        self.release = asyncio.Event()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with super().session() as session:
            yield session
        if self.armed:
            self.armed = False
            self.paused.set()
            await self.release.wait()


async def test_a_notification_during_a_read_is_not_lost(database_url: str, make_feed) -> None:
    pausing = PausingDatabase(database_url)
    try:
        feed = await make_feed(pausing, poll_interval=NO_POLL)
        start = await max_sequence(pausing)
        parked = feed.watch(start)
        parked_next = asyncio.create_task(next_event(parked))
        done, _ = await asyncio.wait([parked_next], timeout=0.2)  # let it park
        assert not done
        pausing.armed = True
        reading = feed.watch(start)
        reading_next = asyncio.create_task(next_event(reading))
        await asyncio.wait_for(pausing.paused.wait(), WAIT)  # its query ran and found nothing
        ticket = uuid.uuid4()
        await write(db=pausing, ticket_id=ticket)
        # The parked watcher got it by notification, so the wake-up has happened by now:
        # while the other watcher was still inside its read.
        assert (await asyncio.wait_for(parked_next, WAIT)).ticket_id == ticket
        pausing.release.set()
        assert (await asyncio.wait_for(reading_next, WAIT)).ticket_id == ticket
        await parked.aclose()
        await reading.aclose()
    finally:
        await pausing.dispose()


# -- safety nets and lifecycle ----------------------------------------------------------------


async def test_polling_delivers_an_event_whose_notification_was_lost(
    db: Database, make_feed
) -> None:
    feed = await make_feed(poll_interval=0.2)
    stream = feed.watch(await max_sequence(db))
    pending = asyncio.create_task(next_event(stream))
    silent = uuid.uuid4()
    async with db.session() as session:  # append_event without its pg_notify
        conn = await session.connection()
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": events.OUTBOX_LOCK_KEY})
        session.add(
            OutboxEvent(
                event_type="ticket.created", ticket_id=silent, body=body().SerializeToString(),
                occurred_at=datetime.now(UTC),
            )
        )
    event = await asyncio.wait_for(pending, WAIT)
    assert event.ticket_id == silent
    await stream.aclose()


async def test_a_dropped_listen_connection_is_reconnected(db: Database, make_feed) -> None:
    before = await listener_pids(db)
    feed = await make_feed(poll_interval=NO_POLL)
    (pid,) = await listener_pids(db) - before  # exactly one LISTEN connection per feed
    stream = feed.watch(await max_sequence(db))

    async with db.engine.connect() as conn:
        await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    async def reconnected() -> bool:
        return len(await listener_pids(db) - before - {pid}) == 1

    await until(reconnected, "a new LISTEN connection")
    ticket = uuid.uuid4()
    pending = asyncio.create_task(next_event(stream))
    await write(db, ticket)
    assert (await asyncio.wait_for(pending, WAIT)).ticket_id == ticket
    await stream.aclose()


async def test_an_event_committed_while_the_listener_is_down_is_delivered_on_reconnect(
    db: Database, database_url: str, make_feed
) -> None:
    before = await listener_pids(db)
    feed = await make_feed(poll_interval=NO_POLL)
    (pid,) = await listener_pids(db) - before
    stream = feed.watch(await max_sequence(db))
    pending = asyncio.create_task(next_event(stream))
    # Kill the listener and commit an event in one go: its notification goes nowhere.
    conn = await asyncpg.connect(to_libpq_url(database_url))
    try:
        ticket = uuid.uuid4()
        await conn.execute("SELECT pg_terminate_backend($1)", pid)
        await write(db, ticket)
    finally:
        await conn.close()
    assert (await asyncio.wait_for(pending, WAIT)).ticket_id == ticket
    await stream.aclose()


async def test_waiting_watchers_hold_no_database_connection(database_url: str, make_feed) -> None:
    tiny = Database(database_url, schema="ticketing", pool_size=1)  # at most 2 connections
    try:
        feed = await make_feed(tiny, poll_interval=NO_POLL)
        start = await max_sequence(tiny)
        streams = [feed.watch(start) for _ in range(6)]
        ticket = uuid.uuid4()
        readers = [asyncio.create_task(take_until(s, [], ticket)) for s in streams]
        await asyncio.sleep(0.2)  # let them park (the test holds without it, it just proves less)
        await asyncio.wait_for(write(tiny, ticket), WAIT)  # starves if watchers held the pool
        for reader in readers:
            mine, _ = await reader
            assert [e.ticket_id for e in mine] == [ticket]
        assert tiny.engine.pool.checkedout() == 0
        for s in streams:
            await s.aclose()
    finally:
        await tiny.dispose()


async def test_stop_ends_every_watcher_and_closes_the_listen_connection(
    db: Database,
) -> None:
    before = await listener_pids(db)
    feed = EventFeed(db, poll_interval=NO_POLL)
    await feed.start()
    (pid,) = await listener_pids(db) - before
    streams = [feed.watch(await max_sequence(db)) for _ in range(3)]
    pending = [asyncio.create_task(next_event(s)) for s in streams]
    done, _ = await asyncio.wait(pending, timeout=0.2)  # let them park
    assert not done  # nothing to deliver yet

    await asyncio.wait_for(feed.stop(), WAIT)
    for task in pending:
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(task, WAIT)
    with pytest.raises(StopAsyncIteration):
        await anext(feed.watch(0))

    async def gone() -> bool:
        return pid not in await listener_pids(db)

    await until(gone, "the LISTEN connection to close")

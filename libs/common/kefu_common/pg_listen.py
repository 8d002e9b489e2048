"""One way to follow PostgreSQL NOTIFY: a dedicated LISTEN connection that reconnects.

    listener = PgListener(db.url, "kefu_ticketing_outbox", on_notify=wake, name="kefu-ticketing-feed")
    await listener.start()     # returns after the first connection attempt (either way)
    ...
    await listener.stop()

Notifications are treated as *hints*: `on_notify` is called with each one's payload (which a
channel may use to say what changed) and with ``""`` once after every (re)connect, because
whatever committed while nobody listened must be read then. Users therefore also poll as a safety net; a dropped connection costs them at most
their polling interval. The connection lives outside the pool (LISTEN state is per session),
is checked with ``SELECT 1`` when idle and reopened with capped exponential backoff.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg

from kefu_common.db import to_libpq_url
from kefu_common.logging import get_logger
from kefu_common.tasks import BackgroundLoop

log = get_logger("kefu.pg_listen")

RECONNECT_MIN_SECONDS = 0.1
RECONNECT_MAX_SECONDS = 5.0
KEEPALIVE_SECONDS = 10.0  # how often an idle LISTEN connection is checked with SELECT 1


class PgListener:
    def __init__(self, url: str, channel: str, *, on_notify: Callable[[str], None], name: str) -> None:
        self._url = url
        self.channel = channel
        self._on_notify = on_notify
        self.name = name
        self._first_attempt = asyncio.Event()
        self._loop = BackgroundLoop(f"{name}-listen", self._listen)
        self._connected = False

    @property
    def connected(self) -> bool:
        """True while LISTEN is in place: a user that caches what the channel invalidates may
        trust its cache only then (a reconnect sends the "" hint before this turns True)."""
        return self._connected

    async def start(self) -> None:
        """Start listening; returns after the first attempt to connect (a failure is logged
        and retried in the background)."""
        if self._loop.running:
            return
        self._first_attempt = asyncio.Event()
        await self._loop.start()
        await self._first_attempt.wait()

    async def stop(self) -> None:
        await self._loop.stop()

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self._on_notify(payload)

    async def _listen(self) -> None:
        delay = RECONNECT_MIN_SECONDS
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    to_libpq_url(self._url), timeout=10, server_settings={"application_name": self.name}
                )
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(self.channel, self._notified)
                log.info("pg_listening", channel=self.channel, listener=self.name)
                delay = RECONNECT_MIN_SECONDS
                self._on_notify("")  # whatever committed while we were not listening is read now
                self._connected = True
                self._first_attempt.set()
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), KEEPALIVE_SECONDS)
                    except TimeoutError:
                        await conn.execute("SELECT 1", timeout=5)
                log.warning("pg_listen_lost", channel=self.channel, retry_in_seconds=delay)
            except Exception as exc:  # noqa: BLE001 - any failure means: reconnect
                log.warning("pg_listen_failed", channel=self.channel, error=repr(exc), retry_in_seconds=delay)
            finally:
                self._connected = False
                self._first_attempt.set()
                if conn is not None:
                    await _close(conn)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)


async def _close(conn: asyncpg.Connection) -> None:
    if conn.is_closed():
        return
    try:
        await asyncio.wait_for(conn.close(), 2)
    except asyncio.CancelledError:
        conn.terminate()
        raise
    except Exception:  # noqa: BLE001 - a dead socket: just drop it
        conn.terminate()

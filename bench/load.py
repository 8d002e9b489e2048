"""Load generation for `make bench`: closed-loop throughput and open-loop fixed-rate latency,
plus a lean keep-alive HTTP/1.1 client (httpx costs more CPU per request than a bare ASGI app
does, and would measure itself instead of the server)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Op = Callable[[int], Awaitable[None]]


@dataclass
class Throughput:
    completed: int
    errors: int
    seconds: float

    @property
    def rps(self) -> float:
        return self.completed / self.seconds


@dataclass
class Latency:
    rate: float
    sent: int
    errors: int
    p50_ms: float
    p99_ms: float


async def closed_loop(op: Op, *, concurrency: int, seconds: float) -> Throughput:
    """`concurrency` workers each issue the next request as soon as the last one answered."""
    deadline = time.perf_counter() + seconds
    completed = errors = 0
    counter = 0

    async def worker() -> None:
        nonlocal completed, errors, counter
        while time.perf_counter() < deadline:
            counter += 1
            try:
                await op(counter)
                completed += 1
            except Exception:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Throughput(completed, errors, time.perf_counter() - started)


async def open_loop(op: Op, *, rate: float, seconds: float, timeout: float = 10.0) -> Latency:
    """Requests start on a fixed schedule (`rate` per second) whether or not earlier ones have
    answered; each latency is measured from its *scheduled* start, so a stalled server shows
    up in the figures instead of slowing the load down (no coordinated omission)."""
    loop = asyncio.get_running_loop()
    count = int(rate * seconds)
    start = loop.time() + 0.05
    latencies: list[float] = []
    errors = 0

    async def one(i: int) -> None:
        nonlocal errors
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            await asyncio.wait_for(op(i), timeout)
        except Exception:
            errors += 1
            return
        latencies.append(loop.time() - scheduled)

    await asyncio.gather(*(one(i) for i in range(count)))
    return Latency(rate, count, errors, percentile(latencies, 50), percentile(latencies, 99))


def percentile(values: list[float], pct: int) -> float:
    """In milliseconds; NaN when nothing succeeded."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0] * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1] * 1000


class HttpPool:
    """Keep-alive HTTP/1.1 connections to one server; `request` returns the status code."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> int:
        conn = self._idle.pop() if self._idle else await asyncio.open_connection(self.host, self.port)
        reader, writer = conn
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(head.encode() + b"\r\n" + body)
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
            status = int(raw[9:12])
            length = 0
            keep_alive = True
            for line in raw.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
                elif name.strip().lower() == b"transfer-encoding":
                    raise RuntimeError("chunked responses are not supported by the bench client")
                elif name.strip().lower() == b"connection" and value.strip().lower() == b"close":
                    keep_alive = False  # e.g. gunicorn's sync workers: one request per connection
            await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        if keep_alive:
            self._idle.append(conn)
        else:
            writer.close()
        return status

    async def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()

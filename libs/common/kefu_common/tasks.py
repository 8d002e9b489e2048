"""Long-running loops inside a service process (event consumers, timer workers)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


class BackgroundLoop:
    """One named asyncio task: started once, cancelled and awaited on stop.

    Register `stop` in the server's `before_stop` so the loop ends before the server drains.
    """

    def __init__(self, name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.name = name
        self._run = run
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None


class PollingLoop:
    """A BackgroundLoop that runs `once` every `interval` seconds, or as soon as `wake()` is
    called (e.g. right after a commit that queued work). `once` returns True when more work is
    waiting, to run again at once. A failing pass is logged and retried at the next tick.
    """

    def __init__(
        self,
        name: str,
        once: Callable[[], Coroutine[Any, Any, bool]],
        *,
        interval: float,
        log: Any,
    ) -> None:
        self.interval = interval
        self._once = once
        self._log = log
        self._wake = asyncio.Event()
        self._loop = BackgroundLoop(name, self._run)

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                if await self._once():
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                self._log.exception(f"{self._loop.name.replace('-', '_')}_pass_failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except TimeoutError:
                pass

    async def start(self) -> None:
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

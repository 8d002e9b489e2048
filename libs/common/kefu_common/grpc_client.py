"""Outgoing gRPC: one channel factory that carries the correlation id (and, when tracing is
on, the W3C trace context) as metadata."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import grpc

from kefu_common.context import REQUEST_ID_METADATA_KEY, get_request_id
from kefu_common.replies import MAX_MESSAGE_BYTES
from kefu_common.tracing import outgoing_headers


def _with_request_id(details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
    request_id = get_request_id()
    trace_headers = outgoing_headers()
    if request_id is None and not trace_headers:
        return details
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    if request_id is not None and REQUEST_ID_METADATA_KEY not in metadata:
        metadata.add(REQUEST_ID_METADATA_KEY, request_id)
    for key, value in trace_headers:
        if key not in metadata:
            metadata.add(key, value)
    return grpc.aio.ClientCallDetails(
        method=details.method,
        timeout=details.timeout,
        metadata=metadata,
        credentials=details.credentials,
        wait_for_ready=details.wait_for_ready,
    )


class _UnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(_with_request_id(details), request)


class _UnaryStream(grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(_with_request_id(details), request)


class _StreamUnary(grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, it: Any
    ) -> Any:
        return await continuation(_with_request_id(details), it)


class _StreamStream(grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, it: Any
    ) -> Any:
        return await continuation(_with_request_id(details), it)


def create_channel(target: str) -> grpc.aio.Channel:
    """An insecure channel for in-cluster / loopback traffic (TLS is the mesh's job).

    `target` is one address (`host:port`, a Kubernetes Service) or several replicas at once
    (`ipv4:127.0.0.1:50051,127.0.0.1:50061`, or `dns:///svc-headless:50051`): calls are spread
    over every ready address round-robin, and a replica that goes away is skipped from its
    first refused connection on (a call that never reached it is retried on another)."""
    service_config = {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                "name": [{}],
                # Transparent retry of calls that never reached the server.
                "retryPolicy": {
                    "maxAttempts": 3,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "0.5s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
    return grpc.aio.insecure_channel(
        target,
        options=[
            ("grpc.enable_retries", 1),
            ("grpc.service_config", json.dumps(service_config)),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            # Reconnect within about a second of a restarted service coming back
            # (the library default backs off up to two minutes).
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
        ],
        interceptors=[_UnaryUnary(), _UnaryStream(), _StreamUnary(), _StreamStream()],
    )

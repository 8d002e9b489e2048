"""WatchEvents across a crash: a consumer resumes from its last sequence with no gap and no loss.

Real processes on loopback (devstack): tickets are created through the gateway, events are
read with a real gRPC stub from the ticketing process, which is killed with SIGKILL mid-way.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator

import grpc
import httpx
import pytest

from kefu.ticketing.v1 import ticketing_pb2, ticketing_pb2_grpc
from kefu_common.devstack import Stack
from kefu_common.ticket_events import to_json

pytestmark = pytest.mark.e2e

STREAM_DEADLINE = 30.0  # every stream read below ends by then, event or not


def create_ticket(client: httpx.Client, deadline: float = 15.0) -> str:
    """One ticket through the gateway; 503s (ticketing restarting) are retried with the same
    Idempotency-Key until `deadline` seconds have passed."""
    body = {
        "customer": {"id": f"C-{uuid.uuid4().hex[:8]}", "name": "Ms Wang", "tier": "vip"},
        "channel": "phone",
        "severity": "high",
        "category": "quality",
        "subject": "Event stream resume",
    }
    key = uuid.uuid4().hex
    until = time.monotonic() + deadline
    while True:
        response = client.post("/v1/tickets", json=body, headers={"Idempotency-Key": key})
        if response.status_code != 503 or time.monotonic() > until:
            assert response.status_code == 201, response.text
            return str(response.json()["id"])
        time.sleep(0.1)


def watch(stack: Stack, after_sequence: int) -> tuple[grpc.Channel, Iterator[ticketing_pb2.Event]]:
    channel = grpc.insecure_channel(stack.addr("ticketing"))
    stub = ticketing_pb2_grpc.TicketingServiceStub(channel)
    stream = stub.WatchEvents(
        ticketing_pb2.WatchEventsRequest(after_sequence=after_sequence), timeout=STREAM_DEADLINE
    )
    return channel, stream


def read_until(
    stream: Iterator[ticketing_pb2.Event], ours: Iterable[str], last: str
) -> tuple[list[ticketing_pb2.Event], list[ticketing_pb2.Event]]:
    """Read until the ticket.created of ticket `last`: (our ticket.created events, everything).
    Bounded by the stream deadline: a missing event fails with DEADLINE_EXCEEDED."""
    wanted = set(ours) | {last}
    mine: list[ticketing_pb2.Event] = []
    seen: list[ticketing_pb2.Event] = []
    for event in stream:
        seen.append(event)
        if event.type == "ticket.created" and event.ticket_id in wanted:
            mine.append(event)
            if event.ticket_id == last:
                return mine, seen
    raise AssertionError("the stream ended before the expected event")


def increasing(events: list[ticketing_pb2.Event]) -> bool:
    return all(a.sequence < b.sequence for a, b in zip(events, events[1:], strict=False))


def test_a_consumer_resumes_after_ticketing_is_killed_with_no_gap_and_no_duplicate(
    stack: Stack, client: httpx.Client
) -> None:
    first = [create_ticket(client) for _ in range(6)]

    # A consumer reads from the beginning, processes half of our tickets, then goes away.
    channel, stream = watch(stack, 0)
    processed, seen = read_until(stream, first, first[2])
    stream.cancel()  # type: ignore[attr-defined]
    channel.close()
    assert [e.ticket_id for e in processed] == first[:3]
    assert increasing(seen)
    last_seen = seen[-1].sequence  # the resume point: the last event it processed
    created = to_json(processed[0])  # the typed event in its documented JSON form
    assert created["ticket_id"] == first[0] and created["status"]

    # A live follower is cut off by the crash with an error, not a clean end of stream.
    live_channel, live = watch(stack, last_seen)
    for _ in range(3):  # the rest of our tickets is already there
        next(live)
    stack.kill("ticketing")
    with pytest.raises(grpc.RpcError) as cut:
        for _ in live:
            pass
    assert cut.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    live_channel.close()

    stack.start("ticketing")
    second = [create_ticket(client) for _ in range(6)]  # retried while the gateway reconnects

    # The consumer comes back: the backlog since its last sequence, then live events.
    channel, stream = watch(stack, last_seen)
    try:
        backlog, seen = read_until(stream, [*first, *second], second[-1])
        third = [create_ticket(client) for _ in range(3)]
        sentinel = create_ticket(client)
        followed, seen_live = read_until(stream, [*first, *second, *third], sentinel)
    finally:
        stream.cancel()  # type: ignore[attr-defined]
        channel.close()
    resumed, seen = backlog + followed, seen + seen_live
    assert [e.ticket_id for e in resumed] == [*first[3:], *second, *third, sentinel]
    assert seen[0].sequence > last_seen
    assert increasing(seen)
    assert len({e.event_id for e in seen}) == len(seen)
    everything = [e.ticket_id for e in processed + resumed]
    # Each ticket.created exactly once, in creation order, across the crash.
    assert everything == [*first, *second, *third, sentinel]


def test_watch_events_rejects_a_negative_after_sequence(stack: Stack) -> None:
    channel, stream = watch(stack, -1)
    with channel, pytest.raises(grpc.RpcError) as err:
        next(stream)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    metadata = dict(err.value.trailing_metadata() or ())  # type: ignore[attr-defined]
    assert metadata.get("kefu-error-code") == "invalid_after_sequence"


def test_sigterm_ends_open_streams_with_unavailable_without_waiting_for_grace(
    stack: Stack, client: httpx.Client
) -> None:
    create_ticket(client)
    channel, stream = watch(stack, 0)
    next(stream)  # the stream is established
    started = time.monotonic()
    assert stack.stop("ticketing") == 0
    assert time.monotonic() - started < 5.0  # the grace period is 10 s; watchers end at once
    try:
        with pytest.raises(grpc.RpcError) as err:
            for _ in stream:  # what was already sent, then UNAVAILABLE: never a hang, never OK
                pass
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
        metadata = dict(err.value.trailing_metadata() or ())  # type: ignore[attr-defined]
        assert metadata.get("kefu-error-code") == "shutting_down"
    finally:
        channel.close()
        stack.start("ticketing")

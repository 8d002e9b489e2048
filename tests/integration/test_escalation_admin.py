"""Escalation configuration over gRPC: calendars, SLA policy versions and matrix versions,
with the real escalation and ticketing services on a real PostgreSQL.

The session database is shared with every other test, and they create tickets against the
seeded matrix v1 (and assert its levels and policy ids). A test here that publishes a matrix
therefore changes only a cell it alone reads, pointing it at a policy only it knows, and
publishes a copy of the previous version again when it is done (`published_matrix`): the
tickets other tests create before, meanwhile or after get the same cells as from v1.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from support import error_code
from kefu.common.v1 import types_pb2
from kefu.escalation.v1 import escalation_pb2 as pb
from kefu.escalation.v1 import escalation_pb2_grpc
from kefu.ticketing.v1 import ticketing_pb2, ticketing_pb2_grpc

H = 3600
# The seeded p5-low v1 (standard tier, low severity, level L0): 8 h / 24 h / 72 h / 4 h.
P5_LOW = {
    "first_response_seconds": 8 * H,
    "next_update_seconds": 24 * H,
    "resolution_seconds": 72 * H,
    "escalation_ack_seconds": 4 * H,
}
# A cell no other test reads: standard-tier, low-severity tickets.
TEST_CELL = ("standard", types_pb2.SEVERITY_LOW)


@pytest.fixture(scope="module")
async def stub(escalation_addr: str) -> AsyncIterator[escalation_pb2_grpc.EscalationServiceStub]:
    async with grpc.aio.insecure_channel(escalation_addr) as channel:
        yield escalation_pb2_grpc.EscalationServiceStub(channel)


@pytest.fixture(scope="module")
async def tickets(ticketing_addr: str) -> AsyncIterator[ticketing_pb2_grpc.TicketingServiceStub]:
    async with grpc.aio.insecure_channel(ticketing_addr) as channel:
        yield ticketing_pb2_grpc.TicketingServiceStub(channel)


def rid() -> str:
    return f"test/{uuid.uuid4().hex}"


def policy_request(**overrides: Any) -> pb.PublishPolicyRequest:
    fields: dict[str, Any] = {
        "request_id": rid(),
        "id": f"t-{uuid.uuid4().hex[:12]}",
        "name": "test policy",
        "calendar": "24x7",
        "warning_percent": 75,
        **P5_LOW,
    }
    fields.update(overrides)
    return pb.PublishPolicyRequest(**fields)


async def rpc_error(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


def cells_of(matrix: pb.Matrix) -> dict[tuple[str, int], pb.MatrixCell]:
    return {(c.tier, c.severity): c for c in matrix.cells}


def with_cell(matrix: pb.Matrix, **cell: Any) -> list[pb.MatrixCell]:
    """The matrix's cells with the test cell replaced."""
    tier, severity = TEST_CELL
    replaced = pb.MatrixCell(tier=tier, severity=severity, **cell)
    return [replaced if (c.tier, c.severity) == TEST_CELL else c for c in matrix.cells]


@asynccontextmanager
async def published_matrix(
    stub: escalation_pb2_grpc.EscalationServiceStub, policy: pb.SlaPolicy
) -> AsyncIterator[tuple[pb.Matrix, pb.Matrix]]:
    """Publish the latest matrix with TEST_CELL pointing at `policy` (same level), yield
    (previous, new), then publish a copy of the previous cells again (see module doc)."""
    previous = await stub.GetMatrix(pb.GetMatrixRequest())
    level = cells_of(previous)[TEST_CELL].level
    new = await stub.PublishMatrix(
        pb.PublishMatrixRequest(
            request_id=rid(),
            note="test: standard/low on a test policy",
            cells=with_cell(
                previous, level=level, policy_id=policy.id, policy_version=policy.version
            ),
        )
    )
    try:
        yield previous, new
    finally:
        await stub.PublishMatrix(
            pb.PublishMatrixRequest(
                request_id=rid(),
                note=f"test: restore the cells of version {previous.version}",
                cells=previous.cells,
            )
        )


def low_severity_ticket() -> ticketing_pb2.CreateTicketRequest:
    return ticketing_pb2.CreateTicketRequest(
        request_id=rid(),
        customer=ticketing_pb2.Customer(
            id=f"C-{uuid.uuid4().hex[:8]}", tier=types_pb2.CUSTOMER_TIER_STANDARD
        ),
        channel=types_pb2.CHANNEL_PHONE,
        severity=types_pb2.SEVERITY_LOW,
        category="quality",
        subject="遥控器按键失灵",
    )


# --- the matrix --------------------------------------------------------------------------


async def test_new_tickets_use_the_latest_published_matrix(stub, tickets) -> None:
    # A calendar and policy only this test knows; the calendar is 24x7 so due times are the
    # seeded ones (see the module doc for why the matrix is restored afterwards).
    calendar = f"t-always-{uuid.uuid4().hex[:8]}"
    await stub.UpsertCalendar(pb.UpsertCalendarRequest(request_id=rid(), calendar=pb.Calendar(
        name=calendar, tz="UTC", weekly={d: pb.Intervals(intervals=["00:00-24:00"])
                                         for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    )))
    policy = await stub.PublishPolicy(policy_request(calendar=calendar))
    before = datetime.now(UTC) - timedelta(seconds=1)
    async with published_matrix(stub, policy) as (previous, new):
        assert new.version > previous.version
        assert before <= new.published_at.ToDatetime(tzinfo=UTC) <= datetime.now(UTC)
        latest = await stub.GetMatrix(pb.GetMatrixRequest())
        assert latest == new, "GetMatrix without a version reads the latest published one"

        ticket = await tickets.CreateTicket(low_severity_ticket())
        assert ticket.sla.matrix_version == new.version
        assert (ticket.sla.policy_id, ticket.sla.policy_version) == (policy.id, 1)
        assert ticket.sla.calendar == calendar
        assert ticket.sla.level == cells_of(previous)[TEST_CELL].level

    after_restore = await tickets.CreateTicket(low_severity_ticket())
    assert after_restore.sla.matrix_version > new.version
    assert after_restore.sla.policy_id == cells_of(previous)[TEST_CELL].policy_id


async def test_publishing_a_matrix_version_never_changes_earlier_versions(stub, tickets) -> None:
    v1 = await stub.GetMatrix(pb.GetMatrixRequest(version=1))
    old_ticket = await tickets.CreateTicket(low_severity_ticket())
    policy = await stub.PublishPolicy(policy_request())
    async with published_matrix(stub, policy) as (previous, new):
        assert cells_of(new)[TEST_CELL].policy_id == policy.id
        assert await stub.GetMatrix(pb.GetMatrixRequest(version=previous.version)) == previous
        assert await stub.GetMatrix(pb.GetMatrixRequest(version=1)) == v1
        assert cells_of(v1)[TEST_CELL].policy_id == "p5-low"
        # The ticket created before keeps the snapshot it was given.
        fetched = await tickets.GetTicket(ticketing_pb2.GetTicketRequest(id=old_ticket.id))
        assert fetched.sla == old_ticket.sla
        assert fetched.sla.matrix_version == previous.version
        assert fetched.sla.policy_id != policy.id
    assert await stub.GetMatrix(pb.GetMatrixRequest(version=new.version)) == new


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        (lambda cells: cells[1:], "matrix_incomplete", "missing standard/low"),
        (lambda cells: [*cells, cells[5]], "matrix_incomplete", "more than once vip/normal"),
        (lambda cells: [], "matrix_incomplete", "missing standard/low"),
        (lambda cells: [pb.MatrixCell(tier="gold", severity=c.severity, level=c.level,
                                      policy_id=c.policy_id, policy_version=c.policy_version)
                        if i == 0 else c for i, c in enumerate(cells)], "invalid_tier", "gold"),
        (lambda cells: [pb.MatrixCell(tier=c.tier, severity=c.severity,
                                      policy_id=c.policy_id, policy_version=c.policy_version)
                        if i == 0 else c for i, c in enumerate(cells)], "invalid_level", "L0"),
    ],
    ids=["a cell missing", "a cell twice", "no cells", "unknown tier", "no level"],
)
async def test_incomplete_matrix_is_rejected(stub, change, code, words) -> None:
    latest = await stub.GetMatrix(pb.GetMatrixRequest())
    err = await rpc_error(stub.PublishMatrix(
        pb.PublishMatrixRequest(request_id=rid(), cells=change(list(latest.cells)))
    ))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code(err) == code
    assert words in (err.details() or "")
    assert await stub.GetMatrix(pb.GetMatrixRequest()) == latest, "nothing was published"


async def test_matrix_naming_a_policy_version_that_does_not_exist_is_rejected(stub) -> None:
    latest = await stub.GetMatrix(pb.GetMatrixRequest())
    err = await rpc_error(stub.PublishMatrix(pb.PublishMatrixRequest(
        request_id=rid(),
        cells=with_cell(latest, level=types_pb2.ESCALATION_LEVEL_L0, policy_id="p5-low",
                        policy_version=999),
    )))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_code(err) == "policy_missing"
    assert "p5-low v999" in (err.details() or "")
    assert await stub.GetMatrix(pb.GetMatrixRequest()) == latest


async def test_publishing_one_matrix_twice_with_one_request_id_gives_one_version(stub) -> None:
    # An exact copy of the latest cells: other tests cannot tell it from the latest.
    latest = await stub.GetMatrix(pb.GetMatrixRequest())
    request = pb.PublishMatrixRequest(request_id=rid(), note="test: copy", cells=latest.cells)
    first = await stub.PublishMatrix(request)
    again = await stub.PublishMatrix(request)
    assert again == first
    assert first.version == latest.version + 1
    assert [c for c in first.cells] == [c for c in latest.cells]
    assert (await stub.GetMatrix(pb.GetMatrixRequest())).version == first.version

    other = pb.PublishMatrixRequest(request_id=request.request_id, note="other", cells=latest.cells)
    err = await rpc_error(stub.PublishMatrix(other))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_code(err) == "idempotency_key_reused"


async def test_unknown_matrix_version_is_not_found(stub) -> None:
    err = await rpc_error(stub.GetMatrix(pb.GetMatrixRequest(version=10_000_000)))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert error_code(err) == "matrix_version_not_found"


# --- SLA policies ------------------------------------------------------------------------


async def test_publishing_a_policy_adds_a_version_and_keeps_the_earlier_one(stub) -> None:
    first = await stub.PublishPolicy(policy_request())
    assert first.version == 1
    second = await stub.PublishPolicy(
        policy_request(id=first.id, name="faster", first_response_seconds=2 * H)
    )
    assert (second.id, second.version, second.first_response_seconds) == (first.id, 2, 2 * H)

    every = await stub.ListPolicies(pb.ListPoliciesRequest(all_versions=True, policy_id=first.id))
    assert list(every.policies) == [first, second], "version 1 is unchanged"
    latest = await stub.ListPolicies(pb.ListPoliciesRequest())
    mine = [p for p in latest.policies if p.id == first.id]
    assert mine == [second]
    assert {"p1-critical", "p5-low"} <= {p.id for p in latest.policies}
    ids = [(p.id, p.version) for p in latest.policies]
    assert ids == sorted(ids)


async def test_policy_on_unknown_calendar_is_rejected(stub) -> None:
    request = policy_request(calendar="mars-business")
    err = await rpc_error(stub.PublishPolicy(request))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_code(err) == "calendar_missing"
    assert "mars-business" in (err.details() or "")
    listed = await stub.ListPolicies(pb.ListPoliciesRequest(all_versions=True, policy_id=request.id))
    assert list(listed.policies) == []


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"first_response_seconds": 0}, "invalid_target"),
        ({"resolution_seconds": -60}, "invalid_target"),
        ({"escalation_ack_seconds": 400 * 24 * H}, "invalid_target"),
        ({"next_update_seconds": 0}, "invalid_target"),
        ({"warning_percent": 0}, "invalid_warning_percent"),
        ({"warning_percent": 100}, "invalid_warning_percent"),
        ({"id": "Has Spaces"}, "invalid_policy_id"),
        ({"name": ""}, "invalid_policy_name"),
        ({"calendar": ""}, "invalid_calendar_name"),
        ({"request_id": ""}, "invalid_request_id"),
    ],
)
async def test_bad_policy_is_invalid_argument(stub, overrides, code) -> None:
    err = await rpc_error(stub.PublishPolicy(policy_request(**overrides)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code(err) == code


async def test_publishing_one_policy_twice_with_one_request_id_gives_one_version(stub) -> None:
    request = policy_request()
    first = await stub.PublishPolicy(request)
    assert await stub.PublishPolicy(request) == first
    every = await stub.ListPolicies(pb.ListPoliciesRequest(all_versions=True, policy_id=request.id))
    assert len(every.policies) == 1

    changed = pb.PublishPolicyRequest()
    changed.CopyFrom(request)
    changed.resolution_seconds += 1
    err = await rpc_error(stub.PublishPolicy(changed))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_code(err) == "idempotency_key_reused"


# --- calendars ---------------------------------------------------------------------------


async def test_calendar_upsert_is_canonical_and_idempotent(stub) -> None:
    name = f"t-office-{uuid.uuid4().hex[:8]}"
    calendar = pb.Calendar(
        name=name, tz="Asia/Shanghai",
        weekly={"mon": pb.Intervals(intervals=["9:00-12:00", "13:30-18:00"])},
        holidays=["2026-10-01"],
        extra_workdays={"2026-10-10": pb.Intervals(intervals=["09:00-18:00"])},
    )
    first = await stub.UpsertCalendar(pb.UpsertCalendarRequest(request_id=rid(), calendar=calendar))
    assert list(first.weekly["mon"].intervals) == ["09:00-12:00", "13:30-18:00"]
    assert list(first.holidays) == ["2026-10-01"]
    assert await stub.GetCalendar(pb.GetCalendarRequest(name=name)) == first
    again = await stub.UpsertCalendar(pb.UpsertCalendarRequest(request_id=rid(), calendar=calendar))
    assert again == first, "the same spec changes nothing, not even updated_at"

    calendar.holidays.append("2026-10-02")
    changed = await stub.UpsertCalendar(pb.UpsertCalendarRequest(request_id=rid(), calendar=calendar))
    assert list(changed.holidays) == ["2026-10-01", "2026-10-02"]
    assert changed.updated_at.ToDatetime() > first.updated_at.ToDatetime()
    listed = await stub.ListCalendars(pb.ListCalendarsRequest())
    names = [c.name for c in listed.calendars]
    assert {"24x7", "cn-business", name} <= set(names)
    assert names == sorted(names)
    seeded = next(c for c in listed.calendars if c.name == "cn-business")
    assert list(seeded.weekly["fri"].intervals) == ["09:00-12:00", "13:30-18:00"]
    assert "sat" not in seeded.weekly


@pytest.mark.parametrize(
    ("calendar", "words"),
    [
        (pb.Calendar(tz="Mars/Olympus_Mons", weekly={"mon": pb.Intervals(intervals=["09:00-18:00"])}),
         "unknown time zone"),
        (pb.Calendar(tz="UTC", weekly={"mon": pb.Intervals(intervals=["09:00-12:00", "11:00-13:00"])}),
         "overlap"),
        (pb.Calendar(tz="UTC", weekly={"mon": pb.Intervals(intervals=["18:00-09:00"])}),
         "empty or reversed"),
        (pb.Calendar(tz="UTC", weekly={}), "no working hours"),
        (pb.Calendar(tz="UTC", weekly={"mon": pb.Intervals(intervals=["9-5"])}),
         "is not an interval"),
        (pb.Calendar(tz="UTC", weekly={"mon": pb.Intervals(intervals=["09:00-18:00"])},
                     holidays=["2026-02-30"]), "not an ISO date"),
        (pb.Calendar(tz="UTC", weekly={"mondy": pb.Intervals(intervals=["09:00-18:00"])}),
         "weekly keys"),
    ],
    ids=["time zone", "overlap", "reversed", "no hours", "interval syntax", "bad date", "weekday"],
)
async def test_bad_calendar_spec_is_invalid_argument(stub, calendar, words) -> None:
    calendar.name = f"t-bad-{uuid.uuid4().hex[:8]}"
    err = await rpc_error(stub.UpsertCalendar(pb.UpsertCalendarRequest(request_id=rid(), calendar=calendar)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code(err) == "invalid_calendar"
    assert words in (err.details() or "")
    missing = await rpc_error(stub.GetCalendar(pb.GetCalendarRequest(name=calendar.name)))
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    assert error_code(missing) == "calendar_not_found"

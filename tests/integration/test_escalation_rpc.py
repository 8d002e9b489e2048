"""Escalation RPCs over real gRPC: signals, manual escalation, acknowledgement, listing, a
ticket's SLA view and the matrix what-if. Clock rows come from inbox rows projected by the test
(the session's escalation server runs without its clock worker)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest

from escalation_support import H, T0, Inbox, escalation_database
from kefu.common.v1 import types_pb2
from kefu.escalation.v1 import escalation_pb2 as pb
from kefu.escalation.v1 import escalation_pb2_grpc
from kefu_common.protoconv import from_timestamp, to_timestamp
from support import error_code

M = timedelta(minutes=1)
L1, L2, L3 = types_pb2.ESCALATION_LEVEL_L1, types_pb2.ESCALATION_LEVEL_L2, types_pb2.ESCALATION_LEVEL_L3


@pytest.fixture(scope="module")
async def db(database_url: str):
    async with escalation_database(database_url) as database:
        yield database


@pytest.fixture(scope="module")
async def stub(escalation_addr: str) -> AsyncIterator[escalation_pb2_grpc.EscalationServiceStub]:
    async with grpc.aio.insecure_channel(escalation_addr) as channel:
        yield escalation_pb2_grpc.EscalationServiceStub(channel)


async def open_ticket(db, **options) -> Inbox:
    inbox = Inbox(db)
    await inbox.created(T0, **options)
    await inbox.project()
    return inbox


async def test_manual_escalation_is_idempotent_by_request_id(db, stub) -> None:
    inbox = await open_ticket(db)
    request = pb.EscalateTicketRequest(request_id=f"r-{uuid.uuid4()}", ticket_id=str(inbox.ticket),
                                       reason="customer is a journalist", actor="agent-7")
    first = await stub.EscalateTicket(request)
    again = await stub.EscalateTicket(request)
    assert first == again
    assert (first.trigger, first.from_level, first.to_level, first.actor) == (pb.ESCALATION_TRIGGER_MANUAL, types_pb2.ESCALATION_LEVEL_L0,
                                                                              L1, "agent-7")
    jump = await stub.EscalateTicket(pb.EscalateTicketRequest(
        request_id=f"r-{uuid.uuid4()}", ticket_id=str(inbox.ticket), to_level=L3, reason="crisis", actor="a"))
    assert (jump.from_level, jump.to_level, jump.to_party) == (L1, L3, "crisis_team")


async def test_manual_escalation_of_a_resolved_ticket_is_refused(db, stub) -> None:
    inbox = Inbox(db)
    await inbox.created(T0)
    await inbox.status("resolved", T0 + H)
    await inbox.project()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.EscalateTicket(pb.EscalateTicketRequest(request_id="r", ticket_id=str(inbox.ticket),
                                                           reason="why", actor="a"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and error_code(err.value) == "no_open_cycle"


@pytest.mark.parametrize(("request_fields", "code"), [
    ({"signal_id": "", "ticket_id": str(uuid.uuid4()), "kind": pb.SIGNAL_KIND_ABUSE}, "invalid_signal_id"),
    ({"signal_id": "s", "ticket_id": "not-a-uuid", "kind": pb.SIGNAL_KIND_ABUSE}, "invalid_ticket_id"),
    ({"signal_id": "s", "ticket_id": str(uuid.uuid4()), "kind": 99}, "invalid_kind"),  # no such SignalKind
    ({"signal_id": "s", "ticket_id": str(uuid.uuid4())}, "invalid_kind"),
    ({"signal_id": "s", "ticket_id": str(uuid.uuid4()), "kind": pb.SIGNAL_KIND_ABUSE, "detail": "x" * 1001}, "invalid_detail"),
])
async def test_bad_signal_is_invalid_argument_and_stores_nothing(stub, request_fields, code) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.RaiseSignal(pb.RaiseSignalRequest(**request_fields))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and error_code(err.value) == code


async def test_raise_signal_twice_returns_the_first_answer(db, stub) -> None:
    inbox = await open_ticket(db)
    request = pb.RaiseSignalRequest(signal_id=f"s-{uuid.uuid4()}", ticket_id=str(inbox.ticket), kind=pb.SIGNAL_KIND_LEGAL,
                                    source="scoring", detail="我要起诉你们")
    first, again = await stub.RaiseSignal(request), await stub.RaiseSignal(request)
    assert first.accepted and not again.accepted
    assert first.escalation.id == again.escalation.id and first.escalation.to_level == L3
    other = pb.RaiseSignalRequest(signal_id=request.signal_id, ticket_id=str(inbox.ticket), kind=pb.SIGNAL_KIND_ABUSE)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.RaiseSignal(other)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_acknowledge_and_list_escalations(db, stub) -> None:
    inbox = await open_ticket(db, level="L2", team=f"team-{uuid.uuid4().hex[:6]}")
    listed = await stub.ListEscalations(pb.ListEscalationsRequest(ticket_id=str(inbox.ticket)))
    [e] = listed.escalations
    assert e.status == "open" and e.to_level == L2 and e.ack_due_at.seconds > 0

    acked = await stub.AcknowledgeEscalation(pb.AcknowledgeEscalationRequest(escalation_id=e.id, actor="lead-1",
                                                                                     actor_role="lead"))
    assert acked.status == "acknowledged" and acked.acknowledged_by == "lead-1"
    assert (await stub.ListEscalations(pb.ListEscalationsRequest(ticket_id=str(inbox.ticket),
                                                                 status="open"))).escalations == []
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.AcknowledgeEscalation(pb.AcknowledgeEscalationRequest(escalation_id=str(uuid.uuid4()), actor="a",
                                                                           actor_role="admin"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and error_code(err.value) == "escalation_not_found"


async def test_list_escalations_pages_newest_first_without_gaps(db, stub) -> None:
    team = f"team-{uuid.uuid4().hex[:6]}"
    made = []
    for _ in range(5):
        inbox = await open_ticket(db, level="L1", team=team)
        made.append(str(inbox.ticket))
    seen, token = [], ""
    while True:
        page = await stub.ListEscalations(pb.ListEscalationsRequest(team=team, page_size=2, page_token=token))
        seen += [e.ticket_id for e in page.escalations]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(made) and len(seen) == 5
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListEscalations(pb.ListEscalationsRequest(page_token="garbage!"))
    assert error_code(err.value) == "invalid_page_token"


async def test_ticket_sla_shows_every_clock_of_every_cycle_with_history(db, stub) -> None:
    inbox = Inbox(db)
    await inbox.created(T0)
    await inbox.contact("outbound", T0 + 20 * M)
    await inbox.status("resolved", T0 + 3 * H)
    await inbox.add("ticket.status_changed", T0 + 48 * H, action="reopened", reopen_count=1)
    await inbox.status("pending", T0 + 49 * H)
    await inbox.project()

    view = await stub.GetTicketSla(pb.GetTicketSlaRequest(ticket_id=str(inbox.ticket)))
    one, two = view.cycles
    assert (one.number, two.number) == (1, 2)
    first = {c.target: c for c in one.clocks}
    assert first["first_response"].state == "met" and first["first_response"].used_seconds == 20 * 60
    assert first["resolution"].state == "met" and first["resolution"].remaining_seconds == 5 * 3600
    second = {c.target: c for c in two.clocks}
    assert from_timestamp(second["first_response"].started_at) == T0 + 48 * H  # fresh targets
    assert second["resolution"].state == "paused" and second["resolution"].paused_reason == "pending_customer"
    assert not second["resolution"].HasField("due_at") and two.paused
    kinds = [h.kind for h in one.history]
    assert kinds[0] == "cycle_opened" and kinds[-1] == "stopped"
    assert json.loads(one.history[0].details_json)["calendar"] == "24x7"
    assert not view.HasField("resolve_by")  # paused: no resolution promise to show


async def test_ticket_sla_of_unknown_ticket_is_not_found(stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetTicketSla(pb.GetTicketSlaRequest(ticket_id=str(uuid.uuid4())))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and error_code(err.value) == "ticket_not_found"


async def test_customer_commitments_next_update_and_resolve_by(db, stub) -> None:
    inbox = Inbox(db)
    await inbox.created(T0, next_update=4 * H)
    await inbox.add("ticket.progress_added", T0 + 2 * H, progress_id="p1", actor="a")
    await inbox.project()
    view = await stub.GetTicketSla(pb.GetTicketSlaRequest(ticket_id=str(inbox.ticket)))
    assert from_timestamp(view.resolve_by) == T0 + 8 * H
    assert from_timestamp(view.next_update_by) == T0 + 6 * H  # 4 h after the latest progress entry


async def test_preview_matrix_reports_how_open_deadlines_would_move(db, stub) -> None:
    inbox = await open_ticket(db)  # standard x normal, first response 1 h, resolution 8 h
    policy = await stub.PublishPolicy(pb.PublishPolicyRequest(
        request_id=f"r-{uuid.uuid4()}", id=f"whatif-{uuid.uuid4().hex[:8]}", name="what-if", calendar="24x7",
        first_response_seconds=2 * 3600, next_update_seconds=4 * 3600, resolution_seconds=8 * 3600,
        escalation_ack_seconds=1800, warning_percent=75))
    current = await stub.GetMatrix(pb.GetMatrixRequest())
    cells = [pb.MatrixCell(tier=c.tier, severity=c.severity, level=c.level, policy_id=c.policy_id,
                           policy_version=c.policy_version) for c in current.cells]
    for c in cells:
        if (c.tier, c.severity) == ("standard", types_pb2.SEVERITY_NORMAL):
            c.policy_id, c.policy_version, c.level = policy.id, policy.version, types_pb2.ESCALATION_LEVEL_L0

    preview = await stub.PreviewMatrix(pb.PublishMatrixRequest(request_id="preview", cells=cells))
    mine = [s for s in preview.shifts if s.ticket_id == str(inbox.ticket)]
    assert [(s.target, s.shift_seconds) for s in mine] == [("first_response", 3600)]
    assert from_timestamp(mine[0].draft_due_at) == T0 + 2 * H
    assert preview.open_cycles >= 1 and preview.later >= 1
    after = await stub.GetMatrix(pb.GetMatrixRequest())
    assert after.version == current.version  # nothing was published


async def test_preview_of_incomplete_matrix_is_invalid_argument(stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.PreviewMatrix(pb.PublishMatrixRequest(request_id="p", cells=[]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and error_code(err.value) == "matrix_incomplete"


async def test_sla_report_gives_attainment_per_target_and_the_escalation_rate(db, stub) -> None:
    team = f"report-{uuid.uuid4().hex[:6]}"
    start = T0 - 300 * 24 * H  # a period no other test writes in
    on_time, late, escalated = Inbox(db), Inbox(db), Inbox(db)
    await on_time.created(start, team=team)
    await on_time.contact("outbound", start + 30 * M)  # first response met
    await on_time.status("resolved", start + 2 * H)  # resolution met
    await late.created(start, team=team)
    await late.status("resolved", start + 10 * H)  # both targets ended late (1 h, 8 h)
    await escalated.created(start, team=team, level="L2")  # stays open: nothing finished
    for inbox in (on_time, late, escalated):
        await inbox.project()

    report = await stub.GetSlaReport(pb.GetSlaReportRequest(
        period_start=to_timestamp(start), period_end=to_timestamp(start + 24 * H), team=team))
    by_target = {t.target: t for t in report.targets}
    assert (by_target["first_response"].finished, by_target["first_response"].met) == (2, 1)
    assert (by_target["resolution"].finished, by_target["resolution"].breached) == (2, 1)
    assert by_target["resolution"].attainment == 0.5
    assert report.cycles_opened == 3 and report.tickets_escalated == 1
    assert report.escalation_rate == pytest.approx(1 / 3)
    assert [(e.trigger, e.to_level, e.count) for e in report.escalations] == [(pb.ESCALATION_TRIGGER_MATRIX, L2, 1)]


async def test_sla_report_refuses_an_empty_or_over_long_period(stub) -> None:
    for start, end in ((T0, T0), (T0, T0 + 400 * 24 * H)):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetSlaReport(pb.GetSlaReportRequest(period_start=to_timestamp(start),
                                                           period_end=to_timestamp(end)))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and error_code(err.value) == "invalid_period"

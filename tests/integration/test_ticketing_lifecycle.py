"""Ticket lifecycle rules (DOMAIN.md §1) over a real gRPC stub and real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from support import error_code, outbox_json
from sqlalchemy import text

from kefu.common.v1 import types_pb2
from kefu.escalation.v1 import escalation_pb2_grpc
from kefu.ticketing.v1 import ticketing_pb2 as pb
from kefu.ticketing.v1 import ticketing_pb2_grpc
from kefu_common.clock import ManualClock
from kefu_common.db import Database
from kefu_ticketing import service
from kefu_ticketing.servicer import EscalationSlaResolver

A = pb.TransitionAction


@pytest.fixture(scope="module")
async def stub(ticketing_addr: str):
    async with grpc.aio.insecure_channel(ticketing_addr) as channel:
        yield ticketing_pb2_grpc.TicketingServiceStub(channel)


@pytest.fixture(scope="module")
async def db(database_url: str):
    database = Database(database_url, schema="ticketing", pool_size=4)
    yield database
    await database.dispose()


def rid() -> str:
    return uuid.uuid4().hex


async def create(stub, *, customer_id: str | None = None, category: str = "quality",
                 severity=types_pb2.SEVERITY_NORMAL, team: str = "", sensitive: bool = False) -> pb.Ticket:
    return await stub.CreateTicket(
        pb.CreateTicketRequest(
            request_id=rid(),
            customer=pb.Customer(
                id=customer_id or f"C-{uuid.uuid4().hex[:10]}",
                tier=types_pb2.CUSTOMER_TIER_STANDARD,
                sensitive=sensitive,
            ),
            channel=types_pb2.CHANNEL_PHONE,
            severity=severity,
            category=category,
            subject="电视开机黑屏",
            actor="agent-1",
            team=team,
        )
    )


async def move(stub, ticket: pb.Ticket, action: int, reason: str = "") -> pb.Ticket:
    return await stub.TransitionTicket(
        pb.TransitionTicketRequest(
            request_id=rid(), id=ticket.id, expected_version=ticket.version, action=action,
            actor="agent-1", reason=reason,
        )
    )


async def resolved(stub, **kwargs) -> pb.Ticket:
    ticket = await create(stub, **kwargs)
    ticket = await move(stub, ticket, A.TRANSITION_ACTION_OPEN)
    return await move(stub, ticket, A.TRANSITION_ACTION_RESOLVE, "fixed")


async def sql(db: Database, query: str, **params) -> list[tuple]:
    async with db.engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(text(query), params)).all()]


# --- states and transitions -----------------------------------------------------------------


async def test_every_transition_is_recorded_with_actor_time_and_reason(stub, db) -> None:
    ticket = await create(stub)
    for action, reason in [
        (A.TRANSITION_ACTION_OPEN, "picked up"),
        (A.TRANSITION_ACTION_PEND, "waiting for invoice photo"),
        (A.TRANSITION_ACTION_RESUME, "photo received"),
        (A.TRANSITION_ACTION_RESOLVE, "refund issued"),
        (A.TRANSITION_ACTION_CLOSE, "customer confirmed"),
    ]:
        ticket = await move(stub, ticket, action, reason)
    assert ticket.status == pb.TICKET_STATUS_CLOSED
    rows = await sql(
        db,
        "SELECT from_status, to_status, actor, reason, at FROM ticketing.status_change "
        "WHERE ticket_id = :t ORDER BY id",
        t=uuid.UUID(ticket.id),
    )
    assert [(r[0], r[1]) for r in rows] == [
        (None, "new"), ("new", "open"), ("open", "pending_customer"),
        ("pending_customer", "open"), ("open", "resolved"), ("resolved", "closed"),
    ]
    assert [r[3] for r in rows[1:]] == [
        "picked up", "waiting for invoice photo", "photo received", "refund issued",
        "customer confirmed",
    ]
    assert all(r[2] == "agent-1" for r in rows)
    assert [r[4] for r in rows] == sorted(r[4] for r in rows)
    assert ticket.resolved_at.seconds and ticket.closed_at.seconds


@pytest.mark.parametrize(
    ("path", "action", "current"),
    [
        ([], A.TRANSITION_ACTION_RESOLVE, "new"),
        ([], A.TRANSITION_ACTION_PEND, "new"),
        ([A.TRANSITION_ACTION_OPEN], A.TRANSITION_ACTION_CLOSE, "open"),
        ([A.TRANSITION_ACTION_OPEN, A.TRANSITION_ACTION_PEND], A.TRANSITION_ACTION_RESOLVE, "pending_customer"),
        ([A.TRANSITION_ACTION_OPEN, A.TRANSITION_ACTION_RESOLVE], A.TRANSITION_ACTION_OPEN, "resolved"),
    ],
)
async def test_illegal_transition_is_failed_precondition_naming_current_state(
    stub, path, action, current
) -> None:
    ticket = await create(stub)
    for step in path:
        ticket = await move(stub, ticket, step)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await move(stub, ticket, action)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_code(info.value) == "invalid_transition"
    assert current in info.value.details()
    again = await stub.GetTicket(pb.GetTicketRequest(id=ticket.id))
    assert again.version == ticket.version


async def test_reopened_ticket_behaves_as_open(stub) -> None:
    ticket = await resolved(stub)
    ticket = await stub.ReopenTicket(pb.ReopenTicketRequest(request_id=rid(), id=ticket.id, actor="a"))
    assert ticket.status == pb.TICKET_STATUS_REOPENED
    pending = await move(stub, ticket, A.TRANSITION_ACTION_PEND)
    assert pending.status == pb.TICKET_STATUS_PENDING_CUSTOMER
    ticket = await move(stub, pending, A.TRANSITION_ACTION_RESUME)
    assert (await move(stub, ticket, A.TRANSITION_ACTION_RESOLVE)).status == pb.TICKET_STATUS_RESOLVED


# --- reopen, never duplicate ----------------------------------------------------------------


async def test_reopen_increments_reopen_count_and_keeps_history(stub, db) -> None:
    ticket = await resolved(stub)
    reopened = await stub.ReopenTicket(
        pb.ReopenTicketRequest(
            request_id=rid(), id=ticket.id, expected_version=ticket.version, actor="agent-2",
            reason="customer called again", contact_channel=types_pb2.CHANNEL_PHONE,
            contact_summary="still black screen",
        )
    )
    assert reopened.id == ticket.id
    assert reopened.reopen_count == 1
    assert reopened.status == pb.TICKET_STATUS_REOPENED
    assert not reopened.HasField("resolved_at")
    again = await move(stub, reopened, A.TRANSITION_ACTION_RESOLVE)
    twice = await stub.ReopenTicket(pb.ReopenTicketRequest(request_id=rid(), id=again.id, actor="a"))
    assert twice.reopen_count == 2
    history = await sql(
        db, "SELECT to_status FROM ticketing.status_change WHERE ticket_id = :t ORDER BY id",
        t=uuid.UUID(ticket.id),
    )
    assert [h[0] for h in history] == ["new", "open", "resolved", "reopened", "resolved", "reopened"]
    contacts = await sql(
        db, "SELECT direction, initial FROM ticketing.contact WHERE ticket_id = :t",
        t=uuid.UUID(ticket.id),
    )
    assert sorted(contacts) == [("inbound", False), ("inbound", True)]


async def test_reopen_never_creates_a_duplicate_ticket(stub, db) -> None:
    ticket = await resolved(stub)
    await stub.ReopenTicket(pb.ReopenTicketRequest(request_id=rid(), id=ticket.id, actor="a"))
    rows = await sql(
        db, "SELECT count(*) FROM ticketing.ticket WHERE customer_id = :c", c=ticket.customer.id
    )
    assert rows == [(1,)]


async def test_only_resolved_or_closed_tickets_can_be_reopened(stub) -> None:
    ticket = await move(stub, await create(stub), A.TRANSITION_ACTION_OPEN)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ReopenTicket(pb.ReopenTicketRequest(request_id=rid(), id=ticket.id, actor="a"))
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "open" in info.value.details()


async def test_reopen_candidates_are_recent_finished_tickets_of_same_customer_and_category(
    stub,
) -> None:
    customer = f"C-{uuid.uuid4().hex[:10]}"
    quality = await resolved(stub, customer_id=customer, category="quality")
    await resolved(stub, customer_id=customer, category="refund")
    await create(stub, customer_id=customer, category="quality")  # still new: not a candidate
    await resolved(stub, category="quality")  # another customer
    reply = await stub.FindReopenCandidates(
        pb.FindReopenCandidatesRequest(customer_id=customer, category="quality")
    )
    assert [t.id for t in reply.tickets] == [quality.id]
    any_category = await stub.FindReopenCandidates(pb.FindReopenCandidatesRequest(customer_id=customer))
    assert len(any_category.tickets) == 2


async def test_reopen_candidates_respect_the_window(db, escalation_addr: str) -> None:
    clock = ManualClock(datetime.now(UTC) - timedelta(days=40))
    async with grpc.aio.insecure_channel(escalation_addr) as channel:
        resolver = EscalationSlaResolver(escalation_pb2_grpc.EscalationServiceStub(channel), 5)
        customer = f"C-{uuid.uuid4().hex[:10]}"
        async with db.session() as session:
            ticket = await service.create_ticket(
                session,
                service.NewTicket(
                    customer_id=customer, customer_name="", tier="standard", sensitive=False,
                    phone="", email="", channel="app", severity="low", category="billing",
                    subject="double charge", description="",
                ),
                resolve_sla=resolver, clock=clock,
            )
        for action in ("open", "resolve"):
            async with db.session() as session:
                await service.transition_ticket(
                    session, str(ticket.id), action, reason="", expected_version=0, actor="a",
                    clock=clock,
                )
    clock.advance(timedelta(days=31))
    async with db.reader() as conn:
        found = await service.find_reopen_candidates(
            conn, customer_id=customer, category="billing", window=timedelta(days=30), clock=clock
        )
        assert found == []
        found = await service.find_reopen_candidates(
            conn, customer_id=customer, category="billing", window=timedelta(days=32), clock=clock
        )
        assert [t.id for t in found] == [ticket.id]


# --- optimistic concurrency -----------------------------------------------------------------


async def test_stale_expected_version_is_aborted_and_changes_nothing(stub) -> None:
    ticket = await create(stub)
    updated = await stub.UpdateTicket(
        pb.UpdateTicketRequest(request_id=rid(), id=ticket.id, expected_version=ticket.version,
                               subject="new subject", actor="a")
    )
    assert updated.version == ticket.version + 1
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.UpdateTicket(
            pb.UpdateTicketRequest(request_id=rid(), id=ticket.id, expected_version=ticket.version,
                                   subject="lost update", actor="b")
        )
    assert info.value.code() == grpc.StatusCode.ABORTED
    assert error_code(info.value) == "version_conflict"
    current = await stub.GetTicket(pb.GetTicketRequest(id=ticket.id))
    assert current.subject == "new subject"


async def test_two_concurrent_updates_with_same_version_exactly_one_wins(stub) -> None:
    ticket = await create(stub)

    async def update(subject: str):
        try:
            return await stub.UpdateTicket(
                pb.UpdateTicketRequest(request_id=rid(), id=ticket.id,
                                       expected_version=ticket.version, subject=subject, actor="a")
            )
        except grpc.aio.AioRpcError as err:
            return err

    results = await asyncio.gather(*(update(f"subject {i}") for i in range(4)))
    winners = [r for r in results if isinstance(r, pb.Ticket)]
    losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(winners) == 1
    assert {e.code() for e in losers} == {grpc.StatusCode.ABORTED}
    final = await stub.GetTicket(pb.GetTicketRequest(id=ticket.id))
    assert final.version == ticket.version + 1
    assert final.subject == winners[0].subject


async def test_update_without_changes_keeps_the_version(stub) -> None:
    ticket = await create(stub)
    same = await stub.UpdateTicket(
        pb.UpdateTicketRequest(request_id=rid(), id=ticket.id, subject=ticket.subject, actor="a")
    )
    assert same.version == ticket.version


# --- idempotency ----------------------------------------------------------------------------


async def test_retry_of_any_command_returns_first_reply_and_writes_nothing(stub, db) -> None:
    ticket = await create(stub)
    request = pb.AddProgressRequest(
        request_id=rid(), ticket_id=ticket.id, text="工程师已预约明天上门", actor="agent-1"
    )
    first = await stub.AddProgress(request)
    second = await stub.AddProgress(request)
    assert first == second
    rows = await sql(db, "SELECT count(*) FROM ticketing.progress_entry WHERE ticket_id = :t",
                     t=uuid.UUID(ticket.id))
    assert rows == [(1,)]
    transition = pb.TransitionTicketRequest(
        request_id=rid(), id=ticket.id, action=A.TRANSITION_ACTION_OPEN, actor="a"
    )
    opened = await stub.TransitionTicket(transition)
    assert await stub.TransitionTicket(transition) == opened  # not "cannot open an open ticket"


# --- contacts, progress, notes, views -------------------------------------------------------


async def test_creating_contact_is_logged_as_the_first_proactive_contact(stub) -> None:
    ticket = await create(stub)
    timeline = await stub.GetTimeline(pb.GetTimelineRequest(ticket_id=ticket.id, include_internal=True))
    contacts = [e.contact for e in timeline.entries if e.kind == "contact"]
    assert len(contacts) == 1
    assert contacts[0].initial
    assert contacts[0].direction == pb.CONTACT_DIRECTION_INBOUND
    assert contacts[0].occurred_at == ticket.first_contact_at


async def test_customer_contacts_never_restart_or_extend_sla_targets(stub) -> None:
    ticket = await create(stub)
    for _ in range(3):
        await stub.LogContact(
            pb.LogContactRequest(request_id=rid(), ticket_id=ticket.id,
                                 direction=pb.CONTACT_DIRECTION_INBOUND,
                                 channel=types_pb2.CHANNEL_PHONE, summary="any news?")
        )
    after = await stub.GetTicket(pb.GetTicketRequest(id=ticket.id))
    assert after.sla == ticket.sla
    assert after.first_contact_at == ticket.first_contact_at
    assert after.version == ticket.version


async def test_agent_outreach_or_progress_marks_first_response(stub) -> None:
    ticket = await create(stub)
    assert not ticket.HasField("first_response_at")
    await stub.LogContact(
        pb.LogContactRequest(request_id=rid(), ticket_id=ticket.id,
                             direction=pb.CONTACT_DIRECTION_INBOUND, channel=types_pb2.CHANNEL_APP)
    )
    assert not (await stub.GetTicket(pb.GetTicketRequest(id=ticket.id))).HasField("first_response_at")
    await stub.LogContact(
        pb.LogContactRequest(request_id=rid(), ticket_id=ticket.id,
                             direction=pb.CONTACT_DIRECTION_OUTBOUND, channel=types_pb2.CHANNEL_PHONE,
                             summary="callback")
    )
    first = await stub.GetTicket(pb.GetTicketRequest(id=ticket.id))
    assert first.HasField("first_response_at")
    assert first.version == ticket.version, "a derived timestamp does not bump the version"
    await stub.AddProgress(pb.AddProgressRequest(request_id=rid(), ticket_id=ticket.id, text="x"))
    later = await stub.GetTicket(pb.GetTicketRequest(id=ticket.id))
    assert later.first_response_at == first.first_response_at


async def test_customer_visible_timeline_never_contains_internal_notes(stub) -> None:
    ticket = await create(stub)
    await stub.AddNote(pb.AddNoteRequest(request_id=rid(), ticket_id=ticket.id,
                                         text="INTERNAL: customer is a known detractor"))
    await stub.AddProgress(pb.AddProgressRequest(
        request_id=rid(), ticket_id=ticket.id, text="A specialist will call you",
        next_step="call back", owner_name="张工", owner_direct_line="+86 10 8888 0001",
        promised_at=ticket.first_contact_at,
    ))
    public = await stub.GetTimeline(pb.GetTimelineRequest(ticket_id=ticket.id))
    assert {e.kind for e in public.entries} == {"status_changed", "progress"}
    assert "INTERNAL" not in str(public)
    internal = await stub.GetTimeline(pb.GetTimelineRequest(ticket_id=ticket.id, include_internal=True))
    assert "INTERNAL" in str(internal)
    progress = [e.progress for e in public.entries if e.kind == "progress"][0]
    assert (progress.owner_name, progress.owner_direct_line) == ("张工", "+86 10 8888 0001")


async def test_customer_visible_timeline_hides_staff_ids_and_internal_reasons(stub) -> None:
    ticket = await create(stub)
    await move(stub, ticket, A.TRANSITION_ACTION_OPEN, "INTERNAL: VIP of a journalist")
    await stub.AddProgress(pb.AddProgressRequest(request_id=rid(), ticket_id=ticket.id,
                                                 text="We are on it", actor="agent-secret-id"))
    public = await stub.GetTimeline(pb.GetTimelineRequest(ticket_id=ticket.id))
    assert "INTERNAL" not in str(public)
    assert "agent-secret-id" not in str(public)
    assert all(e.actor == "" for e in public.entries)
    internal = await stub.GetTimeline(pb.GetTimelineRequest(ticket_id=ticket.id, include_internal=True))
    assert "agent-secret-id" in str(internal) and "INTERNAL" in str(internal)


async def test_progress_views_are_counted_with_timestamps(stub, db) -> None:
    ticket = await create(stub)
    replies = [
        await stub.RecordProgressView(
            pb.RecordProgressViewRequest(request_id=rid(), ticket_id=ticket.id, viewer="customer")
        )
        for _ in range(3)
    ]
    assert [r.view_count for r in replies] == [1, 2, 3]
    assert replies[-1].views_last_hour == 3
    rows = await sql(db, "SELECT viewed_at FROM ticketing.progress_view WHERE ticket_id = :t",
                     t=uuid.UUID(ticket.id))
    assert len(rows) == 3 and all(r[0] is not None for r in rows)


async def test_a_batch_of_views_counts_each_view_and_only_on_the_customers_own_ticket(stub, db) -> None:
    ticket = await create(stub, customer_id="C-batch-owner")
    batch = await stub.RecordProgressView(pb.RecordProgressViewRequest(
        request_id=rid(), ticket_id=ticket.id, viewer="customer:C-batch-owner",
        customer_id="C-batch-owner", count=5,
    ))
    assert (batch.view_count, batch.views_last_hour) == (5, 5)
    assert (batch.stamp.ticket_version, batch.stamp.progress_count) == (ticket.version, 0)
    assert batch.sequence > 0
    with pytest.raises(grpc.aio.AioRpcError) as other:
        await stub.RecordProgressView(pb.RecordProgressViewRequest(
            request_id=rid(), ticket_id=ticket.id, viewer="x", customer_id="C-someone-else"))
    assert other.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as too_many:
        await stub.RecordProgressView(pb.RecordProgressViewRequest(
            request_id=rid(), ticket_id=ticket.id, viewer="x", count=10_001))
    assert error_code(too_many.value) == "invalid_count"
    rows = await sql(db, "SELECT count(*) FROM ticketing.progress_view WHERE ticket_id = :t",
                     t=uuid.UUID(ticket.id))
    assert rows[0][0] == 5


async def test_progress_stamp_changes_with_progress_and_hides_other_customers_tickets(stub) -> None:
    ticket = await create(stub, customer_id="C-stamp-owner")
    before = await stub.GetProgressStamp(pb.GetProgressStampRequest(ticket_id=ticket.id))
    await stub.AddProgress(pb.AddProgressRequest(request_id=rid(), ticket_id=ticket.id, text="在查", actor="a"))
    after = await stub.GetProgressStamp(
        pb.GetProgressStampRequest(ticket_id=ticket.id, customer_id="C-stamp-owner"))
    assert (before.progress_count, after.progress_count) == (0, 1)
    assert after.ticket_version == before.ticket_version  # progress is a child: no version bump
    with pytest.raises(grpc.aio.AioRpcError) as other:
        await stub.GetProgressStamp(pb.GetProgressStampRequest(ticket_id=ticket.id, customer_id="C-x"))
    assert other.value.code() == grpc.StatusCode.NOT_FOUND


# --- routing, listing, events ---------------------------------------------------------------


async def test_high_risk_ticket_routes_to_least_loaded_senior_specialist(stub) -> None:
    team = f"team-{uuid.uuid4().hex[:6]}"
    for agent_id, skill, specialist in (("junior", 2, False), ("senior-a", 5, True), ("senior-b", 4, True)):
        await stub.UpsertAgent(pb.UpsertAgentRequest(agent=pb.Agent(
            id=f"{team}-{agent_id}", name=agent_id, team=team, skill_level=skill,
            specialist=specialist, active=True,
        )))
    first = await create(stub, severity=types_pb2.SEVERITY_CRITICAL, team=team)
    second = await create(stub, sensitive=True, team=team)
    normal = await create(stub, team=team)
    assert {first.owner.assignee_id, second.owner.assignee_id} == {f"{team}-senior-a", f"{team}-senior-b"}
    assert first.owner.skill_level >= 4
    assert normal.owner.assignee_id == ""


async def test_assign_needs_a_known_active_agent(stub) -> None:
    ticket = await create(stub)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.AssignTicket(pb.AssignTicketRequest(request_id=rid(), id=ticket.id,
                                                       assignee_id="nobody", actor="lead"))
    assert error_code(info.value) == "unknown_assignee"


async def test_list_tickets_filters_and_paginates_without_duplicates(stub) -> None:
    customer = f"C-{uuid.uuid4().hex[:10]}"
    made = [await create(stub, customer_id=customer) for _ in range(5)]
    seen: list[str] = []
    token = ""
    while True:
        page = await stub.ListTickets(pb.ListTicketsRequest(customer_id=customer, page_size=2,
                                                            page_token=token))
        seen += [t.id for t in page.tickets]
        token = page.next_page_token
        if not token:
            break
    assert seen == [t.id for t in reversed(made)]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ListTickets(pb.ListTicketsRequest(page_token="garbage!"))
    assert error_code(info.value) == "invalid_page_token"


async def test_each_change_emits_its_event_in_the_same_transaction(stub, db) -> None:
    ticket = await resolved(stub)
    await stub.ReopenTicket(pb.ReopenTicketRequest(request_id=rid(), id=ticket.id, actor="a"))
    await stub.LogContact(pb.LogContactRequest(request_id=rid(), ticket_id=ticket.id,
                                               direction=pb.CONTACT_DIRECTION_INBOUND,
                                               channel=types_pb2.CHANNEL_CHAT))
    await stub.AddProgress(pb.AddProgressRequest(request_id=rid(), ticket_id=ticket.id, text="x"))
    await stub.RecordProgressView(pb.RecordProgressViewRequest(request_id=rid(), ticket_id=ticket.id))
    await stub.AddNote(pb.AddNoteRequest(request_id=rid(), ticket_id=ticket.id, text="secret"))
    rows = await sql(
        db, "SELECT event_type, body FROM ticketing.outbox_event WHERE ticket_id = :t ORDER BY sequence",
        t=uuid.UUID(ticket.id),
    )
    rows = [(r[0], outbox_json(r[1])) for r in rows]
    assert [r[0] for r in rows] == [
        "ticket.created", "ticket.status_changed", "ticket.status_changed", "ticket.status_changed",
        "ticket.contact_logged", "ticket.progress_added", "ticket.progress_viewed",
    ]
    assert [r[1].get("action") for r in rows[1:4]] == ["opened", "resolved", "reopened"]
    assert "secret" not in json.dumps([r[1] for r in rows])


async def test_a_reopen_with_the_customers_contact_emits_contact_logged_after_the_reopen(stub, db) -> None:
    """docs/events.md: ReopenTicket with a contact emits `ticket.contact_logged`, so escalation's
    repeat-contact trigger counts it (in the new cycle) as ticketing's metrics do (issue #14.6)."""
    ticket = await resolved(stub)
    await stub.ReopenTicket(pb.ReopenTicketRequest(
        request_id=rid(), id=ticket.id, actor="a", reason="again", contact_channel=types_pb2.CHANNEL_CHAT,
        contact_summary="the screen is black again"))
    rows = await sql(
        db, "SELECT event_type, body FROM ticketing.outbox_event WHERE ticket_id = :t ORDER BY sequence",
        t=uuid.UUID(ticket.id),
    )
    rows = [(r[0], outbox_json(r[1])) for r in rows]
    assert [r[0] for r in rows[-2:]] == ["ticket.status_changed", "ticket.contact_logged"]
    contact = rows[-1][1]
    assert (contact["direction"], contact["channel"], contact["proactive"]) == ("inbound", "chat", True)
    stored = await sql(db, "SELECT id FROM ticketing.contact WHERE ticket_id = :t AND NOT initial",
                       t=uuid.UUID(ticket.id))
    assert contact["contact_id"] == str(stored[0][0])
    assert "the screen is black" not in json.dumps(contact)  # summaries stay in ticketing


async def test_a_reopen_without_a_contact_emits_no_contact_logged(stub, db) -> None:
    ticket = await resolved(stub)
    await stub.ReopenTicket(pb.ReopenTicketRequest(request_id=rid(), id=ticket.id, actor="a"))
    rows = await sql(db, "SELECT event_type FROM ticketing.outbox_event WHERE ticket_id = :t ORDER BY sequence",
                     t=uuid.UUID(ticket.id))
    assert "ticket.contact_logged" not in [r[0] for r in rows]


async def test_a_severity_or_tier_change_emits_the_classification_escalation_re_resolves(stub, db) -> None:
    """Issue #14.3: ticketing emits the change in its outbox; escalation re-resolves the matrix."""
    ticket = await create(stub)
    ticket = await stub.UpdateTicket(pb.UpdateTicketRequest(
        request_id=rid(), id=ticket.id, expected_version=ticket.version, actor="a", subject="new subject"))
    ticket = await stub.UpdateTicket(pb.UpdateTicketRequest(
        request_id=rid(), id=ticket.id, expected_version=ticket.version, actor="a",
        severity=types_pb2.SEVERITY_CRITICAL))
    ticket = await stub.UpdateTicket(pb.UpdateTicketRequest(
        request_id=rid(), id=ticket.id, expected_version=ticket.version, actor="a",
        customer_tier=types_pb2.CUSTOMER_TIER_VIP))
    assert ticket.customer.tier == types_pb2.CUSTOMER_TIER_VIP
    rows = await sql(db, "SELECT body FROM ticketing.outbox_event WHERE ticket_id = :t AND "
                         "event_type = 'ticket.updated' ORDER BY sequence", t=uuid.UUID(ticket.id))
    subject, severity, tier = (outbox_json(r[0]) for r in rows)
    assert "classification" not in subject
    assert severity["classification"] == {"severity": "critical", "customer_tier": "standard",
                                          "customer_sensitive": False, "channel": "phone"}
    assert tier["changes"] == {"customer_tier": "vip"}
    assert tier["classification"]["customer_tier"] == "vip"

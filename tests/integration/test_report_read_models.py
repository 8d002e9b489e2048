"""The report read models (issue #12): `ticketing.report_fact` and `scoring.evaluation_hit`
are written in the transaction of the rows they follow, by whoever writes those rows: the
ticketing service over gRPC, the scoring API, a raw insert. Their rebuild (the migrations'
backfill) reproduces exactly what the triggers wrote."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from sqlalchemy import text

from kefu.common.v1 import types_pb2
from kefu.ticketing.v1 import ticketing_pb2 as pb
from kefu.ticketing.v1 import ticketing_pb2_grpc
from kefu_common.db import Database

A = pb.TransitionAction
CREATED, RESOLVED, CLOSED, REOPENED = 1, 2, 3, 4
_FACT = ("SELECT kind, at, prev_at, seconds, within_72h, inbound, reopened, team, agent, category, "
         "channel FROM ticketing.report_fact WHERE ticket_id = :t ORDER BY at, id")


@pytest.fixture(scope="module")
async def stub(ticketing_addr: str):
    async with grpc.aio.insecure_channel(ticketing_addr) as channel:
        yield ticketing_pb2_grpc.TicketingServiceStub(channel)


@pytest.fixture(scope="module")
def db(scoring_db: Database) -> Database:
    return scoring_db  # the one test database: every statement here names its schema


def rid() -> str:
    return uuid.uuid4().hex


async def facts(db: Database, ticket_id: str | uuid.UUID) -> list[dict]:
    async with db.engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(text(_FACT), {"t": ticket_id})]


async def create(stub, team: str = "") -> pb.Ticket:
    return await stub.CreateTicket(pb.CreateTicketRequest(
        request_id=rid(),
        customer=pb.Customer(id=f"C-{uuid.uuid4().hex[:10]}", tier=types_pb2.CUSTOMER_TIER_STANDARD),
        channel=types_pb2.CHANNEL_PHONE, severity=types_pb2.SEVERITY_NORMAL, category="quality",
        subject="read model", actor="agent-1", team=team,
    ))


async def move(stub, ticket: pb.Ticket, action: int) -> pb.Ticket:
    return await stub.TransitionTicket(pb.TransitionTicketRequest(
        request_id=rid(), id=ticket.id, expected_version=ticket.version, action=action, actor="agent-1"))


async def test_a_created_ticket_has_its_creation_fact_with_its_initial_contact(stub, db) -> None:
    team = f"team-{uuid.uuid4().hex[:6]}"
    ticket = await create(stub, team=team)
    [fact] = await facts(db, ticket.id)
    assert (fact["kind"], fact["inbound"], fact["reopened"], fact["team"]) == (CREATED, 1, False, team)
    assert (fact["category"], fact["channel"], fact["seconds"]) == ("quality", "phone", None)


async def test_a_reopen_starts_a_new_cycle_of_facts_and_marks_every_fact_of_the_ticket_reopened(
    stub, db
) -> None:
    ticket = await move(stub, await create(stub), A.TRANSITION_ACTION_OPEN)
    ticket = await move(stub, ticket, A.TRANSITION_ACTION_RESOLVE)
    ticket = await stub.ReopenTicket(pb.ReopenTicketRequest(
        request_id=rid(), id=ticket.id, expected_version=ticket.version, actor="agent-1",
        reason="back", contact_channel=types_pb2.CHANNEL_PHONE, contact_summary="again"))
    ticket = await move(stub, ticket, A.TRANSITION_ACTION_RESOLVE)
    got = await facts(db, ticket.id)
    assert [f["kind"] for f in got] == [CREATED, RESOLVED, REOPENED, RESOLVED]
    first, second = (f for f in got if f["kind"] == RESOLVED)
    assert first["prev_at"] is None and second["prev_at"] == first["at"]  # counted once per span
    assert all(f["reopened"] for f in got)
    assert all(f["inbound"] == 2 for f in got)  # the reopening contact counts on every fact
    assert second["seconds"] == pytest.approx((second["at"] - got[0]["at"]).total_seconds())


async def test_contacts_count_on_every_fact_only_when_inbound_and_the_first_answer_times_creation(
    stub, db
) -> None:
    ticket = await move(stub, await create(stub), A.TRANSITION_ACTION_OPEN)
    ticket = await move(stub, ticket, A.TRANSITION_ACTION_RESOLVE)
    for direction in (pb.CONTACT_DIRECTION_INBOUND, pb.CONTACT_DIRECTION_OUTBOUND):
        await stub.LogContact(pb.LogContactRequest(
            request_id=rid(), ticket_id=ticket.id, direction=direction,
            channel=types_pb2.CHANNEL_PHONE, summary="call", actor="agent-1"))
    got = await facts(db, ticket.id)
    assert [f["inbound"] for f in got] == [2, 2]
    created = got[0]
    async with db.engine.connect() as conn:
        answered = (await conn.execute(text(
            "SELECT first_response_at - first_contact_at FROM ticketing.ticket WHERE id = :t"),
            {"t": ticket.id})).scalar_one()
    assert created["seconds"] == pytest.approx(answered.total_seconds())


async def test_reassigning_a_ticket_moves_all_its_facts_to_the_new_team_and_agent(stub, db) -> None:
    team = f"team-{uuid.uuid4().hex[:6]}"
    await stub.UpsertAgent(pb.UpsertAgentRequest(agent=pb.Agent(
        id=f"{team}-a", name="a", team=team, skill_level=2, active=True)))
    ticket = await move(stub, await create(stub), A.TRANSITION_ACTION_OPEN)
    await stub.AssignTicket(pb.AssignTicketRequest(
        request_id=rid(), id=ticket.id, expected_version=ticket.version, assignee_id=f"{team}-a",
        actor="lead"))
    [fact] = await facts(db, ticket.id)
    assert (fact["team"], fact["agent"]) == (team, f"{team}-a")


async def raw_ticket(db: Database, first_contact_at: datetime, *changes: tuple[str, timedelta]) -> list[dict]:
    """A ticket and its status changes inserted with SQL (as the metrics tests do), in the
    order given; its facts."""
    ticket_id = uuid.uuid4()
    async with db.engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO ticketing.ticket (id, status, customer_id, customer_tier, channel, severity, "
            "category, subject, first_contact_at, created_at, updated_at) VALUES (:id, 'new', 'C-raw', "
            "'standard', 'phone', 'normal', 'quality', 'raw', :at, :at, :at)"),
            {"id": ticket_id, "at": first_contact_at})
        for status, after in changes:
            await conn.execute(text(
                "INSERT INTO ticketing.status_change (ticket_id, to_status, actor, at) "
                "VALUES (:t, :s, 'raw', :at)"), {"t": ticket_id, "s": status, "at": first_contact_at + after})
    return await facts(db, ticket_id)


async def test_a_resolution_recorded_out_of_time_order_becomes_the_previous_of_later_ones(db) -> None:
    t0 = datetime(2031, 5, 1, tzinfo=UTC)
    got = await raw_ticket(db, t0, ("resolved", timedelta(hours=10)), ("resolved", timedelta(hours=2)))
    resolved = [f for f in got if f["kind"] == RESOLVED]
    assert [(f["at"] - t0, f["prev_at"]) for f in resolved] == [
        (timedelta(hours=2), None), (timedelta(hours=10), t0 + timedelta(hours=2))]


async def test_a_closure_within_72_hours_of_the_first_contact_is_marked_so(db) -> None:
    h = timedelta(hours=1)
    got = await raw_ticket(db, datetime(2031, 6, 1, tzinfo=UTC), ("closed", 72 * h),
                           ("reopened", 73 * h), ("closed", 73 * h + timedelta(seconds=1)))
    assert [f["within_72h"] for f in got if f["kind"] == CLOSED] == [True, False]


async def test_the_rebuild_reproduces_what_the_triggers_wrote(stub, db) -> None:
    ticket = await move(stub, await create(stub), A.TRANSITION_ACTION_OPEN)
    ticket = await move(stub, ticket, A.TRANSITION_ACTION_RESOLVE)
    ticket = await move(stub, ticket, A.TRANSITION_ACTION_CLOSE)
    columns = _FACT.split(" FROM ")[0].removeprefix("SELECT ")
    before, after = await rebuilt(
        db, f"SELECT ticket_id, {columns} FROM ticketing.report_fact ORDER BY ticket_id, kind, at",
        "ticketing.report_fact_rebuild")
    assert len(before) >= 3 and after == before


async def rebuilt(db: Database, snapshot: str, rebuild: str) -> tuple[list, list]:
    """The rows of `snapshot` before and after calling `rebuild()`, in a transaction rolled back
    (other tests' rows stay as the triggers wrote them)."""
    async with db.engine.connect() as conn:
        before = (await conn.execute(text(snapshot))).all()
        await conn.execute(text(f"SELECT {rebuild}()"))
        after = (await conn.execute(text(snapshot))).all()
        await conn.rollback()
    return before, after


# --- scoring.evaluation_hit ---------------------------------------------------------------------


async def test_an_evaluations_hits_are_written_with_it_one_row_per_rule(gateway, auth, scoring_db) -> None:
    started = datetime(1999, 3, 4, 2, 30, tzinfo=UTC)
    created = await gateway.post("/v1/qa/evaluations", json={
        "agent_id": f"a-{uuid.uuid4().hex[:8]}", "started_at": started.isoformat(),
        "turns": [{"role": "agent", "text": "这个我不知道，你自己看吧，我保证明天一定到账"}]}, headers=auth)
    assert created.status_code == 201, created.text
    body = created.json()
    expected: dict[str, int] = {}
    for hit in body["hits"]:
        expected[hit["rule_id"]] = expected.get(hit["rule_id"], 0) + 1
    assert expected  # the conversation hits rules
    async with scoring_db.engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT rule_id, hits, started_at FROM scoring.evaluation_hit WHERE evaluation_id = :e"),
            {"e": body["id"]})).all()
    assert {r.rule_id: r.hits for r in rows} == expected
    assert {r.started_at for r in rows} == {started}


async def test_an_evaluation_without_hits_has_no_hit_rows_and_a_changed_hit_list_replaces_them(
    scoring_db,
) -> None:
    evaluation_id = uuid.uuid4()
    insert = text(
        "INSERT INTO scoring.evaluation (id, request_id, request_hash, agent_id, ruleset_id, "
        "ruleset_version, total_score, grade, hits, fatal, started_at) VALUES (:id, :r, '', 'a', "
        "'default', 1, 100, 'A', CAST(:hits AS jsonb), false, :at)")
    rows = text("SELECT rule_id, hits FROM scoring.evaluation_hit WHERE evaluation_id = :id ORDER BY 1")
    async with scoring_db.engine.begin() as conn:
        await conn.execute(insert, {"id": evaluation_id, "r": rid(), "hits": "[]",
                                    "at": datetime(1999, 1, 1, tzinfo=UTC)})
        assert (await conn.execute(rows, {"id": evaluation_id})).all() == []
        await conn.execute(text("UPDATE scoring.evaluation SET hits = CAST(:hits AS jsonb) WHERE id = :id"),
                           {"id": evaluation_id, "hits": json.dumps([{"rule_id": "x"}, {"rule_id": "y"},
                                                                     {"rule_id": "x"}])})
        assert [tuple(r) for r in (await conn.execute(rows, {"id": evaluation_id})).all()] == [("x", 2), ("y", 1)]


async def test_the_hit_rebuild_reproduces_what_the_trigger_wrote(gateway, auth, scoring_db) -> None:
    created = await gateway.post("/v1/qa/evaluations", json={
        "agent_id": f"a-{uuid.uuid4().hex[:8]}",
        "turns": [{"role": "customer", "text": "我要打12315投诉你们！"},
                  {"role": "agent", "text": "您好，我保证明天一定到账"}]}, headers=auth)
    assert created.status_code == 201, created.text
    before, after = await rebuilt(
        scoring_db, "SELECT evaluation_id, rule_id, started_at, hits FROM scoring.evaluation_hit "
        "ORDER BY evaluation_id, rule_id", "scoring.evaluation_hit_rebuild")
    assert before and after == before

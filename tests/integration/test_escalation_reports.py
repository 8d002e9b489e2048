"""SLA attainment and escalations per bucket, clocks at risk now and escalations waiting for
acknowledgement (issue #12): the escalation service's SQL over clocks projected from explicit
instants (escalation_support.Inbox), and the gateway routes over them."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from escalation_support import H, Inbox, escalation_database
from kefu_common.periods import plan
from kefu_escalation.read_models import reports

M = timedelta(minutes=1)
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # 17:00 in Shanghai, Monday 2026-11-02


@pytest.fixture(scope="module")
async def db(database_url: str):
    async with escalation_database(database_url) as database:
        yield database


def team() -> str:
    return f"team-{uuid.uuid4().hex[:8]}"


async def escalation_row(db, ticket: uuid.UUID, team: str, at: datetime, *, to_level: str = "L1",
                         acknowledged: bool = False, ack_due: timedelta = 30 * M) -> uuid.UUID:
    ident = uuid.uuid4()
    async with db.session() as session:
        await (await session.connection()).execute(text(
            "INSERT INTO escalation.escalation (id, ticket_id, cycle, trigger, trigger_key, from_level, "
            "to_level, to_party, team, reason, actor, created_at, calendar, ack_due_at, acknowledged_at, "
            "acknowledged_by, status) VALUES (:id, :t, 1, 'manual', :key, 'L0', :lvl, 'senior_specialist', "
            ":team, '', 'test', :at, '24x7', :due, :ack_at, :ack_by, :status)"),
            {"id": ident, "t": ticket, "key": f"manual:{ident}", "lvl": to_level, "team": team, "at": at,
             "due": at + ack_due, "ack_at": at + M if acknowledged else None,
             "ack_by": "lead" if acknowledged else None,
             "status": "acknowledged" if acknowledged else "open"})
    return ident


async def test_attainment_counts_each_target_in_the_local_day_it_ended(db) -> None:
    mine = team()
    late = Inbox(db)  # responded in 30 min (met); resolved after 10 h of an 8 h target
    await late.created(T0, team=mine, first_response=H, resolution=8 * H)
    await late.contact("outbound", T0 + 30 * M)
    await late.status("resolved", T0 + 10 * H)  # 19:00Z = 03:00 on 11-03 in Shanghai
    await late.project()
    quick = Inbox(db)  # responded and resolved within 2 h: both met on 11-02
    await quick.created(T0, team=mine, first_response=H, resolution=8 * H)
    await quick.contact("outbound", T0 + 20 * M)
    await quick.status("resolved", T0 + 2 * H)
    await quick.project()

    p = plan(date(2026, 11, 2), date(2026, 11, 4), tz="Asia/Shanghai", unit="day")
    async with db.session() as session:
        rows = await reports.attainment_series(session, p, by_team=True)
    got = {(r.bucket, r.previous): r.targets for r in rows if r.group == mine}

    assert got[(0, False)]["first_response"][:2] == (2, 2)  # finished, met
    assert got[(0, False)]["resolution"][:2] == (1, 1)
    assert got[(1, False)]["resolution"][:2] == (1, 0)  # ended late on 11-03 (local)
    assert "first_response" not in got[(1, False)]
    assert (1, True) in got and got[(1, True)] == got[(0, False)]  # 11-03's previous is 11-02


async def test_escalation_rate_is_escalated_tickets_over_tickets_opened(db) -> None:
    mine = team()
    tickets = []
    for _ in range(4):
        inbox = Inbox(db)
        await inbox.created(T0, team=mine)
        await inbox.project()
        tickets.append(inbox.ticket)
    await escalation_row(db, tickets[0], mine, T0 + H, to_level="L1")
    await escalation_row(db, tickets[0], mine, T0 + 2 * H, to_level="L2")
    await escalation_row(db, tickets[1], mine, T0 + H, to_level="L3")
    await escalation_row(db, tickets[2], mine, T0 + 20 * H, to_level="L1")  # 11-03 local

    p = plan(date(2026, 11, 2), date(2026, 11, 4), tz="Asia/Shanghai", unit="day", compare="none")
    async with db.session() as session:
        rows = await reports.escalation_series(session, p, by_team=True)
    got = {r.bucket: r for r in rows if r.group == mine}
    day1 = got[0]
    assert (day1.cycles_opened, day1.tickets_opened, day1.tickets_escalated) == (4, 4, 2)
    assert (day1.escalations, day1.to_l1, day1.to_l2, day1.to_l3) == (3, 1, 1, 1)
    assert (got[1].tickets_opened, got[1].escalations, got[1].to_l1) == (0, 1, 1)


async def test_clocks_at_risk_lists_due_soon_and_breached_soonest_first_to_the_second(db) -> None:
    mine = team()
    now = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    soon = Inbox(db)  # first response due at now + 10 min
    await soon.created(now - 50 * M, team=mine, first_response=H, resolution=8 * H)
    await soon.project()
    breached = Inbox(db)  # first response due an hour ago, never responded, still open
    await breached.created(now - 2 * H, team=mine, first_response=H, resolution=8 * H)
    await breached.project()
    later = Inbox(db)  # first response due in 3 h: not at risk within 60 minutes
    await later.created(now - H, team=mine, first_response=4 * H, resolution=8 * H)
    await later.project()
    done = Inbox(db)  # breached but resolved: not at risk
    await done.created(now - 3 * H, team=mine, first_response=H, resolution=8 * H)
    await done.status("resolved", now - 10 * M)
    await done.project()

    async with db.session() as session:
        page, token = await reports.clocks_at_risk(
            session, now=now, within=60 * M, include_breached=True, team=mine)
    assert token == ""
    assert [(c.ticket_id, c.target, c.breached, c.seconds_remaining, c.seconds_overrun) for c in page] == [
        (breached.ticket, "first_response", True, 0, 3600),
        (soon.ticket, "first_response", False, 600, 0),
    ]
    assert page[0].due_at == now - H and page[1].due_at == now + 10 * M
    assert page[0].team == mine

    async with db.session() as session:
        only_running, _ = await reports.clocks_at_risk(
            session, now=now, within=60 * M, include_breached=False, team=mine)
        first, token = await reports.clocks_at_risk(
            session, now=now, within=60 * M, include_breached=True, team=mine, limit=1)
        second, end = await reports.clocks_at_risk(
            session, now=now, within=60 * M, include_breached=True, team=mine, limit=1, after=token)
    assert [c.ticket_id for c in only_running] == [soon.ticket]
    assert [c.ticket_id for c in first + second] == [breached.ticket, soon.ticket]
    assert token and end == ""


async def test_unacknowledged_escalations_oldest_first_and_acknowledged_left_out(db) -> None:
    mine = team()
    ticket = uuid.uuid4()
    newer = await escalation_row(db, ticket, mine, T0 + 2 * H)
    older = await escalation_row(db, ticket, mine, T0 + H, to_level="L2")
    await escalation_row(db, ticket, mine, T0, acknowledged=True)
    async with db.session() as session:
        first = await reports.unacknowledged(session, team=mine, limit=1)
        rest = await reports.unacknowledged(
            session, team=mine, limit=5, after=(first[0].created_at, first[0].id))
    assert [r.id for r in first + rest] == [older, newer]


# --- through the gateway ---------------------------------------------------------------------


async def test_gateway_lists_clocks_at_risk_and_exports_them(db, gateway, auth) -> None:
    mine = team()
    now = datetime.now(UTC)
    soon = Inbox(db)
    await soon.created(now - 50 * M, team=mine, first_response=H, resolution=8 * H)
    await soon.project()
    response = await gateway.get("/v1/reports/clocks-at-risk", params={"team": mine, "within_minutes": 30},
                                 headers=auth)
    assert response.status_code == 200, response.text
    [item] = response.json()["items"]
    assert (item["ticket_id"], item["target"], item["breached"]) == (str(soon.ticket), "first_response", False)
    assert 500 <= item["seconds_remaining"] <= 600
    assert item["level"] == "L0"

    exported = await gateway.get("/v1/reports/clocks-at-risk", params={"team": mine, "format": "csv"},
                                 headers=auth)
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [(r["ticket_id"], r["target"]) for r in rows] == [(str(soon.ticket), "first_response")]


async def test_gateway_unacknowledged_escalations_carry_ack_due(db, gateway, auth) -> None:
    mine = team()
    at = datetime.now(UTC) - 40 * M
    ident = await escalation_row(db, uuid.uuid4(), mine, at, ack_due=30 * M)
    response = await gateway.get("/v1/reports/unacknowledged-escalations", params={"team": mine},
                                 headers=auth)
    assert response.status_code == 200, response.text
    [item] = response.json()["items"]
    assert item["id"] == str(ident)
    assert -660 <= item["seconds_to_ack_due"] <= -540  # ten minutes late
    assert 2390 <= item["seconds_waiting"] <= 2460


async def test_gateway_sla_attainment_series_shape(db, gateway, auth) -> None:
    mine = team()
    inbox = Inbox(db)
    await inbox.created(T0, team=mine, first_response=H)
    await inbox.contact("outbound", T0 + 30 * M)
    await inbox.project()
    response = await gateway.get("/v1/reports/sla-attainment", params={
        "start": "2026-11-02", "end": "2026-11-03", "group_by": "team"}, headers=auth)
    assert response.status_code == 200, response.text
    [bucket] = next(s for s in response.json()["series"] if s["group"] == mine)["buckets"]
    assert bucket["values"]["first_response_finished"] == 1
    assert bucket["values"]["first_response_attainment"] == 1.0
    assert bucket["values"]["resolution_attainment"] is None
    escalations = await gateway.get("/v1/reports/escalations", params={
        "start": "2026-11-02", "end": "2026-11-03", "group_by": "team", "format": "xlsx"}, headers=auth)
    assert escalations.status_code == 200


async def test_gateway_escalation_list_exports_as_csv(db, gateway, auth) -> None:
    mine = team()
    made = [await escalation_row(db, uuid.uuid4(), mine, datetime.now(UTC) - n * M) for n in range(3)]
    response = await gateway.get("/v1/escalations", params={"team": mine, "format": "csv", "page_size": 1},
                                 headers=auth)
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["id"] for r in rows] == [str(i) for i in made]  # newest first, every page
    assert {r["team"] for r in rows} == {mine}

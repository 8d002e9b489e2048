"""SLA clocks and escalations through the public HTTP API, over the real escalation service.

Clock rows come from inbox rows the test writes and projects (escalation_support.Inbox): the
session's escalation server runs without its event consumer and clock worker."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from escalation_support import H, T0, Inbox, escalation_database
from support import assert_problem, staff_headers


@pytest.fixture(scope="module")
async def db(database_url: str):
    async with escalation_database(database_url) as database:
        yield database


@pytest.fixture(scope="module")
def admin(gateway_settings: Any) -> dict[str, str]:
    return staff_headers(gateway_settings, role="admin", subject="test-admin")


async def ticket(db, **options: Any) -> Inbox:
    inbox = Inbox(db)
    await inbox.created(T0, **options)
    await inbox.project()
    return inbox


async def test_ticket_sla_view_lists_clocks_commitments_and_escalations(db, gateway, auth) -> None:
    inbox = await ticket(db, level="L1")
    r = await gateway.get(f"/v1/tickets/{inbox.ticket}/sla", headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["level"] == "L1"
    [cycle] = body["cycles"]
    assert {c["target"] for c in cycle["clocks"]} == {"first_response", "resolution"}
    assert cycle["history"][0]["kind"] == "cycle_opened"
    assert body["commitments"]["resolve_by"].startswith("2026-11-02T17:00:00")
    [e] = body["escalations"]
    assert (e["trigger"], e["to_level"], e["status"]) == ("matrix", "L1", "open")


async def test_sla_of_unknown_or_malformed_ticket_is_404(gateway, auth) -> None:
    for ident in (str(uuid.uuid4()), "not-a-uuid"):
        assert_problem(await gateway.get(f"/v1/tickets/{ident}/sla", headers=auth), 404, "ticket_not_found")


async def test_green_channel_escalation_is_idempotent_with_a_key(db, gateway, auth) -> None:
    inbox = await ticket(db)
    headers = {**auth, "Idempotency-Key": f"k-{uuid.uuid4().hex[:10]}"}
    body = {"reason": "VIP threatens to go to the media", "to_level": "L2"}
    first = await gateway.post(f"/v1/tickets/{inbox.ticket}/escalate", json=body, headers=headers)
    again = await gateway.post(f"/v1/tickets/{inbox.ticket}/escalate", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json() == again.json()
    assert first.headers["location"] == f"/v1/tickets/{inbox.ticket}/sla#escalation-{first.json()['id']}"
    assert (first.json()["trigger"], first.json()["to_level"], first.json()["actor"]) == ("manual", "L2", "test-agent")
    listed = await gateway.get("/v1/escalations", params={"ticket_id": str(inbox.ticket)}, headers=auth)
    assert [e["id"] for e in listed.json()["items"]] == [first.json()["id"]]


async def test_green_channel_key_reused_with_another_body_is_422_idempotency_key_reused(db, gateway, auth) -> None:
    inbox = await ticket(db)
    headers = {**auth, "Idempotency-Key": f"k-{uuid.uuid4().hex[:10]}"}
    first = await gateway.post(f"/v1/tickets/{inbox.ticket}/escalate",
                               json={"reason": "VIP threatens to go to the media", "to_level": "L1"}, headers=headers)
    assert first.status_code == 201, first.text
    other = await gateway.post(f"/v1/tickets/{inbox.ticket}/escalate",
                               json={"reason": "a different reason", "to_level": "L3"}, headers=headers)
    assert_problem(other, 422, "idempotency_key_reused")
    same = await gateway.post(f"/v1/tickets/{inbox.ticket}/escalate",
                              json={"reason": "VIP threatens to go to the media", "to_level": "L1"}, headers=headers)
    assert (same.status_code, same.json()) == (201, first.json())


async def test_escalating_a_ticket_already_at_l3_is_400(db, gateway, auth) -> None:
    inbox = await ticket(db, level="L3")
    r = await gateway.post(f"/v1/tickets/{inbox.ticket}/escalate", json={"reason": "again"}, headers=auth)
    assert_problem(r, 400, "already_at_level")


async def test_bad_escalation_body_is_422(gateway, auth) -> None:
    r = await gateway.post(f"/v1/tickets/{uuid.uuid4()}/escalate", json={"to_level": "L9", "reason": ""},
                           headers=auth)
    assert_problem(r, 422, "validation_error")


async def test_acknowledge_escalation_through_the_api(db, gateway, auth, gateway_settings) -> None:
    inbox = await ticket(db, level="L2")
    [e] = (await gateway.get("/v1/escalations", params={"ticket_id": str(inbox.ticket), "status": "open"},
                             headers=auth)).json()["items"]
    lead = staff_headers(gateway_settings, role="lead", subject="test-lead")
    r = await gateway.post(f"/v1/escalations/{e['id']}/acknowledge", headers=lead)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["acknowledged_by"]) == ("acknowledged", "test-lead")
    assert_problem(await gateway.post(f"/v1/escalations/{uuid.uuid4()}/acknowledge", headers=auth),
                   404, "escalation_not_found")


async def test_escalation_list_filters_are_validated(gateway, auth) -> None:
    assert_problem(await gateway.get("/v1/escalations", params={"status": "closed"}, headers=auth),
                   422, "validation_error")
    assert_problem(await gateway.get("/v1/escalations", params={"cursor": "nonsense"}, headers=auth),
                   400, "invalid_page_token")


async def test_matrix_preview_writes_nothing_and_needs_admin_or_lead(gateway, auth, admin) -> None:
    current = (await gateway.get("/v1/escalation/matrix", headers=auth)).json()
    body = {"note": "what if", "cells": [{k: c[k] for k in ("tier", "severity", "level", "policy_id",
                                                             "policy_version")} for c in current["cells"]]}
    assert_problem(await gateway.post("/v1/escalation/matrix/preview", json=body, headers=auth), 403, "admin_only")
    r = await gateway.post("/v1/escalation/matrix/preview", json=body, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["open_cycles"] >= 0 and isinstance(r.json()["shifts"], list)
    assert (await gateway.get("/v1/escalation/matrix", headers=auth)).json()["version"] == current["version"]
    assert_problem(await gateway.post("/v1/escalation/matrix/preview", json={"cells": []}, headers=admin),
                   400, "matrix_incomplete")


async def test_sla_history_keeps_cycle_one_after_a_reopen(db, gateway, auth) -> None:
    inbox = Inbox(db)
    await inbox.created(T0)
    await inbox.status("resolved", T0 + 30 * H)  # resolution (8 h) breached
    await inbox.add("ticket.status_changed", T0 + 78 * H, action="reopened", reopen_count=1)
    await inbox.project()
    body = (await gateway.get(f"/v1/tickets/{inbox.ticket}/sla", headers=auth)).json()
    one, two = body["cycles"]
    assert {c["target"]: c["state"] for c in one["clocks"]} == {"first_response": "breached",
                                                                "resolution": "breached"}
    assert one["stopped_at"] is not None and two["stopped_at"] is None
    assert {c["target"]: c["state"] for c in two["clocks"]}["resolution"] in ("running", "breached")


async def test_customer_progress_shows_the_commitments_from_the_sla_clocks(db, gateway, auth, gateway_settings) -> None:
    from support import ticket_body

    customer = f"C-{uuid.uuid4().hex[:10]}"
    created = await gateway.post("/v1/tickets", json=ticket_body(customer), headers=auth)
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    me = staff_headers(gateway_settings, role="customer", subject=customer)

    before = await gateway.get(f"/v1/customer/cases/{case_id}/progress", headers=me)
    assert before.status_code == 200, before.text
    # escalation has not seen the case yet: the commitments come from the case's own SLA snapshot
    due = {t["name"]: t["due_at"] for t in created.json()["sla"]["targets"] if t.get("due_at")}
    assert before.json()["commitments"]["resolve_by"] == due["resolution"]

    inbox = Inbox(db)  # what escalation's consumer would store for this ticket
    inbox.ticket = uuid.UUID(case_id)
    await inbox.created(T0, next_update=4 * H, resolution=8 * H)
    await inbox.project()
    after = await gateway.get(f"/v1/customer/cases/{case_id}/progress", headers=me)
    commitments = after.json()["commitments"]
    overdue = commitments.pop("next_update_overdue_seconds")
    assert commitments == {"next_update_by": "2026-11-02T13:00:00.000000Z",
                           "resolve_by": "2026-11-02T17:00:00.000000Z"}
    assert overdue > 0  # T0 lies in the past: the promised update is overdue, and still shown
    assert "level" not in after.json()["commitments"]  # SLA internals never reach the customer


async def test_sla_report_through_the_api(gateway, auth, gateway_settings) -> None:
    lead = staff_headers(gateway_settings, role="lead", subject="test-lead")
    params = {"period_start": "2026-11-01T00:00:00Z", "period_end": "2026-12-01T00:00:00Z"}
    r = await gateway.get("/v1/reports/sla", params=params, headers=lead)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["cycles_opened"] >= body["tickets_escalated"] >= 0 and 0 <= body["escalation_rate"] <= 1
    assert all(t["finished"] == t["met"] + t["breached"] for t in body["targets"])
    bad = await gateway.get("/v1/reports/sla", params={**params, "period_end": "2028-01-01T00:00:00Z"},
                            headers=lead)
    assert_problem(bad, 400, "invalid_period")


async def test_staff_sla_view_shows_an_overdue_next_update_with_how_long(db, gateway, auth) -> None:
    """Issue #14.1 over HTTP: after the timer fired the miss the commitment is still there."""
    from datetime import UTC, datetime

    from kefu_escalation.escalations.escalator import Escalator, TriggerSettings
    from kefu_escalation.configuration.service import load_calendar

    long_ago = T0 - 400 * 24 * H
    inbox = Inbox(db)
    await inbox.created(long_ago, next_update=4 * H, first_response=24 * H, resolution=48 * H)
    await inbox.project()
    async with db.session() as session:
        await Escalator(TriggerSettings(staff_calendar="24x7"), calendars=load_calendar).due_updates(
            session, now=long_ago + 9 * H, limit=1000)
    before = datetime.now(UTC)
    body = (await gateway.get(f"/v1/tickets/{inbox.ticket}/sla", headers=auth)).json()
    assert body["commitments"]["next_update_by"] is not None
    by = datetime.fromisoformat(body["commitments"]["next_update_by"].replace("Z", "+00:00"))
    assert by == long_ago + 4 * H
    assert body["commitments"]["next_update_overdue_seconds"] >= int((before - by).total_seconds())


@pytest.mark.parametrize(("level", "allowed", "refused"), [
    ("L1", ("specialist", "lead", "admin"), ("agent", "qa")),
    ("L2", ("lead", "admin"), ("agent", "specialist", "qa")),
    ("L3", ("admin",), ("agent", "specialist", "lead", "qa")),
])
async def test_only_the_party_escalated_to_or_above_or_an_admin_may_acknowledge(
        db, gateway, gateway_settings, level, allowed, refused) -> None:
    """Issue #14.4, DOMAIN.md §5: the agent who escalated to the crisis team cannot acknowledge it."""
    for role in refused:
        inbox = await ticket(db, level=level)
        [e] = (await gateway.get("/v1/escalations", params={"ticket_id": str(inbox.ticket)},
                                 headers=staff_headers(gateway_settings, role="admin", subject="x"))).json()["items"]
        who = staff_headers(gateway_settings, role=role, subject=f"test-{role}")
        assert_problem(await gateway.post(f"/v1/escalations/{e['id']}/acknowledge", headers=who),
                       403, "not_escalated_party")
        still = (await gateway.get("/v1/escalations", params={"ticket_id": str(inbox.ticket)}, headers=who)).json()
        assert still["items"][0]["status"] == "open" and still["items"][0]["acknowledged_by"] is None
    for role in allowed:
        inbox = await ticket(db, level=level)
        who = staff_headers(gateway_settings, role=role, subject=f"test-{role}")
        [e] = (await gateway.get("/v1/escalations", params={"ticket_id": str(inbox.ticket)}, headers=who)).json()["items"]
        r = await gateway.post(f"/v1/escalations/{e['id']}/acknowledge", headers=who)
        assert r.status_code == 200, (role, r.text)
        assert r.json()["acknowledged_by"] == f"test-{role}"


async def test_sla_view_right_after_a_create_answers_from_the_tickets_own_snapshot(gateway, auth) -> None:
    """Issue #14.2, read-your-writes: the escalation service of this test session consumes no
    events, so it never sees the ticket; the view still shows the clocks the snapshot starts."""
    from support import ticket_body

    created = await gateway.post("/v1/tickets", json=ticket_body(f"C-{uuid.uuid4().hex[:10]}"), headers=auth)
    assert created.status_code == 201, created.text
    ticket = created.json()
    r = await gateway.get(f"/v1/tickets/{ticket['id']}/sla", headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["provisional"] is True and body["escalations"] == []
    [cycle] = body["cycles"]
    assert cycle["opened_at"] == ticket["first_contact_at"]
    clocks = {c["target"]: c for c in cycle["clocks"]}
    assert set(clocks) == {"first_response", "resolution"}
    due = {t["name"]: t["due_at"] for t in ticket["sla"]["targets"] if t.get("due_at")}
    assert clocks["resolution"]["due_at"] == due["resolution"]
    assert clocks["first_response"]["due_at"] == due["first_response"]
    assert body["commitments"]["resolve_by"] == due["resolution"]
    assert body["commitments"]["next_update_by"] is not None


async def test_a_deadline_reaching_into_a_year_without_published_holidays_is_flagged(db, gateway, auth) -> None:
    """Issue #14.17: cn-business has holidays up to 2026; a 48-business-hour resolution from
    2026-12-30 reaches into 2027, computed on plain weekdays there: the view says so."""
    from datetime import UTC, datetime

    inbox = Inbox(db)
    await inbox.created(datetime(2026, 12, 30, 2, 0, tzinfo=UTC), calendar="cn-business", resolution=48 * H,
                        first_response=H)
    await inbox.project()
    body = (await gateway.get(f"/v1/tickets/{inbox.ticket}/sla", headers=auth)).json()
    clocks = {c["target"]: c for c in body["cycles"][0]["clocks"]}
    assert clocks["resolution"]["unpublished_years"] == [2027]
    assert clocks["first_response"]["unpublished_years"] == []  # due 2026-12-30
    assert body["commitments"]["unpublished_years"] == [2027]


async def test_patch_changes_severity_and_the_customers_tier_for_the_matrix(gateway, auth) -> None:
    """Issue #14.3 over HTTP: the fields a reclassification reads can be changed."""
    from support import ticket_body

    created = (await gateway.post("/v1/tickets", json=ticket_body(f"C-{uuid.uuid4().hex[:10]}"), headers=auth)).json()
    r = await gateway.patch(f"/v1/tickets/{created['id']}", json={"severity": "critical", "customer_tier": "vip",
                                                                 "customer_sensitive": True},
                            headers={**auth, "If-Match": f'"{created["version"]}"'})
    assert r.status_code == 200, r.text
    assert (r.json()["severity"], r.json()["customer"]["tier"]) == ("critical", "vip")
    assert_problem(await gateway.patch(f"/v1/tickets/{created['id']}", json={"customer_tier": "gold"}, headers=auth),
                   422, "validation_error")

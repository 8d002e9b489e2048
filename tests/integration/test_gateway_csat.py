"""Customer satisfaction through the gateway: the customer rates their resolved case, a
partner posts ratings on its own tickets, staff read them, the reopen proposal, and the CSAT
report (JSON and CSV) against hand-computed figures."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from kefu_common.db import Database
from support import assert_problem, new_partner_key, staff_headers, ticket_body


@pytest.fixture(scope="module")
async def gateway_db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, schema="gateway", pool_size=2)
    yield database
    await database.dispose()


async def resolved_ticket(gateway, auth, *, team: str = "", headers=None, customer: str | None = None) -> dict:
    created = await gateway.post("/v1/tickets", json=ticket_body(customer, severity="low", team=team),
                                 headers=headers or auth)
    assert created.status_code == 201, created.text
    ticket = created.json()
    for action in ("open", "resolve"):
        moved = await gateway.post(f"/v1/tickets/{ticket['id']}/{action}", json={}, headers=auth)
        assert moved.status_code == 200, moved.text
    return ticket


def customer_headers(gateway_settings, ticket: dict) -> dict[str, str]:
    return staff_headers(gateway_settings, role="customer", subject=ticket["customer"]["id"])


async def test_customer_rates_their_resolved_case_and_may_change_it(gateway, auth, gateway_settings) -> None:
    ticket = await resolved_ticket(gateway, auth)
    me = customer_headers(gateway_settings, ticket)
    first = await gateway.post(f"/v1/customer/cases/{ticket['id']}/rating",
                               json={"score": 3, "comment": "还可以", "nps": 7}, headers=me)
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["cycle"], body["revision"], body["score"], body["nps"], body["source"]) == (1, 1, 3, 7, "customer")
    assert "team" not in body and "agent_id" not in body and "rater" not in body
    changed = await gateway.post(f"/v1/customer/cases/{ticket['id']}/rating", json={"score": 5}, headers=me)
    assert changed.json()["revision"] == 2
    latest = await gateway.get(f"/v1/customer/cases/{ticket['id']}/rating", headers=me)
    assert (latest.json()["score"], latest.json()["revision"]) == (5, 2)


async def test_customer_cannot_rate_another_customers_or_an_unresolved_case(gateway, auth, gateway_settings) -> None:
    ticket = await resolved_ticket(gateway, auth)
    stranger = staff_headers(gateway_settings, role="customer", subject="C-stranger")
    assert_problem(await gateway.post(f"/v1/customer/cases/{ticket['id']}/rating", json={"score": 1},
                                      headers=stranger), 404, "ticket_not_found")
    open_ticket = (await gateway.post("/v1/tickets", json=ticket_body(), headers=auth)).json()
    assert_problem(await gateway.post(f"/v1/customer/cases/{open_ticket['id']}/rating", json={"score": 4},
                                      headers=customer_headers(gateway_settings, open_ticket)),
                   400, "ticket_not_resolved")
    me = customer_headers(gateway_settings, ticket)
    assert_problem(await gateway.post(f"/v1/customer/cases/{ticket['id']}/rating", json={"score": 6}, headers=me),
                   422, "validation_error")
    assert_problem(await gateway.get(f"/v1/customer/cases/{ticket['id']}/rating", headers=me), 404,
                   "rating_not_found")
    assert_problem(await gateway.post(f"/v1/customer/cases/{ticket['id']}/rating", json={"score": 4}, headers=auth),
                   403, "customer_only")


async def test_partner_posts_ratings_only_on_tickets_it_created(gateway, auth, gateway_db) -> None:
    _, key = await new_partner_key(gateway_db)
    _, other_key = await new_partner_key(gateway_db)
    ticket = await resolved_ticket(gateway, auth, headers={"X-API-Key": key})
    posted = await gateway.post(f"/v1/tickets/{ticket['id']}/ratings", json={"score": 2, "comment": "电话回访"},
                                headers={"X-API-Key": key})
    assert posted.status_code == 201, posted.text
    assert (posted.json()["source"], posted.json()["score"]) == ("partner", 2)
    assert_problem(await gateway.post(f"/v1/tickets/{ticket['id']}/ratings", json={"score": 5},
                                      headers={"X-API-Key": other_key}), 404, "ticket_not_found")
    assert_problem(await gateway.post(f"/v1/tickets/{ticket['id']}/ratings", json={"score": 5}, headers=auth),
                   403, "partner_only")
    staff_view = await gateway.get(f"/v1/tickets/{ticket['id']}/ratings", headers=auth)
    [item] = staff_view.json()["items"]
    assert (item["source"], item["dissatisfied"], item["rater"].startswith("partner:")) == ("partner", True, True)
    exported = await gateway.get(f"/v1/tickets/{ticket['id']}/ratings", params={"format": "csv"}, headers=auth)
    [row] = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert (row["id"], row["score"], row["comment"], row["source"]) == (item["id"], "2", "电话回访", "partner")
    assert_problem(await gateway.get(f"/v1/tickets/{ticket['id']}/ratings", headers={"X-API-Key": key}),
                   403, "staff_only")


async def test_a_dissatisfied_rating_proposes_reopening_among_the_candidates(gateway, auth, gateway_settings) -> None:
    customer = f"C-{uuid.uuid4().hex[:10]}"
    unhappy = await resolved_ticket(gateway, auth, customer=customer)
    happy = await resolved_ticket(gateway, auth, customer=customer)
    me = staff_headers(gateway_settings, role="customer", subject=customer)
    await gateway.post(f"/v1/customer/cases/{unhappy['id']}/rating", json={"score": 1, "comment": "没解决"}, headers=me)
    await gateway.post(f"/v1/customer/cases/{happy['id']}/rating", json={"score": 5}, headers=me)
    found = await gateway.get("/v1/tickets/reopen-candidates", params={"customer_id": customer}, headers=auth)
    assert found.status_code == 200, found.text
    assert {t["id"] for t in found.json()["items"]} == {unhappy["id"], happy["id"]}
    assert found.json()["reopen_proposed"] == [unhappy["id"]]


async def test_csat_report_is_a_series_with_hand_computed_csat_and_nps(gateway, auth, gateway_settings) -> None:
    """Three cycles rated today: 5 (nps 10), 4 (nps 7), 1 (nps 2), the last one first rated 2.
    CSAT = 2/3; average 10/3; NPS = (1 promoter - 1 detractor) / 3 = 0; yesterday: nothing."""
    team = f"csat-{uuid.uuid4().hex[:8]}"
    for scores in ([(5, 10)], [(4, 7)], [(2, None), (1, 2)]):
        ticket = await resolved_ticket(gateway, auth, team=team)
        for score, nps in scores:
            rated = await gateway.post(f"/v1/customer/cases/{ticket['id']}/rating", json={"score": score, "nps": nps},
                                       headers=customer_headers(gateway_settings, ticket))
            assert rated.status_code == 201, rated.text
    today = datetime.now(UTC).date()
    params = {"start": (today - timedelta(days=1)).isoformat(), "end": (today + timedelta(days=1)).isoformat(),
              "tz": "UTC", "bucket": "day", "group_by": "team"}
    response = await gateway.get("/v1/reports/csat", params=params, headers=auth)
    assert response.status_code == 200, response.text
    [series] = [s for s in response.json()["series"] if s["group"] == team]
    yesterday, now = series["buckets"]
    assert now["values"] == {"ratings": 3, "satisfied": 2, "csat": 0.6667, "average_score": 3.3333,
                             "nps_responses": 3, "promoters": 1, "detractors": 1, "nps": 0.0}
    assert now["previous"]["ratings"] == 0 and now["previous"]["csat"] is None
    assert yesterday["values"]["ratings"] == 0 and yesterday["values"]["nps"] is None

    exported = await gateway.get("/v1/reports/csat", params={**params, "format": "csv"}, headers=auth)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.content.startswith("\ufeff".encode())
    rows = [r for r in csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))) if r["group"] == team]
    assert [(r["bucket_start"], r["ratings"], r["csat"], r["previous_ratings"]) for r in rows] == [
        (params["start"], "0", "", "0"), (today.isoformat(), "3", "0.6667", "0")]


async def test_csat_report_needs_a_valid_range_and_zone(gateway, auth) -> None:
    assert_problem(await gateway.get("/v1/reports/csat", params={"start": "2026-12-01", "end": "2026-11-01"},
                                     headers=auth), 400, "invalid_range")
    assert_problem(await gateway.get("/v1/reports/csat", params={"start": "2026-11-01", "end": "2026-12-01",
                                                                 "tz": "Nowhere/City"}, headers=auth),
                   400, "invalid_time_zone")


async def test_ratings_list_shows_the_ratings_that_count_newest_first(gateway, auth, gateway_settings) -> None:
    team = f"list-{uuid.uuid4().hex[:8]}"
    made = []
    for scores in ([5], [1], [2, 4]):  # the last one was changed from 2 to 4: only 4 counts
        ticket = await resolved_ticket(gateway, auth, team=team)
        for score in scores:
            rated = await gateway.post(f"/v1/customer/cases/{ticket['id']}/rating",
                                       json={"score": score, "comment": f"打分{score}"},
                                       headers=customer_headers(gateway_settings, ticket))
            assert rated.status_code == 201, rated.text
            made.append(rated.json())
    first_page = await gateway.get("/v1/ratings", params={"team": team, "page_size": 2}, headers=auth)
    assert first_page.status_code == 200, first_page.text
    rest = await gateway.get("/v1/ratings", params={"team": team, "page_size": 2,
                                                    "cursor": first_page.json()["next_cursor"]}, headers=auth)
    walked = first_page.json()["items"] + rest.json()["items"]
    assert [(r["score"], r["revision"]) for r in walked] == [(4, 2), (1, 1), (5, 1)]
    assert walked[0]["changeable_until"] == made[2]["changeable_until"]  # from the cycle's first rating
    unhappy = await gateway.get("/v1/ratings", params={"team": team, "max_score": 2}, headers=auth)
    assert [(r["score"], r["comment"], r["dissatisfied"]) for r in unhappy.json()["items"]] == [(1, "打分1", True)]
    exported = await gateway.get("/v1/ratings", params={"team": team, "format": "csv", "page_size": 1}, headers=auth)
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [r["score"] for r in rows] == ["4", "1", "5"]
    assert_problem(await gateway.get("/v1/ratings", params={"cursor": "nope"}, headers=auth), 400, "invalid_page_token")
    customer = staff_headers(gateway_settings, role="customer", subject="C-1")
    assert_problem(await gateway.get("/v1/ratings", headers=customer), 403, "staff_only")

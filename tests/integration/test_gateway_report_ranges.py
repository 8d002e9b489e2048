"""Every report route refuses a range whose spans leave the calendar (a far-past range whose
previous span would begin in year 1, before which no UTC instant exists in an eastern zone)
with 400 `invalid_range` (problem+json), never a 500."""

from __future__ import annotations

import pytest

from support import assert_problem, staff_headers

# Every series report of the contract (docs/reports-contract.md) and the VOC report.
SERIES_ROUTES = (
    "service-metrics", "resolution-time", "ticket-flow", "sla-attainment", "escalations", "qa-scores",
    "qa-score-distribution", "rule-hits", "csat", "voc",
)
# 0002 has 365 days: with compare=previous the range before it starts on 0001-01-01, whose
# Shanghai midnight is 0000-12-31 16:00 UTC (outside datetime).
FAR_PAST = (
    {"start": "0002-01-01", "end": "0003-01-01"},
    {"start": "0002-01-02", "end": "0003-01-03", "tz": "Asia/Tokyo"},
    {"start": "0001-01-01", "end": "0001-01-08"},
)


@pytest.mark.parametrize("route", SERIES_ROUTES)
async def test_a_far_past_range_is_invalid_range_on_every_report_route(gateway, auth, route) -> None:
    for params in FAR_PAST:
        response = await gateway.get(f"/v1/reports/{route}", params=params, headers=auth)
        assert_problem(response, 400, "invalid_range")


@pytest.mark.parametrize("route", SERIES_ROUTES)
async def test_the_earliest_range_that_stays_in_the_calendar_answers(gateway, auth, route) -> None:
    # 0002-02-01 .. 0002-03-01: its previous month starts 0002-01-01, still inside (control).
    params = {"start": "0002-02-01", "end": "0002-03-01", "bucket": "month"}
    if route == "voc":
        params["baseline_days"] = "0"
    response = await gateway.get(f"/v1/reports/{route}", params=params, headers=auth)
    assert response.status_code == 200, response.text


async def test_an_sla_period_before_the_first_utc_instant_is_invalid_timestamp(gateway, auth) -> None:
    # 0001-01-01 00:00 at +08:00 is 0000-12-31 16:00 UTC: no Timestamp holds it.
    params = {"period_start": "0001-01-01T00:00:00+08:00", "period_end": "0001-01-02T00:00:00+08:00"}
    response = await gateway.get("/v1/reports/sla", params=params, headers=auth)
    assert_problem(response, 400, "invalid_timestamp")
    params = {"period_start": "0001-01-01T00:00:00Z", "period_end": "0001-01-02T00:00:00Z"}
    assert (await gateway.get("/v1/reports/sla", params=params, headers=auth)).status_code == 200


@pytest.mark.parametrize("path", ["/v1/ratings", "/v1/qa/evaluations", "/v1/qa/review-queue"])
async def test_a_list_filtered_from_the_first_day_of_year_one_is_invalid_range(gateway, gateway_settings, path) -> None:
    qa = staff_headers(gateway_settings, role="qa", subject="qa-1")
    response = await gateway.get(path, params={"start": "0001-01-01", "end": "0001-02-01"}, headers=qa)
    assert_problem(response, 400, "invalid_range")

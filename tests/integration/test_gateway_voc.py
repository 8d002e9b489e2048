"""Voice of customer through the gateway: conversations carry when they happened, a corpus is
imported in batches, the report finds reasons (not boilerplate) per bucket, and it exports."""

from __future__ import annotations


from support import assert_problem


async def test_a_far_past_range_with_a_long_baseline_is_a_problem_not_a_500(gateway, auth) -> None:
    # Issue #14 item 11: the baseline before 0001-02-01 leaves the calendar (date overflow).
    response = await gateway.get(
        "/v1/reports/voc",
        params={"start": "0001-02-01T00:00:00Z", "end": "0001-02-08T00:00:00Z", "baseline_days": 366},
        headers=auth,
    )
    assert_problem(response, 400, "invalid_range")
    response = await gateway.get(
        "/v1/reports/voc", params={"start": "0002-01-01", "end": "0002-01-08", "baseline_days": 366},
        headers=auth,
    )
    assert_problem(response, 400, "invalid_range")

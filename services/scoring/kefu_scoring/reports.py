"""QA reports over time (issue #12): scores, score distribution and rule-hit ranking per bucket,
in SQL over the spans of a `kefu_common.periods` plan.

An evaluation counts in the span its ``started_at`` (when the conversation happened; imported
history lands on its own days) falls in.

Scores: ``evaluations``, mean ``total_score``, evaluations with a fatal hit, count per grade,
and the predicted satisfaction (issue #16): its mean, predicted satisfied and detractors.
Distribution: evaluations per score bin ``[k·w, (k+1)·w)`` (a score of 100 is in the last bin).
Rule hits: per ``rule_id`` of the stored hits, the hits and the evaluations with at least one
hit, beside all evaluations of the span (share = evaluations_hit ÷ evaluations); one more row
per span under the empty rule ``""`` carries the span's evaluations when nothing was hit.

Grouping: by the evaluation's ``agent_id`` / ``team`` / ``category`` / ``channel`` / ``ruleset_id``
(empty → ``unassigned``); rule hits are grouped by rule.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.errors import InvalidArgument
from kefu_common.periods import REPORT_SETTINGS, SPANS_SQL, Plan, day_number, in_bounds, in_spans

# Byte order ("C"): grouping may sort by the group, and comparing bytes is several times
# cheaper than the database's linguistic collation (the same groups: equal strings are equal
# bytes).
_BYTES = ' COLLATE "C"'
_GROUPS = {
    "": "''::text",
    "agent": "COALESCE(NULLIF(e.agent_id, ''), 'unassigned')" + _BYTES,
    "team": "COALESCE(NULLIF(e.team, ''), 'unassigned')" + _BYTES,
    "category": "COALESCE(NULLIF(e.category, ''), 'unassigned')" + _BYTES,
    "channel": "COALESCE(NULLIF(e.channel, ''), 'unassigned')" + _BYTES,
    "ruleset": "e.ruleset_id::text" + _BYTES,
}


# The stored column each group is made of (the distribution groups by it first, then names it).
_GROUP_COLUMNS = {"": "''::text AS nothing", "agent": "e.agent_id", "team": "e.team",
                  "category": "e.category", "channel": "e.channel", "ruleset": "e.ruleset_id"}


class QaReport(enum.StrEnum):
    SCORES = "scores"
    DISTRIBUTION = "distribution"
    RULE_HITS = "rule_hits"


_SCORES_SQL = """
WITH s AS ({spans})
SELECT s.idx, s.prev, {grp} AS grp, count(*) AS evaluations, avg(e.total_score) AS score_mean,
       count(*) FILTER (WHERE e.fatal) AS fatal,
       count(*) FILTER (WHERE e.grade = 'A') AS grade_a,
       count(*) FILTER (WHERE e.grade = 'B') AS grade_b,
       count(*) FILTER (WHERE e.grade = 'C') AS grade_c,
       count(*) FILTER (WHERE e.grade = 'D') AS grade_d,
       avg(e.predicted_satisfaction) AS satisfaction_mean,
       count(*) FILTER (WHERE e.satisfaction_label = 'satisfied') AS predicted_satisfied,
       count(*) FILTER (WHERE e.satisfaction_label = 'detractor') AS predicted_detractors
FROM scoring.evaluation e JOIN s ON @ON0@
GROUP BY 1, 2, 3
""".replace("@ON0@", in_spans("e.started_at"))

# One row per (span, group) with its bins and their counts as arrays: a histogram per agent is
# thousands of bins, and a row costs more in the driver than a bin in an array.
_DISTRIBUTION_SQL = """
WITH s AS ({spans}),
raw AS MATERIALIZED (  -- planned on its own (hashed), on the stored values: cheapest per row
    SELECT {span} AS label, {column}, floor(e.total_score / :w) AS k, count(*) AS evaluations
    FROM scoring.evaluation e {source}
    GROUP BY 1, 2, 3
),
bins AS (
    SELECT label / 2 AS idx, label % 2 = 1 AS prev, {grp} AS grp, LEAST(k * :w, :last_bin) AS bin_start,
           sum(evaluations) AS evaluations
    FROM raw e WHERE label IS NOT NULL GROUP BY 1, 2, 3, 4
)
SELECT idx, prev, grp, array_agg(bin_start) AS bins, array_agg(evaluations) AS counts
FROM bins GROUP BY 1, 2, 3
"""
# Each row's span (label = 2 * bucket + previous?): joined to the span days in general; looked
# up in an array by the row's day number when no day is in two spans (one histogram over the
# range and its previous: the console's panel), which spares a hash join per row.
_SPAN_JOINED = ("s.idx * 2 + s.prev::int", "JOIN s ON " + in_spans("e.started_at"))
_SPAN_LOOKED_UP = (f"(CAST(:day_label AS int[]))[{day_number('e.started_at')}]",
                   "WHERE " + in_bounds("e.started_at"))


def _day_labels(params: dict[str, Any]) -> list[int | None] | None:
    """The label of the one span each day number is in, or None when a day is in two."""
    labels: dict[int, int] = {}
    for n, i, p in zip(params["span_n"], params["span_idx"], params["span_prev"], strict=True):
        if n in labels:
            return None
        labels[n] = 2 * i + int(p)
    return [labels.get(n) for n in range(1, max(labels) + 1)]


# Rule hits read the `evaluation_hit` rows (one per evaluation and rule it hit, kept with the
# evaluation by the trigger of scoring migration 0013) and count all evaluations from the report
# index: two index-only range scans, no JSON expanded. Both are counted per local day first
# and the days summed into spans after (counts add up; a day is in up to two spans).
_RULE_HITS_SQL = """
WITH s AS ({spans}),
per_day AS (
    SELECT @DAY0@ AS n, count(*) AS evaluations FROM scoring.evaluation e
    WHERE @IN0@ GROUP BY 1
),
totals AS (
    SELECT s.idx, s.prev, sum(d.evaluations)::bigint AS evaluations
    FROM per_day d JOIN s USING (n) GROUP BY 1, 2
),
rule_per_day AS (
    SELECT @DAY1@ AS n, h.rule_id, sum(h.hits) AS hits, count(*) AS evaluations_hit
    FROM scoring.evaluation_hit h WHERE @IN1@ GROUP BY 1, 2
),
per_rule AS (
    SELECT s.idx, s.prev, d.rule_id AS grp, sum(d.hits)::bigint AS hits,
           sum(d.evaluations_hit)::bigint AS evaluations_hit
    FROM rule_per_day d JOIN s USING (n) GROUP BY 1, 2, 3
)
SELECT p.idx, p.prev, p.grp, p.hits, p.evaluations_hit, t.evaluations
FROM per_rule p JOIN totals t USING (idx, prev)
UNION ALL  -- every span's evaluations, hit or not, under the empty rule
SELECT idx, prev, '' AS grp, 0, 0, evaluations FROM totals
""".replace("@DAY0@", day_number("e.started_at")).replace("@IN0@", in_bounds("e.started_at")).replace(
    "@DAY1@", day_number("h.started_at")).replace("@IN1@", in_bounds("h.started_at"))


@dataclass(slots=True)  # not frozen: a histogram per agent builds thousands, 3x faster so
class QaFigures:
    group: str
    bucket: int
    previous: bool
    evaluations: int = 0
    score_mean: float | None = None
    fatal: int = 0
    grade_a: int = 0
    grade_b: int = 0
    grade_c: int = 0
    grade_d: int = 0
    bin_start: float = 0.0
    hits: int = 0
    evaluations_hit: int = 0
    # Predicted satisfaction (issue #16; scores report): mean 1..5 of the evaluations that
    # carry one, and how many were predicted satisfied / detractors.
    satisfaction_mean: float | None = None
    predicted_satisfied: int = 0
    predicted_detractors: int = 0


async def qa_series(
    session: AsyncSession, plan: Plan, *, report: QaReport, group_by: str = "", bin_width: int = 10
) -> list[QaFigures]:
    if group_by not in _GROUPS:
        raise InvalidArgument(
            "group_by must be agent, category, channel or ruleset", code="invalid_group_by"
        )
    if not 1 <= bin_width <= 100:
        raise InvalidArgument("bin_width must be 1..100", code="invalid_argument")
    params: dict[str, Any] = plan.sql_params()
    grp = _GROUPS[group_by]
    if report is QaReport.SCORES:
        sql = _SCORES_SQL.format(spans=SPANS_SQL, grp=grp)
    elif report is QaReport.DISTRIBUTION:
        day_label = _day_labels(params)
        span, source = _SPAN_JOINED if day_label is None else _SPAN_LOOKED_UP
        sql = _DISTRIBUTION_SQL.format(spans=SPANS_SQL, grp=grp, column=_GROUP_COLUMNS[group_by],
                                       span=span, source=source)
        params["day_label"] = day_label or []
        params |= {"w": float(bin_width), "last_bin": float(((100 + bin_width - 1) // bin_width - 1) * bin_width)}
    else:
        sql = _RULE_HITS_SQL.format(spans=SPANS_SQL)
    conn = await session.connection()
    await conn.execute(text(REPORT_SETTINGS))
    rows = (await conn.execute(text(sql), params)).all()
    if report is QaReport.DISTRIBUTION:
        return [
            QaFigures(group=str(r.grp), bucket=int(r.idx), previous=bool(r.prev),
                      evaluations=int(n), bin_start=float(b))
            for r in rows for b, n in zip(r.bins, r.counts, strict=True)
        ]
    if report is QaReport.RULE_HITS:
        return [
            QaFigures(group=str(r.grp), bucket=int(r.idx), previous=bool(r.prev),
                      evaluations=int(r.evaluations), hits=int(r.hits),
                      evaluations_hit=int(r.evaluations_hit))
            for r in rows
        ]
    out = []
    for r in rows:
        m = r._asdict()  # a dict: .get of an absent column is cheap (a Row mapping raises inside)
        out.append(QaFigures(
            group=str(r.grp), bucket=int(r.idx), previous=bool(r.prev),
            evaluations=int(m.get("evaluations") or 0),
            score_mean=float(m["score_mean"]) if m.get("score_mean") is not None else None,
            fatal=int(m.get("fatal") or 0), grade_a=int(m.get("grade_a") or 0),
            grade_b=int(m.get("grade_b") or 0), grade_c=int(m.get("grade_c") or 0),
            grade_d=int(m.get("grade_d") or 0), bin_start=float(m.get("bin_start") or 0.0),
            hits=int(m.get("hits") or 0), evaluations_hit=int(m.get("evaluations_hit") or 0),
            satisfaction_mean=float(m["satisfaction_mean"]) if m.get("satisfaction_mean") is not None else None,
            predicted_satisfied=int(m.get("predicted_satisfied") or 0),
            predicted_detractors=int(m.get("predicted_detractors") or 0),
        ))
    return out

"""QA reports over time (issue #12): scores, score distribution and rule-hit ranking per bucket,
in SQL over the spans of a `kefu_common.periods` plan.

An evaluation counts in the span its ``created_at`` (when it was scored) falls in.

Scores: ``evaluations``, mean ``total_score``, evaluations with a fatal hit, count per grade,
and the predicted satisfaction (issue #16): its mean, predicted satisfied and detractors.
Distribution: evaluations per score bin ``[k·w, (k+1)·w)`` (a score of 100 is in the last bin).
Rule hits: per ``rule_id`` of the stored hits, the hits and the evaluations with at least one
hit, beside all evaluations of the span (share = evaluations_hit ÷ evaluations); one more row
per span under the empty rule ``""`` carries the span's evaluations when nothing was hit.

Grouping: by the evaluation's ``agent_id`` / ``category`` / ``channel`` / ``ruleset_id``
(empty → ``unassigned``); rule hits are grouped by rule.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.errors import InvalidArgument
from kefu_common.periods import REPORT_SETTINGS, SPANS_SQL, Plan, in_spans

_GROUPS = {
    "": "''::text",
    "agent": "COALESCE(NULLIF(e.agent_id, ''), 'unassigned')",
    "category": "COALESCE(NULLIF(e.category, ''), 'unassigned')",
    "channel": "COALESCE(NULLIF(e.channel, ''), 'unassigned')",
    "ruleset": "e.ruleset_id::text",
}


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
""".replace("@ON0@", in_spans("e.created_at"))

_DISTRIBUTION_SQL = """
WITH s AS ({spans})
SELECT s.idx, s.prev, {grp} AS grp,
       LEAST(floor(e.total_score / :w) * :w, :last_bin) AS bin_start, count(*) AS evaluations
FROM scoring.evaluation e JOIN s ON @ON0@
GROUP BY 1, 2, 3, 4
""".replace("@ON0@", in_spans("e.created_at"))

_RULE_HITS_SQL = """
WITH s AS ({spans}),
ev AS (
    SELECT s.idx, s.prev, e.id, e.hits
    FROM scoring.evaluation e JOIN s ON @ON0@
),
totals AS (SELECT idx, prev, count(*) AS evaluations FROM ev GROUP BY 1, 2),
per_evaluation AS (  -- hash-aggregated twice instead of a sort for count(DISTINCT)
    SELECT ev.idx, ev.prev, ev.id, r #>> '{{}}' AS grp, count(*) AS n
    FROM ev CROSS JOIN LATERAL jsonb_path_query(ev.hits, '$[*].rule_id') AS r
    GROUP BY 1, 2, 3, 4
),
per_rule AS (
    SELECT idx, prev, grp, sum(n) AS hits, count(*) AS evaluations_hit
    FROM per_evaluation GROUP BY 1, 2, 3
)
SELECT p.idx, p.prev, p.grp, p.hits, p.evaluations_hit, t.evaluations
FROM per_rule p JOIN totals t USING (idx, prev)
UNION ALL  -- every span's evaluations, hit or not, under the empty rule
SELECT idx, prev, '' AS grp, 0, 0, evaluations FROM totals
""".replace("@ON0@", in_spans("e.created_at"))


@dataclass(frozen=True)
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
        sql = _DISTRIBUTION_SQL.format(spans=SPANS_SQL, grp=grp)
        params |= {"w": float(bin_width), "last_bin": float(((100 + bin_width - 1) // bin_width - 1) * bin_width)}
    else:
        sql = _RULE_HITS_SQL.format(spans=SPANS_SQL)
    conn = await session.connection()
    await conn.execute(text(REPORT_SETTINGS))
    rows = (await conn.execute(text(sql), params)).all()
    out = []
    for r in rows:
        m = r._mapping
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

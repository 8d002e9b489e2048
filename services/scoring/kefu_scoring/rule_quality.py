"""Rule quality (issue #16): per rule, how often it hits (share of the evaluations in which
it has at least one hit) next to how often reviewers agree with it (review.py), so a noisy
rule — one that hits most conversations, or that inspectors keep overturning — is visible.
Read only; the evaluation table is written by service.py."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_scoring import review

_HIT_RATES = text(
    """
    WITH scoped AS (
        SELECT e.id, e.hits FROM scoring.evaluation e
        WHERE (:ruleset_id = '' OR e.ruleset_id = :ruleset_id)
    )
    SELECT h.rule_id, count(DISTINCT s.id) AS evaluations_hit, (SELECT count(*) FROM scoped) AS evaluations
    FROM scoped s, LATERAL (SELECT DISTINCT x ->> 'rule_id' AS rule_id FROM jsonb_array_elements(s.hits) x) h
    GROUP BY h.rule_id
    """
)


@dataclass(frozen=True)
class RuleQuality:
    rule_id: str
    evaluations_hit: int
    evaluations: int
    agreement: review.RuleAgreement

    @property
    def hit_rate(self) -> float:
        return round(self.evaluations_hit / self.evaluations, 4) if self.evaluations else 0.0


async def rule_quality(session: AsyncSession, *, ruleset_id: str = "") -> list[RuleQuality]:
    """Every rule that hit or was reviewed, by rule id: hit rate and AI-human agreement."""
    rates = {
        r.rule_id: (r.evaluations_hit, r.evaluations)
        for r in (await session.exec(_HIT_RATES, params={"ruleset_id": ruleset_id})).all()  # type: ignore[call-overload]
    }
    agreed = {a.rule_id: a for a in await review.agreement(session, ruleset_id=ruleset_id)}
    total = next(iter(rates.values()))[1] if rates else 0
    out = []
    for rule_id in sorted(set(rates) | set(agreed)):
        hit, evaluations = rates.get(rule_id, (0, total))
        out.append(RuleQuality(rule_id, hit, evaluations, agreed.get(rule_id, review.RuleAgreement(rule_id, 0, 0, 0))))
    return out

"""Predicted satisfaction of one conversation (as Zendesk predicts satisfaction): how
satisfied the customer probably left, 1..5 on the CSAT scale, with a label and the evidence.

Read from what scoring already computed (no second pass over the text):
* the customer's emotion per turn (emotion.py: lexicon + model), above all the last customer
  turns — how the customer left weighs most;
* the trajectory (improving / worsening);
* unresolved risk: a customer threat (regulator, media, legal, abuse) in the last half of the
  conversation;
* agent issues: deductions in the attitude and compliance dimensions, fatal hits.
The number of turns is evidence shown, never a factor: a long conversation is not a bad one.

Labels: satisfied (>= 3.5, i.e. a 4 or 5 is likely), detractor (< 2.5), else neutral. A
predicted detractor on a conversation with a ticket raises a `predicted_detractor` signal
(service.py), so the escalation service (or any consumer of its events) can call the
customer back before the survey does.

The weights were set by hand and checked on the team-written set bench/data/
dialogues_satisfaction.jsonl (bench/eval_satisfaction.py); no public dialogue set with rated
satisfaction could be obtained offline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from kefu_scoring.emotion import Trajectory

BASE = 3.1
LAST_WEIGHT = 1.3  # the last customer turns (mean of the last two)
MEAN_WEIGHT = 0.5  # the customer's mean over the conversation
TREND_WEIGHT = 0.25
THREAT_PENALTY = 0.7
AGENT_ISSUE_PENALTY = 0.3  # per attitude/compliance deduction, at most MAX_AGENT_ISSUES
MAX_AGENT_ISSUES = 3
FATAL_PENALTY = 1.0
SCALE = 3.0  # emotion scores are squashed with tanh(score / SCALE)
SATISFIED_AT = 3.5
DETRACTOR_BELOW = 2.5
THREAT_KINDS = frozenset({"regulator", "media", "legal", "abuse"})
AGENT_DIMENSIONS = frozenset({"attitude", "compliance"})


@dataclass(frozen=True, slots=True)
class Factor:
    factor: str  # last_customer_turns | customer_mean | trend | unresolved_threat | agent_issues | fatal
    effect: float  # points added to (or taken from) the score
    detail: str
    turn_index: int | None = None


@dataclass(frozen=True, slots=True)
class Satisfaction:
    score: float  # 1..5
    label: str  # satisfied | neutral | detractor
    factors: tuple[Factor, ...] = field(default_factory=tuple)
    turns: int = 0  # the conversation's number of turns (evidence, not a factor)
    customer_turns: int = 0

    @property
    def detractor(self) -> bool:
        return self.label == "detractor"

    def doc(self) -> dict[str, object]:
        return {
            "score": self.score,
            "label": self.label,
            "turns": self.turns,
            "customer_turns": self.customer_turns,
            "factors": [
                {"factor": f.factor, "effect": f.effect, "detail": f.detail, "turn_index": f.turn_index}
                for f in self.factors
            ],
        }


def label_of(score: float) -> str:
    return "satisfied" if score >= SATISFIED_AT else "detractor" if score < DETRACTOR_BELOW else "neutral"


def predict(emotion: Trajectory, hits: Sequence[object], *, turns: int, fatal: bool = False) -> Satisfaction:
    """The predicted satisfaction of a conversation of `turns` turns whose customer emotion
    is `emotion` and whose scorecard hit `hits` (engine.Hit)."""
    factors: list[Factor] = []
    customer = emotion.turns
    if customer:
        last = customer[-2:]
        last_mean = sum(t.score for t in last) / len(last)
        effect = LAST_WEIGHT * math.tanh(last_mean / SCALE)
        factors.append(Factor("last_customer_turns", round(effect, 3),
                              "; ".join(f"turn {t.turn_index} {t.label} ({t.score:+.2f})" for t in last),
                              last[-1].turn_index))
        mean = sum(t.score for t in customer) / len(customer)
        factors.append(Factor("customer_mean", round(MEAN_WEIGHT * math.tanh(mean / SCALE), 3),
                              f"mean emotion {mean:+.2f} over {len(customer)} customer turns"))
        if emotion.trend in ("improving", "worsening"):
            sign = 1 if emotion.trend == "improving" else -1
            factors.append(Factor("trend", sign * TREND_WEIGHT, f"emotion {emotion.trend}"
                                  f" ({emotion.start:+.2f} -> {emotion.end:+.2f})"))
    half = turns / 2
    threats = [h for h in hits if getattr(h, "alert", None) in THREAT_KINDS and h.turn_index >= half]
    if threats:
        first = threats[0]
        factors.append(Factor("unresolved_threat", -THREAT_PENALTY,
                              f"{first.alert} threat late in the conversation: {first.matched_text}",
                              first.turn_index))
    issues = [h for h in hits if h.points < 0 and h.dimension in AGENT_DIMENSIONS]
    if issues:
        n = min(MAX_AGENT_ISSUES, len(issues))
        factors.append(Factor("agent_issues", -AGENT_ISSUE_PENALTY * n,
                              ", ".join(sorted({h.rule_id for h in issues})), issues[0].turn_index))
    if fatal:
        factors.append(Factor("fatal", -FATAL_PENALTY, "a fatal item (一票否决) was hit"))
    raw = BASE + sum(f.effect for f in factors)
    score = round(min(5.0, max(1.0, raw)), 2)
    return Satisfaction(score, label_of(score), tuple(factors), turns, len(customer))

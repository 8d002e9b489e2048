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
from dataclasses import dataclass
from operator import itemgetter
from typing import NamedTuple

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


class Satisfaction(NamedTuple):
    score: float  # 1..5
    label: str  # satisfied | neutral | detractor
    turns: int = 0  # the conversation's number of turns (evidence, not a factor)
    customer_turns: int = 0
    # What the score was computed from; the factors (with their text) are rendered from it
    # on demand, when an evaluation is stored: scoring every conversation stays cheap.
    emotion: Trajectory | None = None
    threat: object | None = None  # engine.Hit
    issues: tuple = ()  # engine.Hit
    fatal: bool = False

    @property
    def detractor(self) -> bool:
        return self.label == "detractor"

    @property
    def factors(self) -> tuple[Factor, ...]:
        return _factors(self.emotion, self.threat, self.issues, self.fatal)

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


_tanh = math.tanh
_SCORE = itemgetter(3)  # TurnEmotion.score, read in C (the same sum, in the same order)


def predict(emotion: Trajectory, hits: Sequence[object], *, turns: int, fatal: bool = False) -> Satisfaction:
    """The predicted satisfaction of a conversation of `turns` turns whose customer emotion
    is `emotion` and whose scorecard hit `hits` (engine.Hit)."""
    raw = BASE
    customer = emotion.turns
    if customer:
        if len(customer) >= 2:
            last_mean = (customer[-1].score + customer[-2].score) / 2
        else:
            last_mean = customer[-1].score
        raw += LAST_WEIGHT * _tanh(last_mean / SCALE)
        raw += MEAN_WEIGHT * _tanh(sum(map(_SCORE, customer)) / len(customer) / SCALE)
        if emotion.trend == "improving":
            raw += TREND_WEIGHT
        elif emotion.trend == "worsening":
            raw -= TREND_WEIGHT
    threat = None
    issues: list = []
    if hits:
        half = turns / 2
        for h in hits:
            if h.points < 0 and h.dimension in AGENT_DIMENSIONS:
                issues.append(h)
            elif threat is None and h.alert in THREAT_KINDS and h.turn_index >= half:
                threat = h
        if threat is not None:
            raw -= THREAT_PENALTY
        if issues:
            raw -= AGENT_ISSUE_PENALTY * min(MAX_AGENT_ISSUES, len(issues))
    if fatal:
        raw -= FATAL_PENALTY
    score = round(min(5.0, max(1.0, raw)), 2)
    label = "satisfied" if score >= SATISFIED_AT else "detractor" if score < DETRACTOR_BELOW else "neutral"
    return _new_tuple(Satisfaction, (score, label, turns, len(customer), emotion, threat, tuple(issues), fatal))


_new_tuple = tuple.__new__  # a NamedTuple without its generated __new__'s frame (hot path)


def _factors(emotion: Trajectory | None, threat, issues: tuple, fatal: bool) -> tuple[Factor, ...]:
    """The evidence of a prediction, each factor with the points it moved (as in `predict`)."""
    factors: list[Factor] = []
    customer = emotion.turns if emotion is not None else ()
    if customer:
        last = customer[-2:]
        last_mean = sum(t.score for t in last) / len(last)
        factors.append(Factor("last_customer_turns", round(LAST_WEIGHT * _tanh(last_mean / SCALE), 3),
                              "; ".join(f"turn {t.turn_index} {t.label} ({t.score:+.2f})" for t in last),
                              last[-1].turn_index))
        mean = sum(t.score for t in customer) / len(customer)
        factors.append(Factor("customer_mean", round(MEAN_WEIGHT * _tanh(mean / SCALE), 3),
                              f"mean emotion {mean:+.2f} over {len(customer)} customer turns"))
        if emotion.trend in ("improving", "worsening"):
            sign = 1 if emotion.trend == "improving" else -1
            factors.append(Factor("trend", sign * TREND_WEIGHT, f"emotion {emotion.trend}"
                                  f" ({emotion.start:+.2f} -> {emotion.end:+.2f})"))
    if threat is not None:
        factors.append(Factor("unresolved_threat", -THREAT_PENALTY,
                              f"{threat.alert} threat late in the conversation: {threat.matched_text}",
                              threat.turn_index))
    if issues:
        n = min(MAX_AGENT_ISSUES, len(issues))
        factors.append(Factor("agent_issues", -AGENT_ISSUE_PENALTY * n,
                              ", ".join(sorted({h.rule_id for h in issues})), issues[0].turn_index))
    if fatal:
        factors.append(Factor("fatal", -FATAL_PENALTY, "a fatal item (一票否决) was hit"))
    return tuple(factors)

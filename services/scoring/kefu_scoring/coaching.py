"""Real-time coaching (issue #13): prompts to the agent on their own words while the call is
live, from the same ruleset the final scorecard uses.

Two kinds of agent rule are decidable before the conversation ends:

* **turn rules**: a single-turn condition scoped to the agent's turns and no risk alert
  (forbidden phrases, unauthorised promises, shirking, agent abuse): checked on each agent
  turn alone, as the scorecard checks them.
* **window rules**: a condition on the agent's *first N* turns (the required greeting): decided
  once, when the agent's N-th turn has been said, over the turns so far — exactly what the
  final scorecard will find for that rule, since later turns are outside its window.

Risk alerts (customer threats, strong negative emotion) are `service.realtime_turn`'s; a prompt
is never a signal to escalation. Quotes are PII-masked like every stored hit (`on_turn`
returns them masked).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from kefu_scoring.engine import CompiledRuleset, Hit, Turn, compile_ruleset
from kefu_scoring.service import masked_hits
from kefu_scoring.rules import KeywordCondition, NotCondition, RegexCondition, Rule, Ruleset, is_single_turn


def _agent_only(condition: object) -> bool:
    scope = getattr(condition, "scope", None)
    if scope is not None:
        return scope.role == "agent"
    parts = getattr(condition, "conditions", None)
    return bool(parts) and all(_agent_only(c) for c in parts)


def _window(rule: Rule) -> int | None:
    """N when the rule looks at the agent's first N turns only (possibly under a `not`)."""
    condition = rule.condition.condition if isinstance(rule.condition, NotCondition) else rule.condition
    if not isinstance(condition, KeywordCondition | RegexCondition):
        return None
    scope = condition.scope
    if scope.role != "agent" or scope.first is None or scope.last or scope.turns or scope.after or scope.before:
        return None
    return scope.first


def _derived(ruleset: Ruleset, suffix: str, rules: Sequence[Rule]) -> CompiledRuleset:
    """A ruleset of `rules` only (compiled once per source id + version + rule set)."""
    digest = hashlib.sha256("\x1f".join(r.id for r in rules).encode()).hexdigest()[:8]
    rid = f"{ruleset.id[:40]}.{suffix}-{digest}"
    return compile_ruleset(ruleset.model_copy(update={"id": rid, "rules": tuple(rules), "include": ()}))


@dataclass(frozen=True)
class _WindowRule:
    rule_id: str
    first: int
    compiled: CompiledRuleset


class Coach:
    """The coaching view of one ruleset (build once per stream start; compiling is cached)."""

    def __init__(self, ruleset: Ruleset) -> None:
        turn_rules = [
            r.model_copy(update={"realtime": True})
            for r in ruleset.rules
            if r.alert is None and is_single_turn(r.condition) and _agent_only(r.condition)
        ]
        self.rules = {r.id: r for r in ruleset.rules}
        self.turn_rules = _derived(ruleset, "coach", turn_rules) if turn_rules else None
        self.windows = [
            _WindowRule(r.id, n, _derived(ruleset, "window", [r]))
            for r in ruleset.rules
            if r.alert is None and (n := _window(r)) is not None
        ]

    def on_turn(self, turns: Sequence[Turn], index: int) -> list[Hit]:
        """Prompts raised by turn `index` (`turns`: the conversation so far, this turn last)."""
        turn = turns[index]
        if turn.role != "agent":
            return []
        hits = list(self.turn_rules.evaluate_turn(turn, index)) if self.turn_rules else []
        agent_turns = sum(1 for t in turns[: index + 1] if t.role == "agent")
        for window in self.windows:
            if agent_turns == window.first:  # the window has just closed
                hits.extend(h for h in window.compiled.evaluate(turns[: index + 1]).hits if h.rule_id == window.rule_id)
        return masked_hits(hits, lambda i: turns[i].text)


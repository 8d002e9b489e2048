"""Rulesets as data: loading, the built-in packs, validation errors that name the bad field;
and the conversation checks and idempotency fingerprint of the scoring service."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from kefu_common.errors import InvalidArgument
from kefu_scoring.rules import PACKS_DIR, RulesetError, load_ruleset, parse_ruleset
from kefu_scoring.service import Conversation, Turn, request_hash, validate

RULESET = load_ruleset()


def agent(text: str) -> Turn:
    return Turn(role="agent", text=text)


def customer(text: str) -> Turn:
    return Turn(role="customer", text=text)


def conversation(*turns: Turn, request_id: str = "req-1") -> Conversation:
    return Conversation(request_id=request_id, turns=turns, conversation_id="c-1", agent_id="a-1")


def keyword_rule(rule_id: str = "r1", **condition: object) -> dict[str, object]:
    return {
        "id": rule_id,
        "version": 1,
        "dimension": "attitude",
        "points": -5,
        "condition": {"operator": "keyword", "keywords": ["不知道"], **condition},
    }


def ruleset_doc(*rules: dict[str, object], **extra: object) -> str:
    return json.dumps({"id": "t", "version": 1, "rules": list(rules), **extra})


def refused(doc: str) -> str:
    with pytest.raises(RulesetError) as raised:
        parse_ruleset(doc)
    assert raised.value.code == "invalid_ruleset"
    return raised.value.message


# --- the default ruleset and the built-in packs ------------------------------------------------


def test_default_ruleset_includes_every_built_in_pack() -> None:
    assert (RULESET.id, RULESET.version) == ("default", 3)
    packs = sorted(p.stem for p in PACKS_DIR.glob("*.json"))
    assert sorted(RULESET.include) == packs
    ids = {r.id for r in RULESET.rules}
    assert {
        "forbidden-phrases", "greeting-required", "closing-required", "unauthorised-promise",
        "shirking", "pii-read-aloud", "risk-regulator", "risk-media", "risk-legal",
        "risk-complaint", "risk-police", "agent-abuse", "customer-abuse",
    } <= ids


def test_customer_risk_pack_reads_intent_for_the_words_the_domain_names_in_zh_and_en() -> None:
    from kefu_scoring.engine import Turn, compile_ruleset
    from kefu_scoring.risk import SIGNAL_KIND

    risk_rules = [r for r in RULESET.rules if r.id.startswith("risk-")]
    assert all(r.realtime and r.alert and r.condition.operator == "risk_intent" for r in risk_rules)
    assert all(r.alert == SIGNAL_KIND[k] for r in risk_rules for k in r.condition.kinds)  # type: ignore[union-attr]
    compiled = compile_ruleset(RULESET)
    threats = {
        "我要打12315": "regulator", "我要打12345": "regulator", "我要找媒体": "media",
        "我要曝光你们": "media", "我要找律师": "legal", "我要起诉你们": "legal",
        "我要投诉你们": "other", "我要报警": "legal", "I will report you to the regulator": "regulator",
        "I'm going to the media": "media", "I'll get a lawyer": "legal", "I will sue": "legal",
        "I want to file a complaint": "other", "I'll call the police": "legal",
    }
    for text, alert in threats.items():
        alerts = {h.alert for h in compiled.evaluate([Turn("customer", text)]).hits if h.alert}
        assert alerts == {alert}, text


def test_agent_abuse_is_a_fatal_item() -> None:
    [abuse] = [r for r in RULESET.rules if r.id == "agent-abuse"]
    assert abuse.fatal and abuse.severity == "critical"


# --- validation errors name the field ---------------------------------------------------------


def test_empty_keyword_is_refused_with_its_path() -> None:
    message = refused(ruleset_doc(keyword_rule(), keyword_rule("r2", keywords=["a", "  "])))
    assert "rules[1].condition.keywords[1]" in message


def test_error_inside_a_nested_condition_points_at_it() -> None:
    nested = {
        "id": "r1", "version": 1, "dimension": "process", "points": -1,
        "condition": {"operator": "and", "conditions": [
            {"operator": "keyword", "keywords": ["a"]},
            {"operator": "keyword", "keywords": []},
        ]},
    }
    message = refused(ruleset_doc(keyword_rule("r0"), keyword_rule("r00"), keyword_rule("r000"), nested))
    assert "rules[3].condition.conditions[1].keywords" in message


def test_unknown_operator_is_refused() -> None:
    message = refused(ruleset_doc(keyword_rule(operator="keyword-any")))
    assert "rules[0].condition" in message
    assert "keyword-any" in message or "does not match any of the expected tags" in message


def test_bad_regex_is_refused_with_the_reason() -> None:
    bad = keyword_rule()
    bad["condition"] = {"operator": "regex", "pattern": "(unclosed"}
    message = refused(ruleset_doc(bad))
    assert "rules[0].condition.pattern" in message and "not a valid regular expression" in message


def test_at_least_needs_n_no_larger_than_the_keyword_list() -> None:
    message = refused(ruleset_doc(keyword_rule(match="at_least", n=3, keywords=["a", "b"])))
    assert "rules[0].condition" in message and "exceeds" in message


def test_realtime_rule_must_be_single_turn() -> None:
    rule = keyword_rule(window=3, match="all", keywords=["a", "b"])
    rule["realtime"] = True
    message = refused(ruleset_doc(rule))
    assert "realtime rules need a single-turn condition" in message


def test_duplicate_rule_ids_are_refused() -> None:
    assert "rules[1].id: duplicate rule id 'r1'" in refused(ruleset_doc(keyword_rule(), keyword_rule()))


def test_unknown_pack_is_refused() -> None:
    assert "unknown rule pack 'nope'" in refused(ruleset_doc(keyword_rule(), include=["nope"]))


def test_not_json_is_refused_cleanly() -> None:
    assert "not valid JSON" in refused("{rules: ")


def test_ruleset_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(ruleset_doc(keyword_rule()))
    assert [r.id for r in load_ruleset(path).rules] == ["r1"]


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "code", "message"),
    [
        (conversation(agent("hi"), request_id=""), "invalid_request_id", "request_id"),
        (conversation(agent("hi"), request_id="   "), "invalid_request_id", "request_id"),
        (conversation(agent("hi"), request_id="r" * 129), "invalid_request_id", "request_id"),
        (conversation(), "no_turns", "turns"),
        (
            conversation(agent("a"), customer("b"), agent("c"), Turn(role=None, text="d")),
            "invalid_role",
            "turns[3].role is required",
        ),
        (conversation(agent("x" * 10_001)), "turn_too_long", "turns[0].text"),
        (conversation(*[agent("hi")] * 2_001), "too_many_turns", "turns"),
        (
            conversation(agent("a"), Turn(role="agent", text="b", start_ms=5_000, end_ms=4_000)),
            "invalid_turn_offsets",
            "turns[1].end_ms",
        ),
        (
            conversation(Turn(role="agent", text="b", start_ms=-1)),
            "invalid_turn_offsets",
            "turns[0].start_ms",
        ),
        (
            replace(conversation(agent("hi")), ticket_id="t" * 129),
            "invalid_ticket_id",
            "ticket_id",
        ),
    ],
)
def test_invalid_conversation_is_refused_with_a_stable_code(
    bad: Conversation, code: str, message: str
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        validate(bad)
    assert raised.value.code == code
    assert message in raised.value.message


def test_limits_themselves_are_accepted() -> None:
    validate(conversation(*[agent("x" * 10_000)] * 2_000, request_id="r" * 128))
    validate(conversation(Turn(role="agent", text="a", start_ms=5_000, end_ms=0)))  # end unset
    validate(conversation(Turn(role="agent", text="a", start_ms=5_000, end_ms=5_000)))


# --- idempotency fingerprint ------------------------------------------------------------------


def test_request_hash_ignores_the_idempotency_key_but_not_the_body() -> None:
    base = conversation(agent("您好"), customer("hi"))
    assert request_hash(base) == request_hash(replace(base, request_id="another-key"))
    assert len(request_hash(base)) == 64
    changed = [
        replace(base, turns=(agent("您好!"), customer("hi"))),
        replace(base, turns=(customer("您好"), customer("hi"))),
        replace(base, turns=(Turn("agent", "您好", end_ms=1), customer("hi"))),
        replace(base, agent_id="a-2"),
        replace(base, ticket_id="t-1"),
        replace(base, conversation_id="c-2"),
    ]
    assert len({request_hash(c) for c in changed} | {request_hash(base)}) == len(changed) + 1

"""The pure scoring rules: keyword matching, evidence spans, score, grade, validation."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import ValidationError

from kefu_common.errors import InvalidArgument
from kefu_scoring.service import (
    Conversation,
    KeywordRule,
    Turn,
    evaluate,
    grade_for,
    keyword_hits,
    load_ruleset,
    request_hash,
    validate,
)

RULESET = load_ruleset()


def agent(text: str) -> Turn:
    return Turn(role="agent", text=text)


def customer(text: str) -> Turn:
    return Turn(role="customer", text=text)


def rule(*keywords: str, role: str = "agent", points: float = -10) -> KeywordRule:
    return KeywordRule(
        id="test-rule",
        version=3,
        dimension="attitude",
        role=role,  # type: ignore[arg-type]
        operator="keyword-any",
        keywords=keywords,
        points=points,
    )


def conversation(*turns: Turn, request_id: str = "req-1") -> Conversation:
    return Conversation(request_id=request_id, turns=turns, conversation_id="c-1", agent_id="a-1")


# --- the default ruleset ----------------------------------------------------------------------


def test_default_ruleset_is_version_1_with_the_forbidden_phrases_rule() -> None:
    assert (RULESET.id, RULESET.version) == ("default", 1)
    [forbidden] = RULESET.rules
    assert (forbidden.id, forbidden.version) == ("forbidden-phrases", 1)
    assert (forbidden.dimension, forbidden.role, forbidden.operator) == (
        "attitude",
        "agent",
        "keyword-any",
    )
    assert forbidden.points == -10
    assert {"不知道", "没办法", "你自己看", "不归我管", "I don't know", "not my problem"} <= set(
        forbidden.keywords
    )


def test_ruleset_file_with_an_empty_keyword_is_refused(tmp_path: Path) -> None:
    data = RULESET.model_dump(mode="json")
    data["rules"][0]["keywords"] = ["不知道", "  "]  # would match between every character
    path = tmp_path / "ruleset.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValidationError):
        load_ruleset(path)


def test_ruleset_file_with_an_unknown_operator_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ruleset.json"
    path.write_text(RULESET.model_dump_json().replace('"keyword-any"', '"regex"'))
    with pytest.raises(ValidationError):
        load_ruleset(path)


# --- matching and score -----------------------------------------------------------------------


def test_clean_conversation_scores_full_marks() -> None:
    score = evaluate(RULESET, [customer("我的快递还没到"), agent("您好，我马上为您查询物流。")])
    assert (score.total, score.grade, score.hits) == (100.0, "A", ())


def test_each_forbidden_phrase_occurrence_deducts_points() -> None:
    score = evaluate(
        RULESET,
        [agent("不知道。真的不知道"), customer("那怎么办"), agent("没办法, calm down")],
    )
    assert [(h.turn_index, h.matched_text) for h in score.hits] == [
        (0, "不知道"),
        (0, "不知道"),
        (2, "没办法"),
        (2, "calm down"),
    ]
    assert score.total == 60.0
    assert score.grade == "C"


def test_customer_turns_are_not_checked_by_agent_rules() -> None:
    turns = [customer("不知道, not my problem"), Turn(role="bot", text="calm down"), agent("好的")]
    score = evaluate(RULESET, turns)
    assert score.hits == ()
    assert score.total == 100.0


def test_rule_for_customer_role_checks_only_customer_turns() -> None:
    hits = keyword_hits(rule("12315", role="customer"), [agent("12315"), customer("我要打12315")])
    assert [(h.turn_index, h.start) for h in hits] == [(1, 3)]


def test_score_never_goes_below_zero() -> None:
    score = evaluate(RULESET, [agent("不知道" * 11)])
    assert len(score.hits) == 11
    assert score.total == 0.0
    assert score.grade == "D"


def test_latin_keywords_match_whatever_their_case() -> None:
    hits = keyword_hits(rule("not my problem"), [agent("NOT MY PROBLEM, Not My Problem")])
    assert [h.matched_text for h in hits] == ["NOT MY PROBLEM", "Not My Problem"]


def test_hit_span_points_at_the_original_text() -> None:
    text = "您好，这个 Not My Problem 啦，你自己看吧"
    [first, second] = keyword_hits(RULESET.rules[0], [agent(text)])
    assert (first.start, first.end) == (6, 20)  # characters, not UTF-8 bytes
    assert text[first.start : first.end] == first.matched_text == "Not My Problem"
    assert text[second.start : second.end] == second.matched_text == "你自己看"


def test_hit_carries_its_rule_id_version_dimension_and_points() -> None:
    [hit] = keyword_hits(rule("算了", points=-5), [customer("hi"), agent("算了")])
    assert (hit.rule_id, hit.rule_version, hit.dimension, hit.points) == (
        "test-rule",
        3,
        "attitude",
        -5,
    )
    assert (hit.turn_index, hit.start, hit.end) == (1, 0, 2)


def test_typographic_apostrophe_and_extra_spaces_still_match() -> None:
    text = "I don’t  know"
    [hit] = keyword_hits(rule("I don't know"), [agent(text)])
    assert hit.matched_text == text


def test_phrase_containing_another_keyword_counts_once_as_the_longer_phrase() -> None:
    hits = keyword_hits(
        rule("不知道", "我不知道", "不知道怎么办"), [agent("我不知道，不知道怎么办，不知道")]
    )
    assert [(h.start, h.end, h.matched_text) for h in hits] == [
        (0, 4, "我不知道"),
        (5, 11, "不知道怎么办"),
        (12, 15, "不知道"),
    ]


@pytest.mark.parametrize(
    ("total", "grade"),
    [(100, "A"), (90, "A"), (89.5, "B"), (80, "B"), (79.9, "C"), (60, "C"), (59.9, "D"), (0, "D")],
)
def test_grade_floors_are_90_80_60(total: float, grade: str) -> None:
    assert grade_for(total) == grade


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

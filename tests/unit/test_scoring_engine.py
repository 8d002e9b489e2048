"""The rule engine: one test (at least) per operator and per combination, on Chinese without
spaces, full-width characters, mixed zh/en and English; evidence spans index the ORIGINAL
text; and the scorecard (weights, N/A, fatal items, grades)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from kefu_scoring.engine import Turn, compile_ruleset
from kefu_scoring.rules import Ruleset, parse_ruleset
from kefu_scoring.text import normalise

_ids = itertools.count()


def ruleset(*rules: dict[str, Any], **extra: Any) -> Ruleset:
    # A fresh id per ruleset: compiled rulesets are cached by id + version.
    doc = {"id": f"test-{next(_ids)}", "version": 1, "rules": list(rules), **extra}
    return parse_ruleset(json.dumps(doc, ensure_ascii=False))


def rule(condition: dict[str, Any], rule_id: str = "r", **fields: Any) -> dict[str, Any]:
    return {"id": rule_id, "version": 1, "dimension": "attitude", "points": -5, "condition": condition, **fields}


def kw(*keywords: str, **fields: Any) -> dict[str, Any]:
    return {"operator": "keyword", "keywords": list(keywords), **fields}


def a(text: str, start: int = 0, end: int = 0) -> Turn:
    return Turn("agent", text, start, end)


def c(text: str, start: int = 0, end: int = 0) -> Turn:
    return Turn("customer", text, start, end)


def hits(condition: dict[str, Any], *turns: Turn) -> list[tuple[int, int, int, str]]:
    score = compile_ruleset(ruleset(rule(condition))).evaluate(turns)
    return [(h.turn_index, h.start, h.end, h.matched_text) for h in score.hits]


def fires(condition: dict[str, Any], *turns: Turn) -> bool:
    return bool(compile_ruleset(ruleset(rule(condition))).evaluate(turns).hits)


# --- keyword: any ---------------------------------------------------------------------------


def test_keyword_any_finds_every_occurrence_in_chinese_without_spaces() -> None:
    assert hits(kw("不知道", "没办法"), a("我不知道啊没办法真的不知道")) == [
        (0, 1, 4, "不知道"),
        (0, 5, 8, "没办法"),
        (0, 10, 13, "不知道"),
    ]


def test_full_width_text_matches_and_the_span_quotes_the_original() -> None:
    text = "我要打１２３１５投诉你们"
    assert hits(kw("12315"), c(text)) == [(0, 3, 8, "１２３１５")]


def test_full_width_latin_matches_case_insensitively() -> None:
    assert hits(kw("refund"), c("我要ＲＥＦＵＮＤ")) == [(0, 2, 8, "ＲＥＦＵＮＤ")]


def test_mixed_chinese_and_english_in_one_turn() -> None:
    text = "这个 Refund 到底什么时候到，我要投诉"
    assert hits(kw("refund", "投诉"), c(text)) == [(0, 3, 9, "Refund"), (0, 20, 22, "投诉")]


def test_english_keywords_ignore_case_but_respect_word_boundaries() -> None:
    assert hits(kw("sue"), c("I will SUE you; this issue is suede")) == [(0, 7, 10, "SUE")]


def test_whitespace_runs_and_typographic_apostrophes_still_match_with_original_span() -> None:
    text = "Well,  I don’t   know."
    assert hits(kw("I don't know"), a(text)) == [(0, 7, 21, "I don’t   know")]


def test_ligature_is_normalised_and_the_span_still_points_at_the_original() -> None:
    text = "that is ﬁne 好"  # U+FB01: NFKC expands it to two characters
    norm = normalise(text)
    assert norm.text == "that is fine 好"
    assert hits(kw("fine"), a(text)) == [(0, 8, 11, "ﬁne")]


def test_a_phrase_containing_another_keyword_counts_once_as_the_longer_phrase() -> None:
    assert hits(kw("不知道", "我不知道", "不知道怎么办"), a("我不知道，不知道怎么办，不知道")) == [
        (0, 0, 4, "我不知道"),
        (0, 5, 11, "不知道怎么办"),
        (0, 12, 15, "不知道"),
    ]


def test_role_scope_checks_only_that_role() -> None:
    condition = kw("12315", scope={"role": "customer"})
    assert hits(condition, a("12315"), c("我要打12315")) == [(1, 3, 8, "12315")]


# --- keyword: all / at_least / none / exclusions / windows ----------------------------------


def test_keyword_all_within_one_turn_needs_every_keyword_in_the_same_turn() -> None:
    condition = kw("退款", "不行", match="all")
    assert not fires(condition, c("退款呢"), c("不行"))
    assert hits(condition, c("退款呢"), c("退款不行")) == [(1, 0, 2, "退款"), (1, 2, 4, "不行")]


def test_keyword_all_across_a_window_of_turns() -> None:
    condition = kw("退款", "不行", match="all", window=2)
    assert fires(condition, c("退款呢"), c("不行"))
    assert not fires(condition, c("退款呢"), a("稍等"), c("不行"))
    assert fires(kw("退款", "不行", match="all", window=3), c("退款呢"), a("稍等"), c("不行"))


def test_keyword_at_least_n_distinct_keywords() -> None:
    condition = kw("垃圾", "骗子", "坑人", match="at_least", n=2)
    assert not fires(condition, c("垃圾垃圾垃圾"))
    assert hits(condition, c("垃圾，骗子")) == [(0, 0, 2, "垃圾"), (0, 3, 5, "骗子")]


def test_keyword_none_holds_only_when_no_keyword_occurs() -> None:
    condition = kw("您好", "hello", match="none", scope={"role": "agent"})
    assert fires(condition, a("请讲"), c("您好"))
    assert not fires(condition, a("HELLO there"))


def test_exclusion_keyword_drops_the_whole_turn() -> None:
    condition = kw("保证", exclude=["不能保证", "can't guarantee"])
    assert hits(condition, a("我不能保证"), a("我保证明天到")) == [(1, 1, 3, "保证")]


def test_exclusion_applies_to_english_too() -> None:
    condition = kw("guarantee", exclude=["can't guarantee"])
    assert not fires(condition, a("I can't guarantee that"))
    assert fires(condition, a("I guarantee that"))


# --- regex ----------------------------------------------------------------------------------


def test_regex_matches_on_normalised_text_with_original_spans() -> None:
    condition = {"operator": "regex", "pattern": r"\d+\s*天内?(到账|退款)"}
    assert hits(condition, a("３天内退款")) == [(0, 0, 5, "３天内退款")]


def test_regex_not_pattern_excludes_the_turn() -> None:
    condition = {"operator": "regex", "pattern": "保证.{0,4}(到账|退款)", "not_pattern": "不(能|敢)保证"}
    assert not fires(condition, a("我不能保证明天到账"))
    assert fires(condition, a("我保证明天到账"))


# --- position scopes ------------------------------------------------------------------------


def test_first_n_turns_of_a_role() -> None:
    condition = kw("您好", scope={"role": "agent", "first": 1})
    assert fires(condition, c("喂"), a("您好"), a("您好"))
    assert hits(condition, a("请讲"), a("您好")) == []


def test_last_n_turns_of_a_role() -> None:
    condition = kw("再见", scope={"role": "agent", "last": 2})
    assert fires(condition, a("x"), a("再见"), a("y"))
    assert not fires(condition, a("再见"), a("x"), a("y"))


def test_turn_range_is_inclusive_conversation_indexes() -> None:
    condition = kw("退款", scope={"turns": [1, 2]})
    assert [h[0] for h in hits(condition, c("退款"), c("退款"), c("退款"), c("退款"))] == [1, 2]


def test_after_an_anchor_condition() -> None:
    condition = kw("没办法", scope={"role": "agent", "after": kw("投诉", scope={"role": "customer"})})
    turns = [a("没办法"), c("我要投诉"), a("没办法")]
    assert [h[0] for h in hits(condition, *turns)] == [2]
    assert not fires(condition, a("没办法"), c("好的"), a("没办法"))  # no anchor: no turns


def test_before_an_anchor_condition() -> None:
    # Identity must be verified before the refund is discussed.
    verify = kw("核实身份", "verify", scope={"before": kw("退款", "refund")})
    rs = ruleset(rule({"operator": "not", "condition": verify}, points=-5))
    engine = compile_ruleset(rs)
    assert engine.evaluate([a("先核实身份"), a("退款已办理")]).hits == ()
    [hit] = engine.evaluate([a("退款已办理"), a("核实身份")]).hits
    assert hit.matched_text == "" and "expected and not found" in hit.detail


# --- timing operators -----------------------------------------------------------------------


def test_silence_gap_between_turns() -> None:
    condition = {"operator": "silence", "min_ms": 10_000}
    turns = [c("喂", 0, 1_000), a("您好", 2_000, 3_000), c("在吗", 15_000, 16_000)]
    [hit] = compile_ruleset(ruleset(rule(condition))).evaluate(turns).hits
    assert (hit.turn_index, hit.detail) == (2, "silence of 12000 ms before this turn")


def test_agent_response_latency_after_the_customer() -> None:
    condition = {"operator": "response_latency", "max_ms": 5_000, "scope": {"role": "agent"}}
    slow = [c("在吗", 0, 1_000), a("在的", 7_000, 8_000)]
    quick = [c("在吗", 0, 1_000), a("在的", 3_000, 4_000)]
    assert hits(condition, *slow) == [(1, 0, 0, "")]
    assert hits(condition, *quick) == []


def test_interruption_is_a_turn_starting_before_the_other_party_finished() -> None:
    condition = {"operator": "interruption", "min_overlap_ms": 500, "scope": {"role": "agent"}}
    assert fires(condition, c("我想说的是", 0, 5_000), a("您听我说", 4_000, 6_000))
    assert not fires(condition, c("我想说的是", 0, 5_000), a("好的", 4_800, 6_000))
    assert not fires(condition, c("我想说的是", 0, 5_000), c("还有", 4_000, 6_000))


def test_speech_rate_in_characters_per_minute() -> None:
    condition = {"operator": "speech_rate", "max_cpm": 300, "scope": {"role": "agent"}}
    fast = a("我" * 30, 0, 3_000)  # 600 per minute
    normal = a("我" * 10, 0, 3_000)  # 200 per minute
    assert fires(condition, fast)
    assert not fires(condition, normal)
    slow = {"operator": "speech_rate", "min_cpm": 100, "scope": {"role": "agent"}}
    assert fires(slow, a("好的", 0, 10_000))


def test_turn_count_bounds() -> None:
    condition = {"operator": "turn_count", "min": 3, "scope": {"role": "customer"}}
    assert fires(condition, c("1"), c("2"), a("x"), c("3"))
    assert not fires(condition, c("1"), c("2"), a("x"))
    assert fires({"operator": "turn_count", "max": 1}, a("x"))


def test_pii_operator_finds_numbers_read_aloud_in_spoken_digits() -> None:
    condition = {"operator": "pii", "kinds": ["phone"], "scope": {"role": "agent"}}
    text = "您的号码是一三八零零一三八零零零对吗"
    assert hits(condition, a(text)) == [(0, 5, 16, "一三八零零一三八零零零")]
    assert not fires(condition, a("订单号是12345"))


# --- and / or / not -------------------------------------------------------------------------


def test_and_needs_every_condition_and_collects_all_evidence() -> None:
    condition = {"operator": "and", "conditions": [kw("退款"), kw("投诉")]}
    assert hits(condition, c("退款"), c("投诉")) == [(0, 0, 2, "退款"), (1, 0, 2, "投诉")]
    assert not fires(condition, c("退款"))


def test_or_needs_any_condition() -> None:
    condition = {"operator": "or", "conditions": [kw("律师"), {"operator": "regex", "pattern": "lawyers?"}]}
    assert fires(condition, c("my LAWYER"))
    assert fires(condition, c("找律师"))
    assert not fires(condition, c("没事"))


def test_not_inverts_and_nested_combinations_work() -> None:
    # Promised a refund date without checking the order first.
    condition = {
        "operator": "and",
        "conditions": [
            kw("明天到账", scope={"role": "agent"}),
            {"operator": "not", "condition": kw("查询", "check", scope={"role": "agent"})},
        ],
    }
    assert fires(condition, a("明天到账"))
    assert not fires(condition, a("我帮您查询一下"), a("明天到账"))


# --- scorecard ------------------------------------------------------------------------------


CARD = {"dimensions": {"compliance": 40, "process": 20, "attitude": 25, "skill": 15}}


def test_deductions_stay_inside_their_dimension_and_the_total_is_the_sum() -> None:
    rs = ruleset(
        rule(kw("不知道"), "rude", points=-10, cap=30),
        rule(kw("保证"), "promise", points=-15, dimension="compliance"),
        rule(kw("您好"), "greet", points=5, dimension="process"),
        rule(kw("马上处理"), "skill", points=-1, dimension="skill"),
        scorecard=CARD,
    )
    score = compile_ruleset(rs).evaluate([a("不知道不知道不知道"), a("我保证")])
    dims = {d.dimension: d.score for d in score.dimensions}
    assert dims == {"compliance": 25, "process": 20, "attitude": 0, "skill": 15}  # clamped at 0
    assert (score.total, score.grade) == (60.0, "C")


def test_a_rule_deducts_at_most_its_cap_per_conversation_and_lists_every_piece() -> None:
    rs = ruleset(rule(kw("不知道"), points=-10), rule(kw("稍等"), "wait", points=-2, cap=3), scorecard=CARD)
    score = compile_ruleset(rs).evaluate([a("不知道不知道不知道"), a("稍等稍等稍等")])
    by_rule: dict[str, list[float]] = {}
    for h in score.hits:
        by_rule.setdefault(h.rule_id, []).append(h.points)
    assert by_rule == {"r": [-10.0, -10.0, 0.0], "wait": [-2.0, -1.0, 0.0]}  # default cap: two pieces


def test_count_once_deducts_a_single_time() -> None:
    rs = ruleset(rule(kw("不知道"), points=-10, count="once"), scorecard=CARD)
    score = compile_ruleset(rs).evaluate([a("不知道不知道")])
    assert [h.points for h in score.hits] == [-10.0, 0.0]
    assert {d.dimension: d.score for d in score.dimensions}["attitude"] == 15


def test_fatal_hit_zeroes_the_total() -> None:
    rs = ruleset(rule(kw("滚"), "abuse", points=-1, fatal=True, severity="critical"), scorecard=CARD)
    score = compile_ruleset(rs).evaluate([a("你滚")])
    assert (score.total, score.grade, score.fatal) == (0.0, "D", True)
    assert score.hits[0].fatal


def test_timing_rules_are_not_applicable_to_a_chat_and_the_total_is_rescaled() -> None:
    rs = ruleset(
        rule(kw("不知道"), "rude", points=-5),
        rule({"operator": "silence", "min_ms": 1000}, "dead-air", dimension="process", points=-5),
        scorecard=CARD,
    )
    score = compile_ruleset(rs).evaluate([a("不知道")])  # no timestamps: a chat
    assert score.not_applicable == ("dead-air",)
    dims = {d.dimension: (d.score, d.applicable) for d in score.dimensions}
    assert dims["process"] == (20, False)
    assert dims["attitude"] == (20, True)
    assert score.total == 80.0  # 20 of the 25 applicable points


def test_applies_if_false_makes_the_rule_not_applicable() -> None:
    closing = {"operator": "not", "condition": kw("再见", scope={"role": "agent", "last": 1})}
    rs = ruleset(
        rule(closing, "closing", applies_if={"operator": "turn_count", "min": 3, "scope": {"role": "agent"}}),
        scorecard=CARD,
    )
    engine = compile_ruleset(rs)
    assert engine.evaluate([a("好的")]).not_applicable == ("closing",)
    score = engine.evaluate([a("好的"), a("好的"), a("好的")])
    assert [h.rule_id for h in score.hits] == ["closing"]


def test_hit_carries_rule_id_version_severity_and_alert() -> None:
    rs = ruleset({**rule(kw("12315"), "risk", points=0), "version": 4, "severity": "critical", "alert": "regulator"})
    [hit] = compile_ruleset(rs).evaluate([c("打12315")]).hits
    assert (hit.rule_id, hit.rule_version, hit.severity, hit.alert) == ("risk", 4, "critical", "regulator")


@pytest.mark.parametrize(("total", "grade"), [(90, "A"), (89.9, "B"), (80, "B"), (60, "C"), (59.9, "D")])
def test_grade_floors_default_to_90_80_60(total: float, grade: str) -> None:
    from kefu_scoring.engine import grade_for

    assert grade_for(ruleset(rule(kw("x"))), total) == grade


# --- compilation cache and real time --------------------------------------------------------


def test_compiled_ruleset_is_cached_by_id_and_version() -> None:
    rs = ruleset(rule(kw("x")))
    assert compile_ruleset(rs) is compile_ruleset(rs)
    assert compile_ruleset(rs) is compile_ruleset(rs.model_copy())


def test_emotion_from_the_shared_automaton_matches_the_lexicon_on_its_own() -> None:
    from kefu_scoring.emotion import default_lexicon

    compiled = compile_ruleset(ruleset(rule(kw("投诉"))))
    turns = [c("我要投诉，太差了！"), a("非常抱歉"), c("不满意"), c("好的，谢谢，很满意")]
    ctx = compiled.prepare(turns)
    shared = compiled.emotions(ctx, [0, 2, 3])
    alone = [default_lexicon().turn(i, turns[i].text) for i in (0, 2, 3)]
    assert shared == alone
    assert [e.label for e in shared] == ["negative", "negative", "positive"]


def test_changed_content_under_the_same_version_is_refused() -> None:
    rs = ruleset(rule(kw("x")))
    compile_ruleset(rs)
    changed = rs.model_copy(update={"name": "edited"})
    with pytest.raises(ValueError, match="publish a new version"):
        compile_ruleset(changed)


def test_one_automaton_holds_every_keyword_of_every_condition() -> None:
    rs = ruleset(
        rule(kw("a1", "a2", exclude=["a3"]), "r1"),
        rule({"operator": "and", "conditions": [kw("b1"), kw("A1")]}, "r2"),
    )
    compiled = compile_ruleset(rs)
    assert sorted(compiled.keywords[: compiled.rule_keywords]) == ["a1", "a2", "a3", "b1"]
    # ... and the emotion lexicon rides in the same automaton.
    assert "满意" in compiled.keywords[compiled.rule_keywords :]


def test_realtime_evaluates_only_realtime_rules_on_the_one_turn() -> None:
    rs = ruleset(
        rule(kw("12315", scope={"role": "customer"}), "risk", points=0, alert="regulator", realtime=True),
        rule(kw("投诉", scope={"role": "customer"}), "batch-only", points=0),
    )
    [hit] = compile_ruleset(rs).evaluate_turn(c("我要打12315投诉你们"), 7)
    assert (hit.rule_id, hit.turn_index, hit.start, hit.end, hit.matched_text) == ("risk", 7, 3, 8, "12315")


# --- language -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("texts", "language"),
    [
        (["我要投诉你们", "您好，请讲"], "zh"),
        (["I want a refund", "Sure, let me check"], "en"),
        (["我的 order number 是 12345", "OK 我帮您查一下 tracking"], "mixed"),
        (["12345", "..."], "unknown"),
    ],
)
def test_language_is_detected_per_conversation(texts: list[str], language: str) -> None:
    from kefu_scoring.text import detect_language

    assert detect_language(texts) == language


def test_a_turn_holding_a_nul_character_is_matched_turn_by_turn() -> None:
    # Turns are normally joined with NUL for one automaton pass; a NUL inside a turn would
    # shift every later span, so such a conversation is scanned turn by turn.
    assert hits(kw("退款"), c("a\x00退款"), c("退款")) == [(0, 2, 4, "退款"), (1, 0, 2, "退款")]


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        (r"\d{3,}\s*元", ("元",)),
        (r"Refund\w*\s+in\s+\d+", ("refund", "n")),  # not "i": it also matches the dotless "ı"
        (r"(明天|后天)\s*(一定|肯定)", ()),
        (r"(ab)?c", ("c",)),
        (r"(?:xy)+z", ("xy", "z")),
    ],
)
def test_regex_prefilter_only_requires_text_every_match_contains(pattern: str, literals: tuple[str, ...]) -> None:
    from kefu_scoring.engine import required_literals

    assert required_literals(pattern) == literals


@pytest.mark.parametrize(
    ("pattern", "alternatives"),
    [
        (r"(明天|后天)\s*(一定|肯定)", (("明天", "后天"), ("一定", "肯定"))),
        (r"x(?:foo|BAR\d)y", (("foo", "bar"),)),
        (r"(ab|cd)+", (("ab", "cd"),)),
        (r"(ab|cd)?x", ()),  # optional
        (r"(ab|)c", ()),  # a branch without a literal
        (r"(?:ab|c(dd|ee))", (("ab", "c"),)),  # an alternation inside one branch is not required
        (r"(?:(ab|cd)|ef)g", ()),
        (r"(fix|mend) it", (("f", "mend"),)),  # not "i": "fix" also matches "fıx" (dotless i)
    ],
)
def test_regex_prefilter_requires_one_text_of_each_required_alternation(
    pattern: str, alternatives: tuple[tuple[str, ...], ...]
) -> None:
    from kefu_scoring.engine import required_alternatives

    assert required_alternatives(pattern) == alternatives


@pytest.mark.parametrize(
    ("pattern", "leading"),
    [
        (r"Refund\w*\s+in\s+\d+", "refund"),
        (r"第[一二三]+次", "第"),
        (r"(明天|后天)一定", ""),
        (r"\d{3,}\s*元", ""),
        (r"ab?c", "a"),  # "b" is optional
        (r"kilo", "k"),  # not "i": it also matches the dotless "ı"
        (r"straße", "stra"),
    ],
)
def test_regex_is_only_tried_where_its_leading_literal_occurs(pattern: str, leading: str) -> None:
    from kefu_scoring.engine import leading_literal

    assert leading_literal(pattern) == leading


def test_regex_with_a_leading_literal_finds_a_later_occurrence() -> None:
    condition = {"operator": "regex", "pattern": r"refund\s+in\s+\d+"}
    turns = (a("refund soon, refund later"), c("refund in 2"), a("no refund; refund in 3 days"))
    assert hits({**condition, "scope": {"role": "agent"}}, *turns) == [(2, 11, 22, "refund in 3")]


def test_regex_with_a_required_alternation_matches_either_branch_and_nothing_else() -> None:
    condition = {"operator": "regex", "pattern": r"(明天|后天)\s*(一定|肯定)"}
    assert hits(condition, a("好的"), a("后天 肯定到")) == [(1, 0, 5, "后天 肯定")]
    assert hits(condition, a("明天一定")) == [(0, 0, 4, "明天一定")]
    assert not fires(condition, a("明天可能"), a("一定"))
    # case-insensitive "i" matches the dotless "ı" that normalisation keeps
    assert hits({"operator": "regex", "pattern": r"(fix|mend)ed"}, a("fıxed")) == [(0, 0, 5, "fıxed")]


def test_regex_with_required_literals_still_matches_case_insensitively() -> None:
    condition = {"operator": "regex", "pattern": r"REFUND\s+IN\s+\d+\s*DAYS"}
    assert hits(condition, a("Refund in 3 days")) == [(0, 0, 16, "Refund in 3 days")]
    assert not fires(condition, a("refund soon"))


def test_rule_limited_to_a_language_is_not_applicable_to_other_conversations() -> None:
    rs = ruleset(
        rule(kw("sorry"), "en-only", languages=["en"]),
        rule(kw("抱歉"), "zh-only", languages=["zh"]),
    )
    engine = compile_ruleset(rs)
    english = engine.evaluate([a("Sorry, I am so sorry about that")])
    assert english.not_applicable == ("zh-only",)
    assert {h.rule_id for h in english.hits} == {"en-only"}
    chinese = engine.evaluate([a("非常抱歉，这个问题我们马上处理")])
    assert chinese.not_applicable == ("en-only",)
    mixed = engine.evaluate([a("sorry 抱歉"), a("这个 order 我们 check 一下")])
    assert mixed.not_applicable == ()
    assert {h.rule_id for h in mixed.hits} == {"en-only", "zh-only"}


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"refund\s+in\s+\d+", "refund ın 3 days"),  # "i" matches the dotless "ı" normalisation keeps
        (r"kilo\w*", "2 KıLO"),
        (r"(?:fix|mend)ed", "fıxed"),
        (r"İstanbul", "istanbul"),  # "İ" matches "i"
        (r"ıd\d", "ID7"),
        (r"straße", "STRAẞE"),
        (r"ſtop", "stop"),
        (r"\u1f88\d", "\u1f80 1"),  # a titlecase letter matches its lower case
        (r"\u1f88 \d", "\u1f80 1"),
        (r"\u01c5\d", "\u01c61"),
    ],
)
def test_regex_literal_prefilter_never_rules_out_a_case_insensitive_match(pattern: str, text: str) -> None:
    # The contract: the regex runs case-insensitively on the normalised text. The literal
    # pre-filters (required literals, alternations, a leading literal) may only skip work.
    import re

    expected = bool(re.search(pattern, normalise(text).text, re.IGNORECASE))
    assert fires({"operator": "regex", "pattern": pattern}, a(text)) == expected


def test_overlapping_matches_count_once_leftmost_then_longest_then_first_found() -> None:
    from kefu_scoring.matcher import longest_non_overlapping

    spans = [(2, 4, 1), (0, 3, 2), (0, 5, 3), (4, 6, 4), (5, 7, 5)]
    assert longest_non_overlapping(spans) == [(0, 5, 3), (5, 7, 5)]
    assert longest_non_overlapping([(1, 3, 8), (1, 3, 7), (0, 1, 9)]) == [(0, 1, 9), (1, 3, 8)]

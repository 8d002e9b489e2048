"""Customer emotion from the shipped lexicon: negation, intensifiers, zh and en, trajectory,
and accuracy on the small self-made labelled set in tests/data (not a public benchmark)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kefu_scoring.emotion import default_lexicon, trajectory

LABELLED = Path(__file__).parents[1] / "data" / "emotion_labelled.tsv"


def label(text: str) -> str:
    return default_lexicon().turn(0, text).label


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我很满意", "positive"),
        ("我不满意", "negative"),
        ("服务不好", "negative"),
        ("这个不错", "positive"),  # 不错 is one positive word, not 不 + 错
        ("没有问题了，谢谢", "positive"),
        ("The service was good", "positive"),
        ("The service was not good", "negative"),
        ("I'm not angry", "neutral"),
        ("I am never happy with you", "negative"),
        ("我想查一下订单", "neutral"),
    ],
)
def test_negation_flips_the_sentiment_word_it_precedes(text: str, expected: str) -> None:
    assert label(text) == expected


def test_intensifier_and_exclamation_make_a_turn_more_intense() -> None:
    lex = default_lexicon()
    plain = lex.turn(0, "我失望")
    strong = lex.turn(0, "我非常失望！！")
    assert plain.label == strong.label == "negative"
    assert strong.intensity > plain.intensity


def test_clause_break_stops_a_negator() -> None:
    # "不，" answers a question; it does not negate the next clause's "满意".
    assert label("不，我很满意") == "positive"


def test_cues_quote_the_original_text() -> None:
    emotion = default_lexicon().turn(3, "ＴＥＲＲＩＢＬＥ service")
    assert emotion.cues == ("ＴＥＲＲＩＢＬＥ",)
    assert emotion.turn_index == 3


def test_strong_negative_needs_high_intensity() -> None:
    lex = default_lexicon()
    assert lex.turn(0, "我要打12315投诉你们，太过分了！").strong_negative
    assert not lex.turn(0, "有点慢").strong_negative


def test_trajectory_of_customer_turns_only() -> None:
    turns = [
        ("customer", "气死我了，你们太坑人了"),
        ("agent", "非常抱歉，我马上为您处理"),
        ("customer", "好吧"),
        ("customer", "谢谢，问题解决了，很满意"),
    ]
    t = trajectory(turns)
    assert [e.turn_index for e in t.turns] == [0, 2, 3]
    assert t.trend == "improving"
    assert t.peak_negative == 0
    worse = trajectory([("customer", "谢谢"), ("customer", "我要投诉，太差了")])
    assert worse.trend == "worsening"
    assert trajectory([("agent", "您好")]).trend == "none"


def test_accuracy_on_the_self_made_labelled_set_is_at_least_90_percent() -> None:
    rows = [
        line.rstrip("\n").split("\t", 1)
        for line in LABELLED.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert len(rows) >= 60
    assert {r[0] for r in rows} == {"negative", "neutral", "positive"}
    correct = sum(label(text) == expected for expected, text in rows)
    assert correct / len(rows) >= 0.9, f"{correct}/{len(rows)}"

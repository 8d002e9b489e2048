"""Predicted satisfaction (issue #16): how the customer left weighs most, length alone never
moves it, threats and agent issues lower it, a predicted detractor raises a signal."""

from __future__ import annotations

from kefu_scoring.engine import Turn, compile_ruleset
from kefu_scoring.rules import load_ruleset
from kefu_scoring.service import Conversation, analyse, risk_signals


def predicted(*turns: tuple[str, str]):
    return analyse(compile_ruleset(load_ruleset()), [Turn(r, t) for r, t in turns]).satisfaction


HAPPY_END = (("customer", "我的快递一直没到，很着急"), ("agent", "您好，我为您查询，今天下午送到"),
             ("customer", "太好了，谢谢你，很满意"))
ANGRY_END = (("customer", "我的快递到了吗"), ("agent", "您好，请等通知"),
             ("customer", "又是等通知，太差了，气死我了"))


def test_a_conversation_that_ends_happy_is_predicted_more_satisfied_than_one_that_ends_angry() -> None:
    happy, angry = predicted(*HAPPY_END), predicted(*ANGRY_END)
    assert happy.score > angry.score
    assert happy.label == "satisfied" and angry.label == "detractor"
    assert 1.0 <= angry.score <= happy.score <= 5.0


def test_the_evidence_names_the_last_customer_turns() -> None:
    factors = {f.factor: f for f in predicted(*ANGRY_END).factors}
    assert factors["last_customer_turns"].turn_index == 2
    assert factors["last_customer_turns"].effect < 0


def test_length_alone_does_not_change_the_prediction() -> None:
    short = predicted(*HAPPY_END)
    padded = predicted(("agent", "您好"), ("agent", "请稍等"), ("agent", "好的"), *HAPPY_END)
    assert padded.turns == short.turns + 3
    assert padded.score == short.score


def test_a_late_threat_lowers_the_prediction_and_is_evidence() -> None:
    calm = predicted(("customer", "退款什么时候到"), ("agent", "您好，三天内到账"), ("customer", "好的"))
    threat = predicted(("customer", "退款什么时候到"), ("agent", "您好，三天内到账"), ("customer", "好的，不到我就打12315"))
    assert threat.score < calm.score
    assert any(f.factor == "unresolved_threat" and f.turn_index == 2 for f in threat.factors)


def test_a_predicted_detractor_raises_one_signal_with_its_evidence() -> None:
    analysis = analyse(compile_ruleset(load_ruleset()), [Turn(r, t) for r, t in ANGRY_END])
    conversation = Conversation(request_id="r1", turns=(), conversation_id="c1", ticket_id="t1")
    raised = risk_signals(conversation, analysis.score.hits, analysis.emotion.turns, analysis.satisfaction)
    detractor = [s for s in raised if s.kind == "predicted_detractor"]
    assert len(detractor) == 1 and "detractor" in detractor[0].detail
    satisfied = analyse(compile_ruleset(load_ruleset()), [Turn(r, t) for r, t in HAPPY_END])
    again = risk_signals(conversation, satisfied.score.hits, satisfied.emotion.turns, satisfied.satisfaction)
    assert not [s for s in again if s.kind == "predicted_detractor"]

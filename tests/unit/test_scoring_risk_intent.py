"""Risk intent (kefu_scoring/risk.py, DOMAIN.md §3 "Risk intent"): a risk signal is a threat --
the customer will, or did, go to a regulator, the media, a court or the police, or threatens
harm -- never a mere mention of the same words. Each test names the rule it pins."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kefu_scoring.engine import Turn, compile_ruleset
from kefu_scoring.risk import SIGNAL_KIND, assess, threats
from kefu_scoring.rules import load_ruleset
from support import load_bench_script


def kinds(text: str) -> list[str]:
    return [v.kind for v in threats(text)]


def why_not(text: str) -> str:
    """The reason the single cue of `text` is a mention (and that it is one)."""
    verdicts = assess(text)
    assert verdicts, f"no cue found in {text!r}"
    assert not any(v.threat for v in verdicts), [(v.cue, v.reason) for v in verdicts]
    return " ".join(v.reason for v in verdicts)


# --- mentions are not threats ----------------------------------------------------------------


@pytest.mark.parametrize("text", ["我不是要投诉", "你们放心，我不会曝光的", "我没打算起诉你们", "我不想报警，只想解决问题",
                                  "I'm not going to sue you", "12315我是不会打的"])
def test_negated_threat_is_not_a_threat(text: str) -> None:
    assert "negated" in why_not(text)


@pytest.mark.parametrize("text", ["12315是什么电话？", "请问怎么投诉？", "市场监管局的电话是多少", "How do I file a complaint with the FTC?"])
def test_question_about_a_hotline_or_how_to_complain_is_not_a_threat(text: str) -> None:
    assert "question" in why_not(text)


@pytest.mark.parametrize("text", ["我朋友是律师", "My friend is a lawyer", "我老公是警察"])
def test_third_party_lawyer_is_not_a_threat(text: str) -> None:
    why_not(text)


def test_third_party_complaint_is_not_the_customers_threat() -> None:
    assert "third party" in why_not("我同事投诉过你们，后来解决了")


@pytest.mark.parametrize("text", ["我的订单号是12345", "运单号12315开头的那个包裹", "一共12315块钱", "My order number is 12345"])
def test_order_number_12345_is_not_the_city_hotline(text: str) -> None:
    assert "id or amount" in why_not(text)


def test_a_longer_number_holding_12345_is_not_the_hotline() -> None:
    assert kinds("我要打123456") == []


@pytest.mark.parametrize("text", ["我想撤销投诉", "I want to withdraw my complaint", "我之前投诉的问题已经解决了，撤销吧"])
def test_withdrawn_complaint_is_not_a_threat(text: str) -> None:
    assert "withdrawn" in why_not(text)


@pytest.mark.parametrize("text", ["如果我去12315投诉，会怎么处理？", "万一要走法律途径，需要准备什么材料？", "早知道当初就报警了",
                                  "If I sued, how long would it take?"])
def test_hypothetical_or_counterfactual_is_not_a_threat(text: str) -> None:
    why_not(text)


def test_entity_without_an_action_is_a_mention() -> None:
    assert "no action" in why_not("我在抖音上看到你们的广告")


# --- threats, with their kind and span -------------------------------------------------------


@pytest.mark.parametrize("text", ["我马上打一二三一五", "幺二三幺五，我现在就打", "我要去1 2 3 1 5举报你们", "我已经打了１２３１５"])
def test_spoken_digit_12315_is_a_regulator_threat(text: str) -> None:
    assert kinds(text)[:1] == ["regulator"]


def test_condition_of_a_threat_does_not_negate_it() -> None:
    assert kinds("你们不退款我就起诉") == ["legal"]
    assert kinds("If this isn't fixed by Friday I'll report you to the CFPB") == ["regulator"]


def test_threat_put_as_a_question_is_a_threat() -> None:
    assert kinds("你们是不是要我去12315投诉才肯处理？") == ["regulator"]
    assert kinds("信不信我发抖音曝光你们") == ["media", "media"]


def test_pressed_into_it_is_not_a_negation() -> None:
    assert kinds("别逼我报警") == ["police"]
    assert kinds("Please don't make me call the police") == ["police"]


def test_complaint_to_a_regulator_is_one_regulator_threat() -> None:
    assert kinds("我要打12315投诉你们") == ["regulator"]
    assert kinds("我要投诉你们") == ["complaint"]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("我要去工信部申诉", "regulator"), ("我会向通信管理局申诉你们乱扣费", "regulator"),
        ("我要去银保监会投诉你们乱收费", "regulator"), ("我准备向金融监管总局举报你们", "regulator"),
        ("信用卡这事我要找银行业协会", "regulator"), ("我要向证监会举报你们公司", "regulator"),
        ("我会去人民银行投诉你们", "regulator"), ("我要打央行的电话投诉", "regulator"),
        ("我去打市长热线，看谁管得了你们", "regulator"), ("我要去市场监管局投诉你们虚假宣传", "regulator"),
        ("我要打12345市民热线反映这个问题", "regulator"), ("我要打政务服务热线", "regulator"),
        ("快递丢了我要去邮政管理局投诉", "regulator"), ("我要打12305投诉你们快递", "regulator"),
        ("我要去消协投诉", "regulator"), ("我已经联系了消费者协会", "regulator"),
        ("我会找你们的上级主管部门", "regulator"),
        ("我要在黑猫投诉上投诉你们", "media"), ("我要去21CN聊投诉上投诉", "media"),
        ("315晚会我会去报名", "media"), ("我要发微博让大家都知道", "media"), ("我要联系电视台", "media"),
        ("我要在小红书发帖说你们的事", "media"), ("我要在知乎上发帖揭露你们", "media"),
        ("我要发朋友圈让大家评评理", "media"), ("我要在今日头条上发文章", "media"),
        ("我会把聊天截图发到网上", "media"), ("我要找记者来报道这件事", "media"),
        ("我要起诉你们", "legal"), ("法庭上见", "legal"), ("我会走法律途径", "legal"),
        ("你们等着收律师函吧", "legal"), ("我要申请劳动仲裁", "legal"), ("我要仲裁", "legal"),
        ("我要报警", "police"), ("我现在就打110", "police"), ("我去派出所报案", "police"),
        ("我弄死你", "abuse"), ("你这个傻逼", "abuse"),
        ("I will report you to the FTC", "regulator"), ("I'm filing a complaint with the Better Business Bureau", "regulator"),
        ("I'm going to the press with this", "media"), ("I will post about this on Twitter", "media"),
        ("I will sue you", "legal"), ("See you in court", "legal"), ("My lawyer will be in touch", "legal"),
        ("I'm going to call the police", "police"),
    ],
)
def test_each_channel_a_complaint_really_goes_to_is_a_threat_of_its_kind(text: str, kind: str) -> None:
    assert kinds(text)[:1] == [kind]


def test_evidence_is_the_span_of_the_original_text() -> None:
    text = "我要打１２３１５投诉你们"
    [threat] = threats(text)
    assert (threat.start, threat.end, threat.cue) == (3, 8, "１２３１５")
    assert text[threat.start : threat.end] == threat.cue
    assert "action '打'" in threat.reason


def test_police_is_raised_to_escalation_as_a_legal_signal() -> None:
    assert SIGNAL_KIND["police"] == "legal" and SIGNAL_KIND["complaint"] == "other"
    assert {SIGNAL_KIND[k] for k in ("regulator", "media", "legal")} == {"regulator", "media", "legal"}


# --- through the ruleset ------------------------------------------------------------------


def test_default_ruleset_flags_a_threat_and_not_a_mention() -> None:
    compiled = compile_ruleset(load_ruleset())
    threat = compiled.evaluate([Turn("customer", "我要去通信管理局申诉")]).hits
    assert [(h.rule_id, h.alert, h.matched_text) for h in threat if h.alert] == [
        ("risk-regulator", "regulator", "通信管理局")
    ]
    assert "regulator threat (action" in threat[0].detail
    mention = compiled.evaluate([Turn("customer", "12315是什么电话？我朋友是律师，我不会曝光的")]).hits
    assert [h for h in mention if h.alert] == []


def test_agents_words_never_raise_a_customer_risk() -> None:
    compiled = compile_ruleset(load_ruleset())
    hits = compiled.evaluate([Turn("agent", "您也可以拨打12315投诉")]).hits
    assert [h for h in hits if h.alert] == []


def test_police_threat_alerts_as_legal_through_the_risk_police_rule() -> None:
    compiled = compile_ruleset(load_ruleset())
    hits = [h for h in compiled.evaluate([Turn("customer", "再不退钱我就报警")]).hits if h.alert]
    assert [(h.rule_id, h.alert) for h in hits] == [("risk-police", "legal")]


def test_realtime_turn_raises_only_threats() -> None:
    compiled = compile_ruleset(load_ruleset())
    assert [h.alert for h in compiled.evaluate_turn(Turn("customer", "我要打幺二三幺五"), 3) if h.alert] == ["regulator"]
    assert [h for h in compiled.evaluate_turn(Turn("customer", "我不会打12315的"), 3) if h.alert] == []


# --- the labelled sets (bench/eval_risk.py) stay above the targets --------------------------


@pytest.mark.parametrize("name", ["dev", "held-out"])
def test_labelled_sets_meet_the_targets_and_beat_the_substring_baseline(name: str) -> None:
    ev = load_bench_script("eval_risk")
    rows = ev.load(dict(ev.SETS)[name])
    ours = ev.measure(rows, ev.system())
    base = ev.measure(rows, ev.baseline)
    assert ours["recall"] >= 0.95 and ours["precision"] >= 0.90 and ours["kind_right"] >= 0.90, ours
    assert ours["precision"] > base["precision"] and ours["fpr"] < base["fpr"]


def test_pii_read_aloud_rule_sees_a_phone_read_in_groups_with_commas() -> None:
    compiled = compile_ruleset(load_ruleset())
    hits = compiled.evaluate([Turn("agent", "您的号码是一三八，一二三四，五六七八对吗")]).hits
    assert any(h.rule_id.startswith("pii") and h.matched_text == "一三八，一二三四，五六七八" for h in hits), hits


def test_a_complaint_or_a_threat_naming_no_channel_yields_to_a_named_channel() -> None:
    assert kinds("我们走着瞧，法院见") == ["legal"]
    assert kinds("我要投诉你们，还要打12315") == ["regulator"]
    assert kinds("你给我等着") == ["abuse"]  # alone it is still a threat


def _flags(text: str) -> list[str]:
    from kefu_scoring.service import Conversation, analyse, risk_signals

    turns = (Turn("customer", text),)
    analysis = analyse(compile_ruleset(load_ruleset()), turns)
    return [s.kind for s in risk_signals(Conversation("r", turns), analysis.score.hits, analysis.emotion.turns)]


def test_risk_words_alone_do_not_make_a_strong_negative_emotion_risk() -> None:
    # the lexicon weighs 12315 / 报警 / sue as negative; whether they threaten is risk intent's call
    for mention in ("12315是什么电话？", "需要报警吗？", "I'm not going to sue you", "12315能帮我退款吗？"):
        assert _flags(mention) == [], mention
    assert _flags("我要打12315") == ["regulator"]


def test_strong_negative_emotion_of_its_own_is_still_a_risk() -> None:
    assert "negative_emotion" in _flags("太差了！！气死我了，垃圾服务")
    assert _flags("太差了！！气死我了，我要打12315") == ["regulator", "negative_emotion"]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("我要不打去12315幺二三一五，。？?! 投诉报警律师朋友是订单号如果就ａＢ\t\n")) | st.characters(),
               max_size=60))
def test_every_verdict_points_at_the_original_text(text: str) -> None:
    from kefu_scoring.risk import without_risk_words

    for v in assess(text):
        assert 0 <= v.start < v.end <= len(text) and text[v.start : v.end] == v.cue
    assert len(without_risk_words(text)) == len(text)

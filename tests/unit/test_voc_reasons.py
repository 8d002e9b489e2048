"""Reasons (VOC topics) on generated three-month corpora whose reasons are known
(tests/voc_corpus.py): the top three are the true three, their shares within 5 points, and
boilerplate shared by every call or said by agents ranks nowhere. Products, wording and seeds
differ; no product lexicon is involved."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from kefu_scoring import reasons as method
from voc_corpus import CLAIMS, LOGISTICS, PRODUCTS, REFUND, TV, TV_B, generate, truth_shares

SCRIPTS = method.script_words(["您好", "你好", "欢迎致电", "很高兴为您服务", "再见", "感谢来电"])


def analyse(corpus: list[dict]) -> tuple[method.Model, list[int]]:
    conversations = []
    for c in corpus:
        customer = [t["text"] for t in c["turns"] if t["role"] == "customer"]
        agent = [t["text"] for t in c["turns"] if t["role"] == "agent"]
        month = int(c["started_at"][5:7])
        conversations.append(method.Conversation(method.features(customer), method.script_words(agent), month))
    model = method.discover(conversations, SCRIPTS)
    return model, [model.assign(model.context(c.features, c.agent_words))[0] for c in conversations]


def top_reasons(corpus: list[dict], model: method.Model, assigned: list[int], k: int = 3) -> list[tuple[str, float]]:
    """(the true reason most of its conversations were generated for, share) of the top k."""
    counts = Counter(a for a in assigned if a >= 0)
    out = []
    for index, count in counts.most_common(k):
        truth = Counter(corpus[j]["truth"] for j, a in enumerate(assigned) if a == index)
        out.append((truth.most_common(1)[0][0], count / len(corpus)))
    return out


def assert_true_top_three(corpus: list[dict]) -> method.Model:
    """The three largest reasons found are the true three, each share within 5 points."""
    truth = truth_shares(corpus)
    model, assigned = analyse(corpus)
    found = top_reasons(corpus, model, assigned)
    assert sorted(r for r, _ in found) == sorted(list(truth)[:3])
    for reason, share in found:
        assert abs(share - truth[reason]) <= 0.05, (reason, share, truth[reason])
    return model


@pytest.mark.parametrize(("product", "seed"), [
    (TV, 1), (TV, 2), (REFUND, 3), (REFUND, 4), (LOGISTICS, 5), (LOGISTICS, 6), (TV_B, 7),
])
def test_top_three_reasons_are_the_true_three_with_shares_within_five_points(product, seed) -> None:
    corpus = generate(product, seed=seed, n=600)
    assert_true_top_three(corpus)


def test_words_every_call_shares_and_agent_scripts_are_boilerplate_not_reasons() -> None:
    corpus = generate(TV, seed=8, n=600)
    model, _ = analyse(corpus)
    shared = {"上个月", "大屏", "新出", "智能", "电视", "那款"}
    assert shared <= model.boilerplate
    assert {"感谢", "来电"} <= model.boilerplate  # the agents' closing script
    for reason in model.reasons:
        words = {w for phrase, _ in reason.phrases for w in phrase.split(" ")}
        assert not words & shared, reason.label


def test_a_word_that_floods_one_month_only_is_not_boilerplate() -> None:
    month = [method.Conversation(frozenset({"爆炸", "电视"}), frozenset(), 9) for _ in range(40)]
    others = [method.Conversation(frozenset({"电视", "遥控器"}), frozenset(), m) for m in (10, 11) for _ in range(40)]
    out = method.boilerplate(month + others)
    assert "电视" in out  # in every month
    assert "爆炸" not in out  # 33 % overall, and absent from two months


def test_a_filler_said_in_any_call_is_not_a_reason() -> None:
    corpus = generate(REFUND, seed=9, n=600)
    model, _ = analyse(corpus)
    # "这个问题必须给我一个说法" is sprinkled over calls of every reason.
    assert not any("说法" in p for r in model.reasons for p, _ in r.phrases)


def test_the_method_is_deterministic() -> None:
    corpus = generate(LOGISTICS, seed=10, n=400)
    first, _ = analyse(corpus)
    second, _ = analyse(corpus)
    assert first == second


def test_generator_products_all_have_three_top_reasons_and_noise() -> None:
    for product in PRODUCTS.values():
        shares = [r.share for r in product.reasons]
        assert abs(sum(shares) - 1) < 1e-9 and len(shares) >= 6
        assert min(shares[:3]) > max(shares[3:])


@pytest.mark.xfail(strict=True, reason="known limit (docs/scoring.md, VOC limits): a wording said once per "
                   "call forms a reason of its own words; the key word it shares with the reason's other "
                   "wordings does not yet pull it in, so the shares split")
@pytest.mark.parametrize("seed", [31, 32, 33])
def test_calls_stating_their_reason_once_give_the_true_three_when_each_wording_names_it(seed) -> None:
    # Car-insurance claims (not a TV): every call says its reason in one wording only, so no
    # two wordings of a reason ever meet in a call; what ties them is the key word each holds.
    corpus = generate(CLAIMS, seed=seed, n=600, said=(1, 0, 0))
    model = assert_true_top_three(corpus)
    assert {"车险"} <= model.boilerplate  # the opening every call shares


@pytest.mark.parametrize("seed", [34, 35])
def test_car_insurance_claims_said_over_several_turns_give_the_true_three(seed) -> None:
    corpus = generate(CLAIMS, seed=seed, n=600)
    model = assert_true_top_three(corpus)
    assert "车险" in model.boilerplate


def test_calls_of_no_clear_reason_count_in_the_total_and_leave_the_top_three_true() -> None:
    # A refund corpus with 100 calls that only greet, ask and complain in general terms: they
    # count in the total (shares are of all calls) and do not take the place of a top reason.
    corpus = generate(REFUND, seed=36, n=500)
    vague = ("我想问一下", "你们这个怎么回事", "帮我看看", "我等你们回复", "能不能快点", "麻烦了",
             "刚才信号不好", "我再确认一下", "你们那边有记录吗", "我之前打过", "上回说好回电的", "是人工吗",
             "我说不太清楚", "等下我还有事", "你听得到吗", "我找之前那位", "这是总部吧", "我先记一下")
    for i in range(100):
        said = f"{vague[i % 18]}，{vague[(i * 7 + 3) % 18]}"
        corpus.append({**corpus[i], "conversation_id": f"vague-{i}", "truth": None, "turns": [
            {"role": "customer", "text": f"喂，你好，{REFUND.opening}，{said}。"},
            {"role": "agent", "text": "好的，请您稍等，我帮您查询一下。"},
        ]})
    model, assigned = analyse(corpus)
    truth = Counter(c["truth"] for c in corpus if c["truth"])
    found = top_reasons(corpus, model, assigned)
    assert sorted(r for r, _ in found) == sorted(r for r, _ in truth.most_common(3))
    for reason, share in found:
        assert abs(share - truth[reason] / len(corpus)) <= 0.05, reason


def _answered_corpus(seed: int, replies: bool) -> tuple[list[method.Conversation], list[str]]:
    """Food-delivery calls stating their reason once, in wordings that share no word; when
    `replies`, the agent answers each reason in its own words (as in real calls)."""
    rng = random.Random(seed)
    reasons = {
        "late": (("骑手半天不取餐", "饭到的时候早就凉透了", "外卖超时一个多小时"),
                 ("我马上帮您联系骑手催一下", "这边给您加急催单，骑手正在路上")),
        "wrong": (("送错了别人的餐", "少送了一份饮料", "备注不要香菜还是放了"),
                  ("漏送的餐品我联系商家给您补送", "我帮您联系商家核实订单，给您补送")),
        "dirty": (("饭菜里吃出了头发", "吃完拉肚子了", "米饭里有虫子"),
                  ("食品安全问题我们会调查商家", "请您保留好餐品，我们会调查商家的食品安全")),
    }
    fillers = ("我很着急", "我要投诉", "赶紧给我处理", "都打了三次电话了", "到底有没有人管")
    convs, truth = [], []
    for i in range(480):
        reason = ("late", "late", "wrong", "dirty")[i % 4]
        wordings, answers = reasons[reason]
        filler = rng.choice(fillers) + "！" if rng.random() < 0.5 else ""
        customer = [f"你好，我在饱了么外卖点了份餐，{rng.choice(wordings)}。{filler}", "好的，谢谢。"]
        agent = ["您好，很高兴为您服务。", "好的，请您稍等，我这边帮您查询一下。"]
        agent.append(rng.choice(answers) if replies else "您反映的问题我已经记录了。")
        agent.append("感谢您的来电，再见。")
        convs.append(method.Conversation(method.features(customer), method.script_words(agent), 6 + i % 3))
        truth.append(reason)
    return convs, truth


def _shares_by_truth(convs: list[method.Conversation], truth: list[str]) -> tuple[method.Model, dict[str, float]]:
    model = method.discover(convs, SCRIPTS)
    assigned = [model.assign(model.context(c.features, c.agent_words))[0] for c in convs]
    counts = Counter(a for a in assigned if a >= 0)
    out: dict[str, float] = {}
    for index, count in counts.most_common(3):
        label = Counter(t for t, a in zip(truth, assigned) if a == index).most_common(1)[0][0]
        out.setdefault(label, count / len(convs))
    return model, out


@pytest.mark.parametrize("seed", [41, 42])
def test_wordings_sharing_no_word_are_one_reason_when_agents_answer_them_alike(seed) -> None:
    convs, truth = _answered_corpus(seed, replies=True)
    model, shares = _shares_by_truth(convs, truth)
    assert set(shares) == {"late", "wrong", "dirty"}
    for reason, expected in {"late": 0.5, "wrong": 0.25, "dirty": 0.25}.items():
        assert abs(shares[reason] - expected) <= 0.05, (reason, shares)
    scripts = method.script_words(["您好，很高兴为您服务。", "好的，请您稍等，我这边帮您查询一下。", "感谢您的来电，再见。"])
    for reason in model.reasons:  # the agents' scripts are no reason's words, their answers may be
        assert not {p.removeprefix(method.AGENT) for p, _ in reason.phrases} & scripts, reason.label
        assert not reason.label.startswith(method.AGENT)


def test_without_the_agents_answers_wordings_sharing_no_word_stay_apart() -> None:
    # The limit, kept visible: nothing in these calls ties 骑手半天不取餐 to 饭到的时候早就凉透了.
    convs, truth = _answered_corpus(41, replies=False)
    _, shares = _shares_by_truth(convs, truth)
    assert abs(shares.get("late", 0.0) - 0.5) > 0.05

"""Reasons (VOC topics) on generated three-month corpora whose reasons are known
(tests/voc_corpus.py): the top three are the true three, their shares within 5 points, and
boilerplate shared by every call or said by agents ranks nowhere. Products, wording and seeds
differ; no product lexicon is involved."""

from __future__ import annotations

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

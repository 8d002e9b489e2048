"""Generator of realistic three-month complaint-call corpora with known reason shares, for
testing and measuring voice of customer (docs/scoring.md, "Voice of customer").

Each corpus is one product's calls: every call shares the same opening sentence (seed 000's
"上个月买了那款新出的智能大屏电视" and the like) and the agent's scripts (greeting, hold,
apology, closing — which also echo the customer's words back); the customer states one
reason in one to three of its paraphrases (the same reason said many ways, spread over their
turns), adds random filler complaints ("你们这个怎么回事") and sometimes a side remark about
a second, minor reason; PII (phones) appears now and then. Three top reasons and several
minor "noise" reasons with known shares; one minor reason bunches up in the last two weeks
(a spike). Conversations are spread over 90 days in Asia/Shanghai. Products: `tv` (seed 000's
reasons), `refund`, `logistics`, `claims` (car insurance, key words in every wording), and `tv-b` (another TV wording whose paraphrases share a word
or two, as people's do). `PARAPHRASES_SAID` sets how many wordings a call uses (1 to 3).

    .venv/bin/python tests/voc_corpus.py tv --seed 7 --n 600 > tv.jsonl

Each line holds `truth` (the reason the call was generated for) and `side` (a minor reason
mentioned in passing, or null); the importer ignores unknown fields.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Reason:
    key: str
    share: float
    paraphrases: tuple[str, ...]


@dataclass(frozen=True)
class Product:
    name: str
    category: str
    opening: str  # said in every call
    reasons: tuple[Reason, ...]  # the first three are the top reasons
    spike: str  # a minor reason whose calls bunch up in the last two weeks


TV = Product(
    name="smart-tv-x9",
    category="product",
    opening="上个月买了那款新出的智能大屏电视",
    reasons=(
        Reason("elderly", 0.34, (
            "这电视根本不适合老人", "我爸妈年纪大了用不来", "老人家看不懂这些界面",
            "字太小了老人看不清楚", "买给我妈的，她说用不惯", "家里老人一个人在家根本弄不明白",
            "老年人用起来太费劲了", "我爷爷说还是以前的老电视好用",
        )),
        Reason("too_many_features", 0.26, (
            "功能太多了，担心父母不会使用", "一堆功能根本用不上", "菜单一层套一层，找个频道都找不到",
            "开机还要选各种应用，太复杂了", "我就想看个节目，弄那么多花里胡哨的功能干嘛",
            "遥控器上按钮太多，按错了就进到别的模式", "设置项多得吓人，操作太复杂",
        )),
        Reason("after_sales", 0.20, (
            "售后服务不够完善", "打售后电话一直没人接", "说好师傅上门安装，结果等了三天都没来",
            "保修的事情推来推去没人管", "报修以后要等半个多月", "售后的人态度很差，问什么都说不清楚",
            "维修点离得太远，也没人上门",
        )),
        Reason("remote", 0.06, ("遥控器没反应", "遥控器按了没用，换了电池也不行", "遥控器失灵了")),
        Reason("screen", 0.05, ("屏幕有时候会闪", "画面一闪一闪的", "看久了屏幕发黄")),
        Reason("price", 0.05, ("刚买一周就降价三百", "现在买比我便宜好多", "价格保护申请不了")),
        Reason("network", 0.04, ("连不上家里的无线网", "WiFi老是断", "网络经常掉线")),
    ),
    spike="screen",
)

REFUND = Product(
    name="mall-order",
    category="refund",
    opening="我前几天在你们平台买的东西申请了退款",
    reasons=(
        Reason("not_received", 0.30, (
            "钱到现在还没退回来", "说三到五个工作日到账，都过去两周了", "退款一直显示处理中",
            "商家说已经退了，可我银行卡上没收到", "快一个月了钱还没到账", "查了好几次都说还在审核",
        )),
        Reason("wrong_amount", 0.24, (
            "退的金额不对，少了五十块", "运费也给我扣了", "只退了一部分，优惠的钱没退",
            "为什么要扣手续费", "金额跟我付的对不上", "说我用了满减所以少退",
        )),
        Reason("rejected", 0.22, (
            "退款申请被驳回了", "说已经过了七天无理由", "商家拒绝退款也不给理由",
            "上传了照片还是审核不通过", "说商品影响二次销售不给退", "申请了三次都被拒",
        )),
        Reason("coupon", 0.08, ("优惠券过期了能不能补", "领的券用不了", "满减券结算时不显示")),
        Reason("account", 0.06, ("登录不了账号", "手机号换了收不到验证码", "账号被冻结了")),
        Reason("invoice", 0.05, ("发票还没开", "要开个专票", "电子发票下载不了")),
        Reason("points", 0.05, ("积分没有到账", "积分被清零了", "积分兑换失败")),
    ),
    spike="account",
)

LOGISTICS = Product(
    name="express-parcel",
    category="logistics",
    opening="我在你们这寄了个包裹",
    reasons=(
        Reason("lost", 0.32, (
            "包裹显示签收了但是我根本没收到", "东西不知道丢哪去了", "物流信息三天没更新了，是不是丢件了",
            "快递找不到了", "查不到包裹现在在哪", "网点说没看到这个件",
        )),
        Reason("late", 0.26, (
            "说好次日达，结果一个星期才到", "一直卡在中转站不动", "派送太慢了",
            "比承诺的时间晚了四天", "都超时好几天了还没派送", "物流停在同一个城市好几天",
        )),
        Reason("courier", 0.18, (
            "快递员没打电话就放驿站了", "快递员态度特别凶", "不送上门，让我自己下楼拿",
            "没经过我同意就放快递柜", "打快递员电话他直接挂了", "派件员说爱要不要",
        )),
        Reason("damaged", 0.10, ("箱子压坏了", "里面的东西碎了", "外包装破了一个洞")),
        Reason("fee", 0.08, ("运费比说的贵", "多收了我二十块", "保价费没说清楚就扣了")),
        Reason("address", 0.06, ("想改个地址改不了", "收件地址写错了", "能不能转寄到公司")),
    ),
    spike="damaged",
)

# Other wordings, said once per call (PARAPHRASES_SAID = (1, 0, 0)): paraphrases of a reason
# share a word or two with some of the others, as people's wordings do, and nothing else.
TV_B = Product(
    name="smart-tv-q7",
    category="product",
    opening="你好，我家里新装了你们那台智能大屏电视",
    reasons=(
        Reason("elderly", 0.30, (
            "老人用不了这个电视", "家里老人说太难操作", "老年人根本学不会", "我妈说这电视对老人不友好",
            "老人眼神不好，字看不清", "给老人买的，完全不适合老人",
        )),
        Reason("too_many_features", 0.27, (
            "功能太多太复杂了", "这么多功能我们根本用不上", "功能复杂，父母不会用", "花哨的功能一大堆",
            "菜单太复杂，功能藏得太深", "功能多到不知道从哪下手",
        )),
        Reason("after_sales", 0.21, (
            "售后太差了", "售后一直不给处理", "找售后要等好久", "售后服务一点都不完善",
            "售后电话打了十几次", "维修师傅一直不上门，售后也不管",
        )),
        Reason("sound", 0.08, ("声音太小了", "音响有杂音", "声音忽大忽小")),
        Reason("boot", 0.07, ("开机太慢", "开机要等一分钟", "每次开机都有广告")),
        Reason("install", 0.07, ("挂架装歪了", "安装费太贵", "安装师傅迟到")),
    ),
    spike="boot",
)

# Car-insurance claims, for calls stating their reason once (`generate(..., said=(1, 0, 0))`):
# each wording of a reason holds one of its key words (理赔款/到账, 定损/估价, 续保/保费) and
# the rest of its words are its own, as customers name the thing they call about.
CLAIMS = Product(
    name="auto-insurance",
    category="claims",
    opening="我的车上了你们家的车险",
    reasons=(
        Reason("payout_late", 0.33, (
            "理赔款一个月了还没到账", "说好十个工作日打款，理赔款到现在没影", "理赔款的进度一直查不到",
            "材料交齐了理赔款还是不到账", "催了三次理赔款都说在走流程", "理赔款迟迟不到账",
        )),
        Reason("assessment_low", 0.25, (
            "定损金额太低了", "定损员只给修不给换", "修车厂报价比定损高一倍", "定损的时候漏了后保险杠",
            "定损拖了一个星期才来", "定损结果我不认可",
        )),
        Reason("renewal_price", 0.19, (
            "续保保费涨了一千多", "没出险续保还涨价", "续保的时候被强制搭售驾乘险", "续保报价比别家贵",
            "续保优惠说没就没了", "续保提醒都没给我发",
        )),
        Reason("rescue", 0.08, ("道路救援等了三个小时", "拖车一直不来", "救援电话打不通")),
        Reason("agent_rude", 0.06, ("查勘员态度很差", "理赔专员电话不接", "业务员说话很冲")),
        Reason("invoice", 0.05, ("保单发票开错了", "电子保单收不到", "发票抬头改不了")),
        Reason("app_login", 0.04, ("小程序登不上去", "上传照片一直失败", "验证码收不到")),
    ),
    spike="rescue",
)

PRODUCTS = {"tv": TV, "refund": REFUND, "logistics": LOGISTICS, "tv-b": TV_B, "claims": CLAIMS}

FILLERS = (
    "你们这个怎么回事", "我真的很生气", "能不能快点给我解决", "我已经打了好几次电话了",
    "这个问题必须给我一个说法", "麻烦你们重视一下", "我等你们回复", "太让人失望了",
)
GREETINGS = ("您好，很高兴为您服务，请问有什么可以帮您？", "您好，欢迎致电客服中心，工号{n}为您服务。")
HOLDS = ("好的，请您稍等，我帮您查询一下。", "请问您的订单号是多少？", "非常抱歉给您带来不便。")
ECHOES = ("您是说{x}，对吗？", "明白，{x}，我这边记录一下。")
PROMISES = ("您反映的情况我已经记录了，会尽快给您处理。", "我们会在二十四小时内给您回电。")
CLOSINGS = ("感谢您的来电，祝您生活愉快，再见。", "请问还有其他可以帮您的吗？感谢来电，再见。")
PARAPHRASES_SAID = (2, 5, 3)  # weights of a call stating its reason in 1, 2 or 3 of its wordings
CHANNELS = ("phone", "phone", "phone", "chat", "app")
START = datetime(2026, 9, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
DAYS = 90


def _turns(
    rng: random.Random, product: Product, reason: Reason, side: Reason | None,
    said_weights: tuple[int, int, int] = PARAPHRASES_SAID,
) -> list[dict]:
    said = rng.sample(reason.paraphrases, k=rng.choices((1, 2, 3), weights=said_weights)[0])
    customer: list[str] = [f"喂，你好，{product.opening}，{said[0]}。"]
    customer += [p + "。" for p in said[1:]]
    if side is not None:
        customer.insert(rng.randrange(1, len(customer) + 1), f"还有就是{rng.choice(side.paraphrases)}。")
    for filler in rng.sample(FILLERS, k=rng.choice((0, 1, 1, 2))):
        customer[rng.randrange(len(customer))] += filler + "！"
    if rng.random() < 0.1:
        customer[-1] += f"我电话是138{rng.randrange(10**8):08d}，有结果打给我。"
    turns = [{"role": "agent", "text": rng.choice(GREETINGS).format(n=rng.randrange(1000, 9999))}]
    for i, text in enumerate(customer):
        turns.append({"role": "customer", "text": text})
        if i == 0:
            agent = rng.choice(HOLDS)
        elif rng.random() < 0.4:
            agent = rng.choice(ECHOES).format(x=said[min(i, len(said) - 1)])
        else:
            agent = rng.choice(PROMISES)
        turns.append({"role": "agent", "text": agent})
    turns.append({"role": "customer", "text": rng.choice(("好的。", "行吧，尽快。", "嗯，那我等着。"))})
    turns.append({"role": "agent", "text": rng.choice(CLOSINGS)})
    t = 0
    for turn in turns:  # offsets: about 5 characters a second, a short gap between turns
        turn["start_ms"] = t
        t += 400 * len(turn["text"]) // 2
        turn["end_ms"] = t
        t += rng.randrange(300, 1500)
    return turns


def generate(
    product: Product, *, seed: int, n: int = 600, said: tuple[int, int, int] = PARAPHRASES_SAID
) -> list[dict]:
    """`n` conversations of `product`, reasons drawn to their shares (exactly, in expectation
    only through rounding: counts are the shares times n, shuffled); `said`: weights of a call
    stating its reason in 1, 2 or 3 of its wordings ((1, 0, 0): once)."""
    rng = random.Random(seed)
    reasons: list[Reason] = []
    for r in product.reasons:
        reasons += [r] * round(r.share * n)
    while len(reasons) < n:
        reasons.append(product.reasons[0])
    reasons = reasons[:n]
    rng.shuffle(reasons)
    minor = [r for r in product.reasons[3:]]
    out = []
    for i, reason in enumerate(reasons):
        side = rng.choice(minor) if rng.random() < 0.1 else None
        if side is reason:
            side = None
        if reason.key == product.spike and rng.random() < 0.7:
            day = rng.uniform(DAYS - 14, DAYS)
        else:
            day = rng.uniform(0, DAYS)
        started = (START + timedelta(days=day)).astimezone(UTC)
        out.append({
            "conversation_id": f"{product.name}-{seed}-{i:05d}",
            "started_at": started.isoformat().replace("+00:00", "Z"),
            "category": product.category,
            "product": product.name,
            "channel": rng.choice(CHANNELS),
            "agent_id": f"agent-{rng.randrange(1, 21):02d}",
            "turns": _turns(rng, product, reason, side, said),
            "truth": reason.key,
            "side": side.key if side else None,
        })
    return out


def truth_shares(corpus: list[dict]) -> dict[str, float]:
    counts = Counter(c["truth"] for c in corpus)
    return {k: v / len(corpus) for k, v in counts.most_common()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("product", choices=sorted(PRODUCTS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=600)
    args = parser.parse_args(argv)
    for line in generate(PRODUCTS[args.product], seed=args.seed, n=args.n):
        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

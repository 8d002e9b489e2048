"""Corpus shapes for the VOC evaluation (bench/eval_voc.py): six domains written apart from
tests/voc_corpus.py (other products, other reasons, other wordings, other seeds), each reason
said in paraphrases that share a word with some of the others and not with all, as people's
wordings do.

A corpus is one product's calls over 90 days: every customer opens with the product's name
(one of three openings), the agent greets, verifies, echoes the customer's words back and
closes with scripts; the customer states the call's reason once or several times (the
shape's `said` weights), adds fillers ("我要投诉"), sometimes a side remark of a minor
reason; a share of calls have no clear reason at all (noise). Truth: `truth` per call (None for
noise); the share of a reason is its calls ÷ all calls.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Domain:
    key: str
    name: str  # the product's name, said in every call (boilerplate)
    openings: tuple[str, ...]  # {name} is replaced
    reasons: dict[str, tuple[str, ...]]  # first three are the top reasons, the rest minor


DOMAINS = (
    Domain("tv", "星河65寸智能电视", (
        "我家买了你们的{name}", "我用的是{name}", "上周刚装好{name}",
    ), {
        "picture": ("画面有很多噪点", "画质特别模糊", "看球赛的时候画面拖影", "清晰度根本不是4K",
                    "画质还不如我家旧电视", "暗的地方画面发灰"),
        "ads": ("一开机就是广告", "开机广告关不掉", "看个片子中间还插广告", "广告太多了，会员也有广告",
                "每次开机都要看三十秒广告", "屏保也全是广告"),
        "casting": ("手机投屏投不上去", "投屏老是断开", "投屏之后没有声音", "用手机投屏一直连接失败",
                    "投屏画面卡顿", "找不到投屏的按钮"),
        "remote": ("遥控器按键不灵", "遥控器配对不上", "遥控器用几天就没反应"),
        "mount": ("安装师傅收了额外的费用", "支架装得不牢", "挂墙安装要另外加钱"),
        "sound": ("声音和画面对不上", "音量调到最大也很小", "喇叭有滋滋的杂音"),
        "wifi": ("无线网络总是连不上", "网络一会儿就断", "连上无线以后特别慢"),
    }),
    Domain("shop", "优选商城", (
        "我在{name}下了个单", "我是{name}的会员", "前几天在{name}买了东西",
    ), {
        "refund_delay": ("退款申请了十天还没到账", "钱一直没退回来", "退款进度一直卡着不动",
                         "说好七天到账现在还没收到钱", "退款状态显示成功但是钱没到", "催了好几次退款都没消息"),
        "wrong_item": ("收到的货跟图片不一样", "发错颜色了", "尺码发错了，我要的是大号", "少发了一件商品",
                       "收到的东西不是我下单的那个", "商品型号和详情页写的不一致"),
        "quality": ("衣服洗一次就掉色", "质量太差了，穿两天就开线", "鞋底没几天就开胶", "用了一周就坏了",
                    "做工粗糙，到处是线头", "质量跟价格完全不符"),
        "coupon": ("优惠券结算时用不上", "满减活动没有生效", "领的优惠券突然失效了"),
        "invoice": ("发票一直开不出来", "电子发票抬头写错了", "要的增值税发票没给开"),
        "address": ("下单后想改收货地址", "地址填错了能不能改", "收货地址改不了"),
        "agent_bot": ("在线客服一直是机器人回复", "人工客服排队排了半小时", "转人工根本转不过去"),
    }),
    Domain("courier", "顺达快运", (
        "我用{name}寄了个件", "我在等一个{name}的包裹", "你们{name}送的东西",
    ), {
        "delay": ("快递三天了还在路上", "物流信息一直不更新", "说好隔天送到，到现在都没到",
                  "包裹在中转站停了好几天", "派送一拖再拖", "预计送达时间早过了"),
        "damaged": ("包裹送到的时候箱子都压扁了", "里面的杯子碎了", "外箱破损，东西露出来了",
                    "易碎品没有做防护，摔坏了", "收到的时候包装全湿了", "电器外壳被磕坏了"),
        "courier": ("快递员不送货上门", "快递员态度恶劣还骂人", "没打招呼就把快递扔在门口",
                    "快递员让我自己去站点取", "打快递员电话一直不接", "快递员私自签收了"),
        "fee": ("运费算得比网上报价高", "被多收了保价费", "首重续重的价格不对"),
        "pickup": ("预约了上门取件没人来", "取件员一直不来收件", "约的取件时间过了没人上门"),
        "lost": ("包裹显示已签收但我没拿到", "快件丢了找不回来", "说是丢件只赔运费"),
        "tracking": ("单号查不到任何信息", "运单号输进去提示不存在", "查件页面一直报错"),
    }),
    Domain("telecom", "畅联5G畅享套餐", (
        "我办的是你们的{name}", "我用{name}两年了", "我的手机号是{name}",
    ), {
        "overcharge": ("这个月话费多扣了一百多", "莫名其妙多了一笔扣费", "账单上有我没用过的费用",
                       "话费扣得比套餐价贵", "每个月都多扣几十块", "套餐外的费用算得不对"),
        "vas": ("给我开通了增值业务我都不知道", "有个彩铃业务我从来没订过", "被订了视频会员每月扣钱",
                "增值业务怎么退订不了", "短信提醒订购了我没办过的业务", "莫名开通了流量包"),
        "signal": ("家里信号特别差", "打电话老是断线", "信号只有一格", "在地下室完全没信号",
                   "通话时对方听不清", "网速慢得像2G"),
        "cancel": ("想销户办不了", "注销要我跑营业厅", "销号还要先交违约金"),
        "roaming": ("出国漫游费太贵", "漫游没提醒就扣费", "境外流量包用不了"),
        "port": ("携号转网一直不给办", "转网需要的授权码收不到", "说我有合约不能转网"),
        "broadband": ("宽带安装拖了一周", "宽带老是掉线", "宽带测速只有一半"),
    }),
    Domain("card", "金穗白金信用卡", (
        "我有一张你们的{name}", "我是{name}的持卡人", "我手上这张{name}",
    ), {
        "fraud": ("卡里有一笔我没做过的消费", "凌晨收到陌生的扣款短信", "有人盗刷了我的卡",
                  "账单里有一笔境外交易不是我刷的", "不认识的商户扣了我的钱", "我没消费却显示有交易"),
        "fees": ("年费没跟我说就扣了", "利息算得太高了", "分期手续费比说的多", "还款后还收了滞纳金",
                 "提前还款还要收违约金", "年费说好免的又扣了"),
        "blocked": ("卡突然被冻结了", "刷卡的时候提示卡片受限", "卡被锁了没法用", "冻结了也没有通知我",
                    "解冻要本人去网点", "支付时一直提示交易失败"),
        "limit": ("想提额一直不给提", "额度突然被降了", "临时额度申请不下来"),
        "app": ("手机银行登不上去", "网银转账一直转圈", "银行软件老是闪退"),
        "mailing": ("新卡寄了半个月没收到", "补卡进度查不到", "换卡的快递一直没到"),
        "points": ("积分兑换的礼品没发", "积分过期没提醒", "积分商城换不了东西"),
    }),
    Domain("food", "饱了么外卖", (
        "我在{name}上点了份餐", "刚才用{name}叫的饭", "我经常用{name}",
    ), {
        "late": ("外卖超时一个多小时", "骑手半天不取餐", "等了一个半小时饭才到", "显示送达了但是我没收到",
                 "配送时间一直在延长", "饭到的时候早就凉透了"),
        "missing": ("少送了一份饮料", "点的是微辣送来的是特辣", "送错了别人的餐", "套餐里的薯条没有",
                    "备注不要香菜还是放了", "餐品和订单对不上"),
        "hygiene": ("饭菜里吃出了头发", "吃完拉肚子了", "菜是馊的", "米饭里有虫子", "肉没熟还带血",
                    "吃出了一块塑料"),
        "refund": ("申请退款商家一直不处理", "退款只退了一半", "商家拒绝退款"),
        "rider": ("骑手打电话骂人", "骑手让我下楼自取", "骑手把餐放在楼下就走了"),
        "package": ("汤洒了一袋子", "包装破了漏油", "餐盒盖子没盖好"),
        "redpacket": ("红包用不了", "满减没减", "会员红包领了用不上"),
    }),
)

# The agent's answer to the reason (shapes with `reply`): what real calls carry beside the
# customer's words — agents answer a late delivery with 催/骑手, a refund with 退款 — in
# variants that share a word with some of the others, not with all; some words serve several
# reasons (退款, 核实, 申请). Otherwise, or in a call of no clear reason, a generic answer.
REPLIES: dict[str, dict[str, tuple[str, ...]]] = {
    "tv": {
        "picture": ("建议您先把图像模式调成标准模式试一下", "我给您预约工程师上门检测屏幕", "可能是面板的问题，工程师上门检测后可以换屏"),
        "ads": ("开机广告可以在设置里的隐私选项关闭", "您可以在设置里关闭个性化推荐，广告会少很多", "广告的问题我给您反馈到内容运营部门"),
        "casting": ("请确认手机和电视连的是同一个无线网络", "您可以重启一下电视再试投屏功能", "建议升级一下系统版本，投屏兼容性会好一些"),
        "remote": ("请您把遥控器对准电视长按配对键", "遥控器可以到售后网点免费更换", "先换一下遥控器电池试试"),
        "mount": ("安装收费标准我给您核实一下", "多收的安装费可以给您退回", "我让安装师傅回访重新加固"),
        "sound": ("建议在声音设置里关闭音效增强", "音画不同步可以在设置里调整延迟", "喇叭的问题需要工程师上门检测"),
        "wifi": ("建议您把路由器靠近电视一点", "可以先恢复网络设置再重新连接", "网络模块的问题我给您报修"),
    },
    "shop": {
        "refund_delay": ("退款原路返回，银行处理需要三到五个工作日", "我帮您催一下财务尽快退款", "退款已经提交，到账后会短信通知您"),
        "wrong_item": ("您可以申请换货，我们免费上门取件", "麻烦您拍一下收到商品的照片，我给您补发", "发错的商品我们安排重新发货"),
        "quality": ("质量问题可以申请七天无理由退货", "麻烦上传一下商品问题的照片，我给您申请售后", "质量问题运费由我们承担"),
        "coupon": ("优惠券有使用门槛，我帮您核实一下", "我给您补发一张同等金额的券", "活动规则我这边帮您查一下"),
        "invoice": ("发票我帮您重新开具", "电子发票会发到您的邮箱", "发票抬头可以修改后重开"),
        "address": ("未发货的订单可以修改地址", "我帮您联系仓库拦截修改地址", "已发货的话只能联系快递改派"),
        "agent_bot": ("人工客服现在排队比较多，非常抱歉", "您可以在对话框输入转人工", "您的意见我们反馈给客服中心"),
    },
    "courier": {
        "delay": ("我帮您催一下网点加急派送", "这边给您登记催件，今天之内给您回复", "中转站积压，我帮您申请优先派送"),
        "damaged": ("麻烦您拍一下破损的照片，我给您申请理赔", "破损件可以走理赔流程", "我给您登记理赔，核实后按价赔付"),
        "courier": ("快递员的服务问题我们会严肃处理", "我把快递员的情况反馈给网点负责人", "会安排网点给您重新派送上门"),
        "fee": ("运费标准我帮您核算一下", "多收的费用给您退回", "计费重量我帮您核实一下"),
        "pickup": ("我给您重新安排取件员上门", "取件我帮您加急催一下网点", "取件时间可以给您重新预约"),
        "lost": ("丢件我们会按保价金额赔付", "我帮您发起丢件调查", "丢件查询需要三个工作日"),
        "tracking": ("单号信息可能有延迟，我帮您查一下", "请您核对一下运单号", "系统查件页面我们正在修复"),
    },
    "telecom": {
        "overcharge": ("我帮您查一下本月的详单", "多扣的话费核实后给您退回", "详单里的费用我给您逐项核对"),
        "vas": ("增值业务我马上帮您退订", "我帮您查一下这个业务的订购记录", "退订之后不再扣费，已扣的给您核实退回"),
        "signal": ("我帮您登记基站信号问题", "会安排网络工程师到您那边测试信号", "信号问题我们提交网络优化"),
        "cancel": ("销户需要先结清费用", "注销可以在线上预约办理", "合约期内销户需要核实违约金"),
        "roaming": ("漫游费用我帮您核实", "可以给您推荐境外流量包", "漫游提醒短信我帮您查一下"),
        "port": ("携号转网需要先解除合约", "授权码我帮您重新发送", "转网条件我帮您查询一下"),
        "broadband": ("宽带我给您报障，师傅上门检修", "宽带测速的问题我登记一下", "宽带安装我帮您催一下装维师傅"),
    },
    "card": {
        "fraud": ("我先帮您冻结卡片防止继续盗刷", "这笔交易我们会发起调查，请您报警留存回执", "可疑交易我给您提交争议处理"),
        "fees": ("费用明细我帮您核实一下", "年费减免我帮您申请", "利息和手续费按合同计算，我给您解释一下"),
        "blocked": ("卡片冻结是风控触发的，我帮您核实", "解除冻结需要验证身份", "我帮您提交解冻申请"),
        "limit": ("提额需要综合评估用卡情况", "额度调整我帮您提交申请", "临时额度可以在手机银行申请"),
        "app": ("建议您卸载后重新安装手机银行", "登录问题我帮您反馈技术部门", "可以先清除一下缓存再试"),
        "mailing": ("新卡的邮寄单号我帮您查一下", "卡片寄送进度我给您核实", "可以给您重新寄送"),
        "points": ("积分兑换的订单我帮您查询", "积分有效期是三年", "礼品发货我帮您催一下"),
    },
    "food": {
        "late": ("我马上帮您联系骑手催一下", "这边给您加急催单，骑手正在路上", "超时的订单可以给您申请赔付红包"),
        "missing": ("漏送的餐品我联系商家给您补送", "麻烦拍一下收到的餐品，我给您申请部分退款", "我帮您联系商家核实订单"),
        "hygiene": ("食品安全问题我们非常重视，会给您全额退款", "请您保留好餐品和照片，我们会调查商家", "我们会对商家进行食品安全核查"),
        "refund": ("退款我帮您介入处理", "我联系商家尽快同意退款", "平台会在二十四小时内给您退款"),
        "rider": ("骑手的服务问题我们会严肃处理", "我把骑手的情况反馈给站点", "会对骑手进行处罚和培训"),
        "package": ("包装问题我给您申请部分退款", "我反馈给商家改进包装", "洒漏的餐品可以给您补偿"),
        "redpacket": ("红包有使用门槛，我帮您看一下", "红包我帮您重新补发", "满减规则我帮您核实"),
    },
}
GENERIC_REPLIES = ("我这边给您登记一下，会尽快处理。", "您反映的问题我已经记录了。", "我给您提交一个工单，专员会联系您。")

FILLERS = ("你们这服务太差劲了", "我很着急", "赶紧给我处理", "都打了三次电话了", "我要投诉",
           "我对你们很失望", "这事必须解决", "到底有没有人管")
# Calls of no clear reason say two of these: none is said in more than a few calls.
NOISE = ("我就是想咨询一下", "帮我查一下我的情况", "没什么大事，我就是问问", "我想了解一下流程",
         "上次的事情处理得怎么样了", "我之前打过电话的", "你们几点下班", "我换个时间再打",
         "刚才电话断了", "我想找一下之前那个客服", "能不能发个短信给我", "我朋友让我打这个电话",
         "我不太清楚怎么说", "你们这边能查到记录吗", "我先问一下再说", "是这个号码吧",
         "麻烦帮我看看", "我等会儿还要开会", "你们是总部吗", "这个怎么弄啊")
CONNECTORS = ("", "", "而且", "就是", "还有", "关键是", "主要是")
AGENT_GREET = ("您好，{name}客服中心，工号{n}为您服务，请问有什么可以帮您？",
               "您好，很高兴为您服务，这里是{name}客服。")
AGENT_VERIFY = ("为了核实身份，请您提供一下预留手机号。", "好的，请您稍等，我这边帮您查询一下。",
                "非常抱歉给您带来不好的体验。")
AGENT_ECHO = ("您是说{x}，对吧？", "明白了，{x}，我这边给您登记一下。", "关于{x}这个问题，我马上帮您反馈。")
AGENT_CLOSE = ("感谢您的来电，祝您生活愉快，再见。", "请问还有其他问题吗？感谢您的耐心，再见。")
CUSTOMER_CLOSE = ("好的，谢谢。", "行，那我等你们消息。", "嗯，尽快吧。")

START = datetime(2026, 6, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
DAYS = 91


@dataclass(frozen=True)
class Shape:
    key: str
    said: tuple[int, int, int]  # weights of stating the reason in 1, 2, 3 turns
    top: tuple[float, float, float]  # shares of the three top reasons
    noise: float = 0.0  # share of calls with no clear reason
    side: float = 0.1  # share of calls with a side remark of a minor reason
    reply: float = 0.0  # share of reasoned calls where the agent answers the reason itself


SHAPES = (
    Shape("repeated", (2, 5, 3), (0.30, 0.24, 0.20)),
    Shape("once", (1, 0, 0), (0.30, 0.24, 0.20)),
    Shape("once+noise", (1, 0, 0), (0.28, 0.22, 0.18), noise=0.15),
    Shape("unequal", (4, 4, 2), (0.35, 0.25, 0.15), side=0.15),
    Shape("once-unequal", (1, 0, 0), (0.35, 0.25, 0.15), noise=0.10),
    # Said once, but the agent answers it (as in real calls): the old "once" shapes carry no
    # signal that ties two wordings sharing no word; these carry the agent's reply.
    Shape("once+reply", (1, 0, 0), (0.30, 0.24, 0.20), reply=0.8),
    Shape("once-un+reply", (1, 0, 0), (0.35, 0.25, 0.15), noise=0.10, reply=0.6),
)


def shares(domain: Domain, shape: Shape) -> dict[str, float]:
    """Each reason's share of all calls: the three top ones as the shape says, the rest of the
    reasoned calls split over the minor ones in falling steps."""
    keys = list(domain.reasons)
    out = dict(zip(keys[:3], shape.top))
    rest = 1.0 - shape.noise - sum(shape.top)
    minor = keys[3:]
    steps = [len(minor) - i + 1 for i in range(len(minor))]
    for k, s in zip(minor, steps):
        out[k] = rest * s / sum(steps)
    return out


def _said(rng: random.Random, phrase: str) -> str:
    return rng.choice(CONNECTORS) + phrase


def _call(rng: random.Random, domain: Domain, reason: str | None, shape: Shape) -> list[dict]:
    opening = rng.choice(domain.openings).format(name=domain.name)
    if reason is None:
        stated = rng.sample(NOISE, k=2)
    else:
        k = rng.choices((1, 2, 3), weights=shape.said)[0]
        stated = [_said(rng, p) for p in rng.sample(domain.reasons[reason], k=k)]
    customer = [f"你好，{opening}，{stated[0]}。"] + [s + "。" for s in stated[1:]]
    if reason is not None and rng.random() < shape.side:
        minor = [m for m in list(domain.reasons)[3:] if m != reason]
        customer.insert(rng.randrange(1, len(customer) + 1), f"另外{rng.choice(domain.reasons[rng.choice(minor)])}。")
    for filler in rng.sample(FILLERS, k=rng.choice((0, 1, 1, 2))):
        customer[rng.randrange(len(customer))] += filler + "！"
    if rng.random() < 0.08:
        customer[-1] += f"我手机是139{rng.randrange(10**8):08d}。"
    turns = [{"role": "agent", "text": rng.choice(AGENT_GREET).format(name=domain.name, n=rng.randrange(100, 999))}]
    for i, text in enumerate(customer):
        turns.append({"role": "customer", "text": text})
        if i == 0:
            verify = rng.choice(AGENT_VERIFY)
            if shape.reply:  # (old shapes draw nothing more: their corpora stay the same)
                own = REPLIES[domain.key].get(reason or "", ())
                answer = rng.choice(own) + "。" if own and rng.random() < shape.reply else rng.choice(GENERIC_REPLIES)
                verify += answer
            turns.append({"role": "agent", "text": verify})
        else:
            echo = stated[min(i, len(stated) - 1)]
            echo = next((echo[len(c):] for c in CONNECTORS if c and echo.startswith(c)), echo)
            turns.append({"role": "agent", "text": rng.choice(AGENT_ECHO).format(x=echo)})
    turns.append({"role": "customer", "text": rng.choice(CUSTOMER_CLOSE)})
    turns.append({"role": "agent", "text": rng.choice(AGENT_CLOSE)})
    return turns


def generate(domain: Domain, shape: Shape, *, seed: int, n: int) -> list[dict]:
    rng = random.Random(f"{domain.key}/{shape.key}/{seed}")
    labels: list[str | None] = []
    for key, share in shares(domain, shape).items():
        labels += [key] * round(share * n)
    labels += [None] * (n - len(labels)) if len(labels) < n else []
    labels = labels[:n]
    rng.shuffle(labels)
    out = []
    for i, reason in enumerate(labels):
        started = (START + timedelta(days=rng.uniform(0, DAYS))).astimezone(UTC)
        out.append({
            "conversation_id": f"{domain.key}-{shape.key}-{seed}-{i:06d}",
            "started_at": started,
            "turns": _call(rng, domain, reason, shape),
            "truth": reason,
        })
    return out


def truth_shares(corpus: list[dict]) -> dict[str, float]:
    counts = Counter(c["truth"] for c in corpus if c["truth"] is not None)
    return {k: v / len(corpus) for k, v in counts.most_common()}

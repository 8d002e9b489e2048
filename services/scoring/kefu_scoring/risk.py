"""Risk intent: tell a customer's *threat* (they will, or did, go to a regulator, the media, a
court, the police, or threaten harm) from a mere *mention* of the same words (DOMAIN.md §3
"Risk intent"). Pure functions, no I/O; every decision is explainable by the span it rests on.

Method (rules with scope, no model):

1. **Cues** are found with one Aho-Corasick automaton (`matcher.KeywordMatcher`, the scoring
   engine's) over the normalised text (`text.normalise`: NFKC, lower case; spans map back to
   the original characters), leftmost-longest. Hotline numbers are found as *digit runs*
   instead, so written, full-width and spoken forms are one: ``12315``, ``１２３１５``,
   ``1 2 3 1 5``, ``一二三一五``, ``幺二三幺五`` all read 12315; a run is a hotline only when
   its digits are exactly the number (``123456`` is not ``12345``).
2. Each cue has a kind (`KINDS`) and a role:

   * ``entity``: a body or channel (12315, 工信部, 记者, 微博, 律师, 派出所, FTC ...). A mention
     unless the clause also holds an **action** (打, 去, 找, 投诉, 发到, 联系, call, report ...)
     or it is followed by 见 (法院见);
   * ``act``: a threat by itself (起诉, 报警, 曝光, 法庭上见, 劳动仲裁, sue ...);
   * ``weak``: a complaint verb (投诉, 举报, 申诉, 差评, report ...) whose kind is that of an
     entity in the same clause (投诉到工信部: regulator), else its own default kind;
   * ``insult``: abuse (no action needed).
3. **Scope**: the text is cut into clauses (punctuation, 但是/不过/but ...). Inside its clause
   a cue's scope starts after the last consequence marker (就, 否则, then, I will ...) or at
   the last first person (我, I) before it, so in 你们不退款我就起诉 the 不 of the condition
   does not negate the threat. A cue is cancelled, with the reason, when its scope holds:

   * a **negation** (不会, 不是要, 没打算, 不想, 别, won't, not ...) -- or the words just after it
     do (12315我是不会打的);
   * a **question** asked for information (the clause ends with ?, or holds 什么/怎么/如何/
     吗/how/what ...) -- unless it is a threat put as a question (信不信, 是不是要我, 逼我,
     do you want me to ...);
   * a **hypothetical** or counterfactual (如果/万一/假如 without a consequence, 早知道, 本来想,
     if ...);
   * a **third party** as the subject (我朋友/有人/他们/my friend/someone ...) with no causative
     (让/请/帮我/have my ...);
   * a **withdrawal** (撤销投诉, 撤诉, 撤回, withdraw ...);
   * for hotline numbers, an **id context** (订单号/运单/工单/order/# before it, 元/号/件 after).

The result lists every cue with its verdict (`assess`) or only the threats (`threats`); a
threat's kind maps onto the escalation signal kinds with `SIGNAL_KIND` (police: legal,
complaint: other).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from kefu_scoring.matcher import KeywordMatcher, longest_non_overlapping
from kefu_scoring.text import normalise, normalise_keyword

__all__ = ["KINDS", "SIGNAL_KIND", "Verdict", "assess", "cue_words", "maybe_hotline", "only_risk_words", "threats", "threats_of", "without_risk_words"]

REGULATOR, MEDIA, LEGAL, POLICE, ABUSE, COMPLAINT = (
    "regulator", "media", "legal", "police", "abuse", "complaint"
)
KINDS = (REGULATOR, MEDIA, LEGAL, POLICE, ABUSE, COMPLAINT)
# Our kinds -> escalation's RaiseSignal kinds (regulator/media/legal go straight to L3).
SIGNAL_KIND = {REGULATOR: "regulator", MEDIA: "media", LEGAL: "legal", POLICE: "legal",
               ABUSE: "abuse", COMPLAINT: "other"}

ENTITY, ACT, WEAK, INSULT, VERB = "entity", "act", "weak", "insult", "verb"

# --- the lexicon (data; tune with the dev set, never with the held-out set) ------------------

_CUES: dict[tuple[str, str], str] = {
    (REGULATOR, ENTITY): """
        工信部 工业和信息化部 信息产业部 通信管理局 通管局 电信用户申诉受理中心 申诉受理中心 申诉中心
        银保监会 银保监局 银保监 银监会 银监局 保监会 保监局 金融监管总局 国家金融监督管理总局 金融监管局
        金融监督管理局 金管局 银行业协会 保险行业协会 证监会 证监局 证券业协会 基金业协会 人民银行 人行
        央行 中国人民银行 市场监管局 市场监督管理局 市场监管部门 市场监管 市监局 工商局 工商部门 工商
        物价局 发改委 市长热线 市长信箱 市民热线 政务服务热线 政务热线 政府热线 便民热线 上级部门 上级单位 监管单位
        邮政管理局 邮管局 国家邮政局 邮政局 消协 消费者协会 消保委 消委会 消费者权益保护委员会
        上级主管部门 主管部门 监管部门 监管机构 监管局 有关部门 相关部门 政府部门 政府 信访办 信访局 信访
        纪委 交通运输局 交通局 运管局 卫健委 卫生局 药监局 食药监 税务局 劳动监察 劳动监察大队 人社局
        教育局 住建局 网信办 商务局 旅游局 文旅局 民航局 铁路局 电力监管 能源局 统计局 质监局
        regulator regulators ftc bbb cfpb fcc ombudsman ofcom ofgem authorities
    """,
    (REGULATOR, WEAK): "举报 实名举报",
    (MEDIA, ENTITY): """
        媒体 新闻媒体 记者 电视台 报社 报纸 新闻 央视 焦点访谈 每周质量报告 315晚会 3·15晚会 3.15晚会
        三一五晚会 央视315 微博 抖音 快手 小红书 知乎 朋友圈 头条 今日头条 贴吧 百度贴吧 b站 哔哩哔哩
        微信群 公众号 视频号 大众点评 网上 网络上 网络 热搜 黑猫投诉 黑猫 21cn聊投诉 聊投诉 消费保 电诉宝
        人民网 领导留言板 人民网留言板 直播间 论坛 自媒体 网友
        press media journalist journalists reporter reporters newspaper newspapers news
        twitter facebook instagram tiktok reddit youtube online internet yelp trustpilot
    """,
    (MEDIA, ACT): """
        曝光 爆料 上热搜 发微博 发抖音 发帖 发朋友圈 发小红书 挂到网上 挂网上 公之于众 让全网 让大家都看看
        让大家看看 晒到网上 网上曝光 发到网上 发网上 传到网上 上头条 上新闻 上电视 拉横幅 揭露 tweet expose
    """,
    (MEDIA, WEAK): "差评 打差评 给差评",
    (LEGAL, ENTITY): """
        律师 律所 律师事务所 法院 法庭 法官 仲裁委 仲裁庭 劳动仲裁委 人民法院 消费者权益保护法
        lawyer lawyers attorney attorneys solicitor court courts judge
    """,
    (LEGAL, ACT): """
        起诉 上诉 诉讼 告你们 告你 告到 去告 告死你们 打官司 法庭上见 法院见 走法律途径 法律途径 法律手段
        法律程序 司法程序 司法途径 追究法律责任 追究你们的法律责任 追究责任 律师函 劳动仲裁 申请仲裁 仲裁 立案 公堂
        sue suing sued lawsuit
    """,
    (POLICE, ENTITY): """
        警察 派出所 公安 公安局 民警 警方 经侦 反诈中心 刑警 妖妖灵 police cops cop
    """,
    (POLICE, ACT): "报警 报案 做笔录 做了笔录 录口供",
    (ABUSE, ACT): """
        弄死你 杀了你 砍死你 打死你 宰了你 揍你 收拾你 找人收拾 找人弄 找人打 堵你 炸了你们 炸掉 放火 烧了你们
        同归于尽 跳楼 你等着瞧 走着瞧 你给我等着 给我等着 找上门 上门找你 去你们公司闹 闹到你们公司
        知道你住哪 弄你 砸了你们 砸你们 给我小心点 你小心点
    """,
    (ABUSE, INSULT): """
        傻逼 傻b 去死 混蛋 王八蛋 他妈的 妈的 神经病 白痴 脑子有病 废物 狗东西 蠢货 智障 脑残 贱人 滚蛋
        idiot idiots stupid moron morons fuck fucking bitch useless
    """,
    (COMPLAINT, WEAK): """
        投诉 申诉 反映 维权 投诉你们 投诉你 complain complaint
    """,
    (COMPLAINT, ENTITY): """
        投诉电话 投诉渠道 投诉方式 投诉热线 投诉邮箱 投诉入口 客诉 申诉网站 投诉网站 申诉渠道 申诉电话
        投诉记录 投诉进度 申诉进度 投诉平台 投诉页面 申诉页面
    """,
}
# Words that only look like cues: matched, then ignored (longest match wins).
_NOT_CUES = """
    曝光率 曝光度 曝光过度 曝光时间 报警器 报警灯 报警声 报警装置 报警系统 自动报警 新闻联播 网络信号
    网络不好 网络问题 网络卡 网络连接 没网络 无网络 网络延迟 网上银行 网上营业厅 网上办理 网上下单
    网上商城 工商银行 工商管理 政府补贴 头条新闻 诉讼费 法院判决书 投诉率 律师费 newsletter
    广告 报告 公告 告知 预告 警告 通告 打折 打开 打包 打扰 打印 打车 打卡 打算 发货 发票 发生 发现 出发
    头发 沙发 开发 发展 去年 过去 回去 出去 进去 失去 下去 上去 报道 报名 报价 报销 汇报 找到 让利
    打不开 打不通 打不进 挂电话 挂号 挂断
"""
# Action verbs an entity needs in its clause.
_VERBS = """
    打 拨 去 找 联系 投诉 举报 反映 申诉 告 报 发 写信 寄 交给 递交 提交 求助 请 叫 让 咨询 问问
    曝光 上诉 发到 发在 发上 放到 传到 挂到 晒到 转给 打电话 电话 打给 上报 通知 请教 委托 写 写了
    反馈给 告诉 捅 捅到 留言 等着 报告给 投稿 挂出来 挂在 挂到 让
    call calling called contact contacted report reported complain complained file filed
    tell told email emailed hire hired get consult take post posted share tweet upload lodge
    reporting contacting calling filing posting going
    escalate notify
"""

# --- scope words (regexes over the normalised clause) ----------------------------------------

_CLAUSE_BREAK = re.compile(
    r"[。.!?;；…\n,，]|但是|可是|不过|然而|只是|但|\bbut\b|\bhowever\b|\bthough\b|\balthough\b"
)
# Where a consequence starts (its scope begins after the marker) ...
_RESET = re.compile(
    r"就|才|否则|不然|要不然|那我|那么|只能|只好|逼得我|"
    r"\bthen\b|\botherwise\b|\bor else\b|\bor\b(?= i\b)|\bi will\b|\bi'll\b|\bi'm going to\b|"
    r"\bim going to\b|\bi am going to\b|\bwe will\b|\bwe'll\b|\bi have\b|\bi've\b|\bi already\b|"
    r"我会|我就|我要|我一定|我肯定|我马上|我立刻|我将|我只能|我必须|我决定"
)
# ... or at the last first person (inclusive).
_FIRST_PERSON = re.compile(r"我|\bi\b|\bwe\b")
_NEGATION = re.compile(
    r"不会|不是|不想|不打算|不准备|不用|不必|不需要|不至于|不再|不可能|不愿|没打算|没想|没有要|没要|没准备|"
    r"无意|绝不|从不|从没|从来没|并非|犯不着|没必要|没那个意思|没有(?![人办用结回下])|[不没别未]$|"
    r"不[去找打发报告投上曝起申举拨联写挂晒闹走]|没[去找打发报告投上曝起申举拨联写挂晒闹走说讲]|没有说|"
    r"别(?!逼|怪|让我|以为|人)|不要(?!逼|再|让我|以为)|"
    r"\bnot\b|n't\b|\bnever\b|\bno intention\b|\bno plan\b|\bno need\b|\bno reason\b|\bnor\b"
)
_NEGATION_AFTER = re.compile(
    r"^.{0,4}?(?:我|i)?.{0,2}?(?:是)?(?:不会|不打算|不想|没打算|不用|不去|不打|没必要|就算了|算了|"
    r"\bnot\b|n't\b|\bnever\b)"
)
_QUESTION = re.compile(
    r"什么|怎么|如何|哪里|哪儿|哪个|哪家|哪些|多少|多久|多长时间|几[天个号次]|是否|能否|可否|有没有|能不能|"
    r"可不可以|可以吗|会不会|是不是|吗|么$|呢$|请问|问一下|问问看|想问|想了解|了解一下|需要什么|谁|找谁|"
    r"\bwhat\b|\bwhat's\b|\bhow\b|\bwhere\b|\bwhich\b|\bwho\b|\bwhether\b|\bis there\b|\bare there\b|"
    r"\bcan i\b|\bcould i\b|\bdo i\b|\bdoes\b|\bshould i\b|\bis it\b|\bis that\b|\bwhat is\b"
)
# 让全网都知道你们是怎么对待消费者的: a question word inside what they will make known.
_INDIRECT = re.compile(r"知道|看看|看清|明白|了解|\bknow\b|\bsee\b")
# 可以打12315，是真的吗？: the sentence asks about the clause before it.
_TAG_QUESTION = re.compile(
    r"(?:是真的|对|是|可以|行|有用|管用|能行|好使|合法)吗|(?:right|is that right|is that true|correct)\b"
)
_THREAT_QUESTION = re.compile(
    r"信不信|是不是要我|是不是非要|是不是想让我|是不是逼我|非要我|难道要我|要不要我|逼我|想让我|还是要我|"
    r"看我敢不敢|你看我|\bdo you want me to\b|\bwant me to\b|\bshould i just\b|\bor do i have to\b|"
    r"\bor shall i\b|\bor should i\b|\bforcing me\b|\bmake me\b"
)
# A condition without its consequence (in the clause before the cue, after the last consequence
# marker): 如果我去12315投诉 asks, 如果你们不退我就投诉 threatens.
_HYPOTHETICAL = re.compile(
    r"如果|假如|假设|万一|要是|倘若|若是|比如说|打个比方|"
    r"\bif\b|\bin case\b|\bsuppose\b|\bsupposing\b|\bhypothetically\b|\bwhat if\b"
)
# What did not or will not happen, or was not meant (anywhere in the clause).
_COUNTERFACTUAL = re.compile(
    r"早知道|就好了|本来想|本想|原本想|原来想|差点|当初|当时要是|要是当时|曾经想|想过|考虑过|以为|开玩笑|"
    r"开个玩笑|说着玩|\bwould have\b|\bshould have\b|\bcould have\b|\balmost\b|\bjoking\b|"
    r"\bjust kidding\b|\bkidding\b"
)
_THIRD_PARTY = re.compile(
    r"朋友|同事|邻居|家人|亲戚|老公|老婆|爸|妈|儿子|女儿|哥|姐|弟|妹|别人|有人|他们|他|她|其他人|很多人|"
    r"一些人|不少人|大家|网友|客户们|其他客户|某些人|人家|听说|据说|听人说|"
    r"\bmy (?:friend|brother|sister|wife|husband|dad|father|mum|mom|mother|son|daughter|cousin|"
    r"neighbou?r|colleague|boss|uncle|aunt)s?\b|\bsomeone\b|\bsomebody\b|\bpeople\b|\bothers\b|"
    r"\ba friend\b|\bother customers\b|\bhe\b|\bshe\b|\bthey\b"
)
_CAUSATIVE = re.compile(r"让|叫|请|找|帮我|替我|托|陪我|\bhave my\b|\bget my\b|\bask my\b|\bmy (?:lawyer|attorney)\b")
_WITHDRAWN = re.compile(
    r"撤销|撤回|撤掉|撤诉|撤了|撤案|取消投诉|取消申诉|不追究|\bwithdr(?:aw|ew|awn|awing)\b|\bdrop (?:the|my) complaint\b|"
    r"\bcancel (?:the|my) complaint\b|\bretract\b"
)
_WITHDRAWABLE = frozenset({REGULATOR, LEGAL, COMPLAINT, POLICE, MEDIA})
# Hotline numbers (digits exactly), and what the number is when it is not a hotline.
_HOTLINES: dict[str, str] = {
    "12315": REGULATOR, "12345": REGULATOR, "12305": REGULATOR, "12300": REGULATOR,
    "12378": REGULATOR, "12386": REGULATOR, "12363": REGULATOR, "12331": REGULATOR,
    "12358": REGULATOR, "12333": REGULATOR, "12366": REGULATOR, "12328": REGULATOR,
    "12320": REGULATOR, "12326": REGULATOR, "315": MEDIA,
    "110": POLICE, "96110": POLICE, "911": POLICE, "999": POLICE,
}
_SPOKEN = "零〇一二三四五六七八九幺两"
_SPOKEN_TABLE = str.maketrans(_SPOKEN, "0012345678912")
_DIGIT = f"[0-9{_SPOKEN}]"
_DIGIT_RUN = re.compile(f"{_DIGIT}(?:[ ,、.·-]{{0,2}}{_DIGIT})*")
_ID_BEFORE = re.compile(
    r"(?:订单|单号|运单|快递|编号|工单|账号|帐号|卡号|尾号|会员|房间|房号|门牌|批次|型号|密码|验证码|序列号|"
    r"取件码|货号|第|no\.?|\border\b|\btracking\b|\bref\b|\breference\b|\baccount\b|\binvoice\b|"
    r"\bnumber\b|\bid\b|#)[^,.!?。]{0,4}$"
)
_ID_AFTER = re.compile(
    r"^\s?(?:元|块|号|个|件|次|分|米|斤|台|份|天|年|月|人|万|%|毛|角|楼|室|路|栋|单元|公里|\$|dollars?\b|"
    r"yuan\b|days?\b|km\b)"
)
# Pressed into it, not refusing: 别逼我报警, don't make me call the police.
_PRESSED = re.compile(r"逼我|逼得我|\bmake me\b|\bforce me\b|\bforcing me\b")
# Who someone is, not where a complaint goes: 我朋友是律师, I am a reporter.
_IDENTITY = re.compile(r"(?:是|当|做|作为)(?:一名|一个|个|名|位)?$|\b(?:am|is|are|was|as) an?$|\bis$")
_SEES = re.compile(r"^\s?(?:见|\bsee you\b)")


@dataclass(frozen=True)
class Verdict:
    """One cue of a text and what it is: a threat (`threat` True) or a mention, and why."""

    kind: str  # one of KINDS
    start: int  # [start, end) of the cue in the ORIGINAL text
    end: int
    cue: str  # the original text of the span
    threat: bool
    reason: str

    @property
    def signal_kind(self) -> str:
        return SIGNAL_KIND[self.kind]


@dataclass(frozen=True)
class _Cue:
    kind: str | None  # None: a verb
    role: str


@lru_cache(maxsize=1)
def _lexicon() -> tuple[KeywordMatcher, list[_Cue | None]]:
    words: dict[str, _Cue | None] = {}
    for (kind, role), text in _CUES.items():
        for word in text.split():
            words.setdefault(normalise_keyword(word), _Cue(kind, role))
    for word in _multi_words():
        words[normalise_keyword(word[1])] = word[0]
    for word in _NOT_CUES.split():
        words.setdefault(normalise_keyword(word), None)
    for word in _VERBS.split():
        words.setdefault(normalise_keyword(word), _Cue(None, VERB))
    keys = list(words)
    return KeywordMatcher(keys), [words[k] for k in keys]


# Multi-word English cues (split() above cuts them at spaces): (cue, phrase).
_MULTI: dict[tuple[str, str], tuple[str, ...]] = {
    (REGULATOR, ENTITY): ("federal trade commission", "better business bureau",
                          "consumer financial protection bureau", "trading standards",
                          "consumer protection", "attorney general", "citizens advice",
                          "consumer council"),
    (MEDIA, ENTITY): ("the press", "tv station", "social media"),
    (MEDIA, ACT): ("go public", "expose you", "tweet about", "post about", "leave a review",
                   "write a review", "bad review", "bad reviews", "one-star reviews",
                   "negative review", "negative reviews", "go viral", "tell everyone"),
    (MEDIA, WEAK): ("one-star review",),
    (LEGAL, ENTITY): ("small claims",),
    (LEGAL, ACT): ("legal action", "take you to court", "see you in court", "legal proceedings",
                   "class action", "cease and desist", "file a claim"),
    (POLICE, ENTITY): ("police station",),
    (POLICE, ACT): ("call the police", "call the cops", "file a police report", "police report"),
    (ABUSE, ACT): ("kill you", "hurt you", "find you", "come after you", "watch your back",
                   "you'll regret", "burn down"),
    (ABUSE, INSULT): ("screw you", "damn you"),
    (COMPLAINT, WEAK): ("report you", "file a complaint", "lodge a complaint", "escalate this"),
}
_MULTI_VERBS = ("in touch", "hear from", "hearing from", "spoken to", "spoke to", "let the", "go to", "going to", "write to", "wrote to", "talk to", "speak to", "reach out",
                "see you in")
_MULTI_NOT_CUES = ("online order", "online banking", "online store", "online shop",
                   "report card", "police officer's")


def _multi_words() -> list[tuple[_Cue | None, str]]:
    out: list[tuple[_Cue | None, str]] = []
    for (kind, role), phrases in _MULTI.items():
        out.extend((_Cue(kind, role), p) for p in phrases)
    out.extend((_Cue(None, VERB), p) for p in _MULTI_VERBS)
    out.extend((None, p) for p in _MULTI_NOT_CUES)
    return out


# --- assessment --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    start: int  # in the normalised text
    end: int
    cue: _Cue | None


# Three digits in a row (separators allowed): cheap to search, and most turns hold none.
_MAYBE_HOTLINE = re.compile(f"{_DIGIT}[ ,、.·-]{{0,2}}{_DIGIT}[ ,、.·-]{{0,2}}{_DIGIT}")


def maybe_hotline(normalised: str) -> bool:
    """Three digits in a row (separators allowed) in a normalised text: a hotline may be there."""
    return _MAYBE_HOTLINE.search(normalised) is not None


@lru_cache(maxsize=1)
def cue_words() -> tuple[str, ...]:
    """Every cue word but the verbs, normalised: a text holding none of them (and no hotline
    digits, `maybe_hotline`) holds no threat, so a caller with its own automaton can skip it."""
    matcher, cues = _lexicon()
    return tuple(w for w, c in zip(matcher.keywords, cues, strict=True) if c is not None and c.role != VERB)


def _hotlines(s: str) -> list[_Found]:
    found: list[_Found] = []
    if not _MAYBE_HOTLINE.search(s):
        return found
    for m in _DIGIT_RUN.finditer(s):
        run = m.group()
        digits = "".join(c for c in run if not (c in " ,、.·-")).translate(_SPOKEN_TABLE)
        kind = _HOTLINES.get(digits)
        if kind is None:
            continue
        start, end = m.start(), m.end()
        if start and s[start - 1].isascii() and s[start - 1].isalnum():
            continue  # part of an alphanumeric token (SF12345)
        if end < len(s) and s[end].isascii() and s[end].isalpha() and kind != MEDIA:
            continue
        found.append(_Found(start, end, _Cue(kind, ENTITY)))
    return found


def _is_id(s: str, start: int, end: int, clause_start: int) -> bool:
    before = s[max(clause_start, start - 12) : start]
    return bool(_ID_BEFORE.search(before) or _ID_AFTER.match(s[end : end + 6]))


def _clauses(s: str) -> list[tuple[int, int, str]]:
    """(start, end, the break that ended it) of every clause."""
    out = []
    pos = 0
    for m in _CLAUSE_BREAK.finditer(s):
        if m.start() > pos:
            out.append((pos, m.start(), m.group()))
        pos = m.end()
    if pos < len(s):
        out.append((pos, len(s), ""))
    return out


def _scope_starts(s: str, clause_start: int, cue_start: int) -> tuple[int, int]:
    """Where the cue's consequence starts (after the last consequence marker) and where its
    scope starts (that, or the last first person after it)."""
    head = s[clause_start:cue_start]
    consequence = 0
    for m in _RESET.finditer(head):
        consequence = max(consequence, m.end())
    # The scope starts at the last first person: in 你们不退款我就起诉 the 不 is theirs, in
    # 我不会因为这点小事就去法院 it is mine; without one, after the consequence marker.
    start = consequence
    for m in _FIRST_PERSON.finditer(head):
        start = m.start()
    return clause_start + consequence, clause_start + start


def _cancelled(s: str, f: _Found, clause: tuple[int, int, str], kind: str, rest: str) -> str:
    """Why the cue at `f` is a mention, or '' when it stands (`rest`: the clauses after the
    cue's clause in its sentence)."""
    c_start, c_end, brk = clause
    consequence, scope_start = _scope_starts(s, c_start, f.start)
    scope = s[scope_start : f.start]
    after = s[f.end : c_end]
    whole = s[c_start:c_end]
    if kind in _WITHDRAWABLE:
        m = _WITHDRAWN.search(whole) or _WITHDRAWN.search(rest)
        if m:
            return f"withdrawn ({m.group()})"
    m = _COUNTERFACTUAL.search(whole)
    if m:
        return f"not meant or did not happen ({m.group()})"
    m = _NEGATION.search(scope) or _NEGATION_AFTER.search(after)
    if m and not _PRESSED.search(scope):
        return f"negated ({m.group().strip()})"
    threat_q = _THREAT_QUESTION.search(whole)
    if not threat_q:
        if brk in ("?", "？"):
            return "question"
        m = _QUESTION.search(scope) or (None if _INDIRECT.search(after) else _QUESTION.search(after))
        if m:
            return f"question ({m.group()})"
        m = _TAG_QUESTION.match(rest.lstrip(" ,，"))
        if m:
            return f"question ({m.group().strip()})"
    m = _HYPOTHETICAL.search(s[consequence : f.start])
    if m and not threat_q:
        return f"hypothetical ({m.group()})"
    m = _THIRD_PARTY.search(scope)
    if m and not _CAUSATIVE.search(s[c_start : f.start]) and kind != ABUSE:
        return f"third party ({m.group()})"
    return ""


def assess(text: str) -> list[Verdict]:
    """Every risk cue in `text` with its verdict, in order of position."""
    if not text:
        return []
    norm = normalise(text)
    s = norm.text
    matcher, cues = _lexicon()
    spans = [(a, b, kid) for a, b, kid in matcher.find(s)]
    # Cues first (leftmost-longest among themselves), then verbs where no cue is: in 马上报警
    # the verb 上报 must not hide the cue 报警. A cue holding a hotline (3·15晚会) wins over it.
    words = [x for x in spans if cues[x[2]] is None or cues[x[2]].role != VERB]  # type: ignore[union-attr]
    # look-alikes (cue None) shadow verbs too: 打不开 is not 打, 报告给 is 报告给
    verbs = [x for x in spans if cues[x[2]] is None or cues[x[2]].role == VERB]  # type: ignore[union-attr]
    chosen = longest_non_overlapping(words)
    hot = [h for h in _hotlines(s) if not any(a <= h.start and h.end <= b for a, b, _ in chosen)]
    found: list[_Found] = list(hot)
    taken = [(h.start, h.end) for h in hot]
    for a, b, kid in chosen:
        if cues[kid] is not None and not any(a < e and st < b for st, e in taken):
            found.append(_Found(a, b, cues[kid]))
            taken.append((a, b))
    for a, b, kid in longest_non_overlapping(verbs):
        if cues[kid] is not None and not any(a < e and st < b for st, e in taken):
            found.append(_Found(a, b, cues[kid]))
    if not any(f.cue is not None and f.cue.role != VERB for f in found):
        return []
    found.sort(key=lambda f: f.start)
    out: list[tuple[_Found, bool, str]] = []
    dangling: list[int] = []  # entities of the previous clause that lacked an action
    for clause in _clauses(s):
        c_start, c_end, _ = clause
        inside = [f for f in found if c_start <= f.start and f.end <= c_end and f.cue is not None]
        rest = s[c_end : _sentence_end(s, c_end)]
        actions = [f for f in inside if f.cue is not None and f.cue.role in (VERB, ACT, WEAK)]
        entities = [f for f in inside if f.cue is not None and f.cue.role == ENTITY]
        adopted = False
        if dangling and actions and not entities:
            # 12315，我马上打: the entity of the clause before takes this clause's action
            act = actions[0]
            for i in dangling:
                f, _, _ = out[i]
                assert f.cue is not None and f.cue.kind is not None
                why = _cancelled(s, act, clause, f.cue.kind, rest)
                if not why:
                    out[i] = (f, True, f"threat (action '{s[act.start:act.end]}' in the next clause)")
                    adopted = True
        dangling = []
        entity_threat = adopted
        pending: list[tuple[_Found, bool, str]] = []
        for f in inside:
            cue = f.cue
            assert cue is not None
            if cue.role == VERB or cue.kind is None:
                continue
            kind = cue.kind
            if cue.role == ENTITY:
                if f in hot and _is_id(s, f.start, f.end, c_start):
                    pending.append((f, False, "mention: an id or amount, not a hotline"))
                    continue
                if _IDENTITY.search(s[c_start : f.start].rstrip()):
                    pending.append((f, False, "mention: who someone is"))
                    continue
                act = next((a for a in actions if a is not f), None)
                sees = _SEES.match(s[f.end : c_end])
                if act is None and not sees:
                    why = _cancelled(s, f, clause, kind, rest)
                    if not why and kind != COMPLAINT:
                        dangling.append(len(out) + len(pending))
                    pending.append((f, False, why or "mention: no action in its clause"))
                    continue
                reason = f"action '{s[act.start:act.end]}'" if act else "见"
            elif cue.role == WEAK:
                reason = "complaint verb"
            else:
                reason = "insult" if cue.role == INSULT else "the cue itself"
            why = _cancelled(s, f, clause, kind, rest)
            if why:
                pending.append((f, False, why))
                continue
            if cue.role == ENTITY and kind != COMPLAINT:
                entity_threat = True
            pending.append((f, True, f"threat ({reason})"))
        for f, threat, why in pending:
            assert f.cue is not None
            if threat and f.cue.role == WEAK and entity_threat:
                threat, why = False, "the verb of an entity's threat"
            out.append((f, threat, why))
    verdicts = []
    for f, threat, why in out:
        assert f.cue is not None and f.cue.kind is not None
        a, b = norm.span(f.start, f.end)
        verdicts.append(Verdict(f.cue.kind, a, b, text[a:b], threat, why))
    return verdicts


_SENTENCE_END = re.compile(r"[。.!?！？\n]")


def _sentence_end(s: str, pos: int) -> int:
    m = _SENTENCE_END.search(s, pos)
    return m.start() if m else len(s)


# Threats that name no channel: when the same text names one (我们走着瞧，法院见; 我要投诉，
#还要打12315), the channel is the kind and these are its words.
_GENERIC = frozenset({"走着瞧", "你等着瞧", "你给我等着", "给我等着"})


def threats(text: str) -> list[Verdict]:
    """The threats of `text` only (`assess`, verdicts that stand). A complaint, or a threat
    that names no channel, yields to a threat of a named channel in the same text."""
    found = [v for v in assess(text) if v.threat]
    if any(v.kind not in (COMPLAINT, ABUSE) for v in found):
        found = [v for v in found if v.kind != COMPLAINT and v.cue.lower() not in _GENERIC]
    return found


def only_risk_words(words: tuple[str, ...] | list[str]) -> bool:
    """Every word is a risk cue of the lexicon (or a hotline number): e.g. the cues that made
    an emotion negative were 12315 and 律师, nothing else."""
    if not words:
        return False
    matcher, cues = _lexicon()
    for word in words:
        key = normalise_keyword(word)
        if key in _HOTLINES:
            continue
        found = [cues[kid] for a, b, kid in matcher.find(key) if a == 0 and b == len(key)]
        if not any(c is not None and c.role != VERB for c in found):
            return False
    return True


def without_risk_words(text: str) -> str:
    """`text` with every risk cue (not verbs) and hotline number blanked out, same length."""
    norm = normalise(text)
    matcher, cues = _lexicon()
    spans = [(a, b) for a, b, kid in matcher.find(norm.text) if cues[kid] is not None and cues[kid].role != VERB]  # type: ignore[union-attr]
    spans += [(h.start, h.end) for h in _hotlines(norm.text)]
    out = list(text)
    for a, b in spans:
        start, end = norm.span(a, b)
        out[start:end] = " " * (end - start)
    return "".join(out)


@lru_cache(maxsize=4096)
def threats_of(text: str) -> tuple[Verdict, ...]:
    """`threats`, cached: the rules of one ruleset (one per kind) read the same turns."""
    return tuple(threats(text))

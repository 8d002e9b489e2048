"""Writes bench/data/pii_labelled.tsv: the team's labelled PII set (deterministic, seed 16).

    .venv/bin/python bench/data/make_pii_set.py

Each line: `kind<TAB>form<TAB>text` -- kind is phone, cn_id, bank_card, email, or `-` for a
text without personal data; form says how the number is written (plain, grouped, spoken,
spoken_comma, spoken_spaced, full_width, ...). Positives hold exactly one item, in sentences
a customer or agent says; negatives hold numbers that look like personal data and are not
(order and waybill numbers, amounts, dates, times, invalid checksums, lists). The numbers are
generated (valid checksums where valid is meant), so the labels are right by construction;
the sentences and the forms are ours.
"""

from __future__ import annotations

import random
from pathlib import Path

OUT = Path(__file__).with_name("pii_labelled.tsv")
SPOKEN = dict(zip("0123456789", "零一二三四五六七八九", strict=True))
SPOKEN_ALT = dict(zip("0123456789", "〇幺两三四五六七八九", strict=True))
FULL = {c: chr(ord(c) + 0xFEE0) for c in "0123456789"}
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def mobile(rng: random.Random) -> str:
    return "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))


def cn_id(rng: random.Random, valid: bool = True) -> str:
    area = rng.choice(["110105", "310104", "440305", "330106", "510107", "420102"])
    birth = f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    seq = f"{rng.randint(0, 999):03d}"
    first = area + birth + seq
    check = ID_CHECK[sum(int(d) * w for d, w in zip(first, ID_WEIGHTS, strict=True)) % 11]
    if not valid:
        check = rng.choice([c for c in "0123456789X" if c != check])
    return first + check


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def card(rng: random.Random, length: int = 16, valid: bool = True) -> str:
    body = rng.choice(["622202", "621700", "622848", "436742", "411111", "552300"])
    body += "".join(rng.choice("0123456789") for _ in range(length - 1 - len(body)))
    check = luhn_digit(body)
    if not valid:
        check = str((int(check) + rng.randint(1, 9)) % 10)
    return body + check


def groups(number: str, sizes: tuple[int, ...]) -> list[str]:
    out, pos = [], 0
    for size in sizes:
        out.append(number[pos : pos + size])
        pos += size
    if pos < len(number):
        out.append(number[pos:])
    return out


def spoken(number: str, table: dict[str, str] = SPOKEN) -> str:
    return "".join(table.get(c, c) for c in number)


def forms(number: str, sizes: tuple[int, ...], rng: random.Random) -> dict[str, str]:
    g = groups(number, sizes)
    return {
        "plain": number,
        "grouped": " ".join(g),
        "hyphen": "-".join(g),
        "full_width": "".join(FULL.get(c, c) for c in number),
        "spoken": spoken(number),
        "spoken_yao": spoken(number, SPOKEN_ALT),
        "spoken_comma": "，".join(spoken(x) for x in g),
        "spoken_comma_space": ", ".join(spoken(x) for x in g),
        "spoken_dun": "、".join(spoken(x) for x in g),
        "spoken_spaced": " ".join(spoken(number)),
        "spoken_group_space": " ".join(spoken(x) for x in g),
        "digits_comma": "，".join(g),
    }


PHONE_SENTENCES = ["我的电话是{}", "手机号{}，有事打给我", "您记一下，{}", "联系电话：{}，谢谢", "打我手机{}就行",
                   "My number is {}", "号码是{}，麻烦尽快回电"]
ID_SENTENCES = ["我的身份证号是{}", "身份证：{}", "证件号码{}", "ID number {}"]
CARD_SENTENCES = ["退款打到这张卡{}", "银行卡号是{}", "卡号{}，户名王丽", "Card number {}"]
EMAILS = ["wang.li@example.com", "zhang_san88@163.com", "kefu-test@qq.com", "li.ming@company.cn", "a.b+tag@gmail.com"]
EMAIL_SENTENCES = ["邮箱{}", "发到我邮箱 {} 就行", "my email is {}", "请联系 {}"]

NEGATIVES = [
    "订单号{order}什么时候发货", "运单号{waybill}，请帮我查一下", "快递单号是{waybill}", "一共{amount}元",
    "我买了{qty}件", "{date}下的单", "{time}给我回电话", "工单{ticket}处理到哪了", "我的会员号{member}",
    "订单号{luhn_order}一直没更新", "物流单号{id_like}显示已签收", "身份证号我记不清了，好像是{bad_id}",
    "卡号{bad_card}对吗", "价格是{thousands}元", "排名第{rank}", "一、二、三、四、五、六、七、八，都选好了",
    "型号{model}", "房间{room}", "验证码{code}", "密码别告诉别人", "发票号码{invoice}", "流水号{serial}",
    "Order {order} has not arrived", "Tracking number {waybill}", "It cost {thousands} dollars",
    "订单一二三，四五六，七八九", "两个人一起来的，三三两两", "第一二三号窗口", "{spoken_order}号订单",
]


def negative(rng: random.Random, template: str) -> str:
    digits = "0123456789"

    def run(n: int) -> str:
        return rng.choice("123456789") + "".join(rng.choice(digits) for _ in range(n - 1))

    luhn_order = card(rng, 16)  # a 16-digit order number that happens to pass Luhn
    return template.format(
        order=run(rng.choice([10, 12, 14, 16, 18, 20])), waybill="SF" + run(12), amount=run(rng.randint(2, 6)),
        qty=rng.randint(1, 20), date=f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        time=f"{rng.randint(8, 20)}:{rng.choice(['00', '30'])}", ticket="T" + run(8), member=run(8),
        luhn_order=luhn_order, id_like=run(18), bad_id=cn_id(rng, valid=False),
        bad_card=card(rng, 16, valid=False), thousands=f"{rng.randint(1, 99)},{run(3)},{run(3)}",
        rank=", ".join(rng.choice(digits) for _ in range(11)), model="KX-" + run(6), room=run(4),
        code=run(6), invoice=run(8), serial=run(20), spoken_order=spoken(run(6)),
    )


def main() -> None:
    rng = random.Random(16)
    lines = ["# kind\tform\ttext  (generated by make_pii_set.py; seed 16)"]
    for _ in range(12):
        number = mobile(rng)
        for form, written in forms(number, (3, 4, 4), rng).items():
            lines.append(f"phone\t{form}\t{rng.choice(PHONE_SENTENCES).format(written)}")
    for _ in range(4):
        number = rng.choice(["010", "021", "0755", "0571"]) + "".join(rng.choice("0123456789") for _ in range(8))
        area = 3 if number[1] in "12" else 4
        lines.append(f"phone\tlandline\t客服电话{number[:area]}-{number[area:]}")
        lines.append(f"phone\tlandline_spoken_comma\t座机{'，'.join(spoken(x) for x in groups(number, (area, 4)))}")
    for _ in range(8):
        number = cn_id(rng)
        for form in ("plain", "grouped", "full_width", "spoken", "spoken_comma", "spoken_spaced"):
            written = forms(number, (6, 8), rng)[form]
            lines.append(f"cn_id\t{form}\t{rng.choice(ID_SENTENCES).format(written)}")
    for _ in range(8):
        number = card(rng, rng.choice([16, 19]))
        for form in ("plain", "grouped", "hyphen", "spoken", "spoken_comma", "digits_comma"):
            written = forms(number, (4, 4, 4, 4), rng)[form]
            lines.append(f"bank_card\t{form}\t{rng.choice(CARD_SENTENCES).format(written)}")
    for email in EMAILS:
        for sentence in EMAIL_SENTENCES:
            lines.append(f"email\tplain\t{sentence.format(email)}")
    for _ in range(6):
        for template in NEGATIVES:
            lines.append(f"-\tnone\t{negative(rng, template)}")
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(lines) - 1} lines -> {OUT}")


if __name__ == "__main__":
    main()

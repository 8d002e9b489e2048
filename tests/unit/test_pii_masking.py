"""PII masking (issue 5, DOMAIN.md §3 "Privacy"): phones, resident IDs, bank cards, e-mail.

All data is fake. 11010519491231002X is the well-known public sample ID; other IDs
and cards are generated here with their checksums.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kefu_common.pii import BANK_CARD, CN_ID, EMAIL, PHONE, PiiSpan, find_pii, mask

SAMPLE_ID = "11010519491231002X"
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


# --- independent reference implementations (not imported from the module) ---------


def id_check(first17: str) -> str:
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS)) % 11]


def luhn_sum(digits: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10


def luhn_complete(payload: str) -> str:
    """Append the check digit that makes payload Luhn-valid."""
    return payload + str((10 - luhn_sum(payload + "0")) % 10)


def kinds(text: str) -> list[str]:
    return [s.kind for s in find_pii(text)]


# --- strategies ---------------------------------------------------------------------

# Chinese filler without any character that could be read as a digit (一, 两, 零 ...).
FILLER = st.text(alphabet="我的卡号是请帮查询谢，。：银行账户客服您好", max_size=8)


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    area = draw(st.integers(110000, 829999))
    year = draw(st.integers(1900, 2099))
    month = draw(st.integers(1, 12))
    day = draw(st.integers(1, 28))
    seq = draw(st.integers(0, 999))
    first17 = f"{area}{year:04d}{month:02d}{day:02d}{seq:03d}"
    return first17 + id_check(first17)


@st.composite
def luhn_cards(draw: st.DrawFn, length: int = 16) -> str:
    first = draw(st.sampled_from("3456"))
    rest = draw(st.text(alphabet="0123456789", min_size=length - 2, max_size=length - 2))
    return luhn_complete(first + rest)


@st.composite
def mobiles(draw: st.DrawFn) -> str:
    second = draw(st.sampled_from("3456789"))
    rest = draw(st.text(alphabet="0123456789", min_size=9, max_size=9))
    return "1" + second + rest


FRAGMENTS = st.one_of(
    FILLER,
    mobiles(),
    resident_ids(),
    luhn_cards(),
    st.just("一三八零零一三八零零零"),
    st.just("１３８００１３８０００"),
    st.just("138-0013-8000"),
    st.just("+86 138 0013 8000"),
    st.just("010-12345678"),
    st.just("kefu.test@example.com"),
    st.just("订单号20240513800138000123"),
    st.text(alphabet="0123456789 -+@.a一二三两幺零", max_size=20),
)
MIXED_TEXT = st.lists(FRAGMENTS, max_size=8).map("".join)


# --- phones ---------------------------------------------------------------------------


def test_mobile_number_is_masked_keeping_first_three_and_last_four() -> None:
    text = "请拨打13800138000联系我"
    assert find_pii(text) == [PiiSpan(PHONE, 3, 14, "13800138000")]
    assert mask(text) == "请拨打138****8000联系我"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("138-0013-8000", "138-****-8000"),
        ("138 0013 8000", "138 **** 8000"),
        ("+86 138 0013 8000", "+86 138 **** 8000"),
        ("+8613800138000", "+86138****8000"),
        ("0086-13800138000", "0086-138****8000"),
        ("座机010-12345678转", "座机010-****5678转"),
        ("(0755)12345678", "(0755)****5678"),
        ("（0755）12345678", "（0755）****5678"),
        ("0755-8888 6666", "0755-**** 6666"),
        ("+44 20 7946 0958", "+** ** **** 0958"),
        ("+14155552671", "+*******2671"),
    ],
)
def test_separated_and_prefixed_numbers_are_found(text: str, masked: str) -> None:
    spans = find_pii(text)
    assert [s.kind for s in spans] == [PHONE]
    assert mask(text) == masked


def test_order_numbers_are_not_mistaken_for_phones() -> None:
    for text in [
        "订单号20240513800138000123",  # 20 digits: too long for anything
        "流水号 138001380001",  # 12 digits: a phone plus one more digit
        "编号2024-13800138000",  # hyphen-joined to a longer number
        "13800138000-7",
        "共3件，金额1380元，第2单",
    ]:
        assert find_pii(text) == [], text
        assert mask(text) == text


# --- resident IDs ---------------------------------------------------------------------


def test_valid_resident_id_is_masked() -> None:
    assert id_check(SAMPLE_ID[:17]) == "X"  # the sample really is valid
    text = f"身份证号{SAMPLE_ID}。"
    assert find_pii(text) == [PiiSpan(CN_ID, 4, 22, SAMPLE_ID)]
    assert mask(text) == "身份证号**************002X。"
    assert mask(SAMPLE_ID.lower()) == "**************002x"
    assert mask("110105 19491231 002X") == "****** ******** 002X"


@given(resident_ids(), FILLER, FILLER)
def test_generated_resident_ids_are_found_and_keep_only_last_four(
    cn_id: str, before: str, after: str
) -> None:
    text = before + cn_id + after
    assert find_pii(text) == [PiiSpan(CN_ID, len(before), len(before) + 18, cn_id)]
    assert mask(text) == before + "*" * 14 + cn_id[-4:] + after


def test_resident_id_with_bad_checksum_is_not_an_id() -> None:
    bad = [SAMPLE_ID[:17] + c for c in "0123456789" if c != "X"]
    for candidate in bad:
        spans = find_pii(candidate)
        assert CN_ID not in [s.kind for s in spans]
        # ...but an 18-digit string may still be a card if (and only if) Luhn-valid
        expected = [BANK_CARD] if luhn_sum(candidate) == 0 else []
        assert [s.kind for s in spans] == expected, candidate
    assert any(luhn_sum(c) == 0 for c in bad)  # the card branch was really exercised


def test_resident_id_with_impossible_birth_date_is_not_an_id() -> None:
    for first17 in ["11010519490230002", "11010519000229002", "11010519491331002"]:
        cn_id = first17 + id_check(first17)  # correct checksum, impossible date
        assert CN_ID not in kinds(cn_id)
    leap = "11010520000229002"  # 2000-02-29 exists
    assert kinds(leap + id_check(leap)) == [CN_ID]


def test_overlap_prefers_resident_id_over_bank_card() -> None:
    def ids() -> Iterator[str]:
        for seq in range(1000):
            first17 = f"11010519900101{seq:03d}"
            yield first17 + id_check(first17)

    both = next(i for i in ids() if i[-1] != "X" and luhn_sum(i) == 0)
    assert kinds(both) == [CN_ID]
    assert mask(both) == "*" * 14 + both[-4:]


# --- bank cards -----------------------------------------------------------------------


def test_luhn_valid_card_is_masked_and_invalid_is_left() -> None:
    assert mask("卡号4111 1111 1111 1111。") == "卡号**** **** **** 1111。"
    assert mask("卡号4111-1111-1111-1111") == "卡号****-****-****-1111"
    card19 = luhn_complete("622202123456789012")
    assert mask(card19) == "*" * 15 + card19[-4:]
    wrong_check = card19[:-1] + str((int(card19[-1]) + 1) % 10)
    for invalid in ["4111 1111 1111 1112", "4111111111111112", wrong_check]:
        assert find_pii(invalid) == [], invalid
    assert mask("4111111111111112") == "4111111111111112"


@given(luhn_cards(), FILLER, FILLER, st.booleans())
def test_generated_luhn_card_embedded_in_chinese_text_is_masked(
    card: str, before: str, after: str, grouped: bool
) -> None:
    shown = " ".join(card[i : i + 4] for i in range(0, 16, 4)) if grouped else card
    text = before + shown + after
    masked = mask(text)
    assert len(masked) == len(text)
    region = masked[len(before) : len(before) + len(shown)]
    digits_left = [c for c in region if c.isdigit()]
    assert digits_left == list(card[-4:])  # nothing of the first 12 survives
    assert masked[: len(before)] == before and masked[len(before) + len(shown) :] == after


# --- e-mail ---------------------------------------------------------------------------


def test_email_is_masked() -> None:
    assert mask("zhang.san@example.com") == "z***@example.com"
    assert mask("联系邮箱：kefu_01@corp.example.cn，谢谢") == "联系邮箱：k***@corp.example.cn，谢谢"
    assert mask("发到 a@b.co.") == "发到 a***@b.co."
    # a QQ-style mail whose local part is a phone number is one e-mail, not a phone
    assert kinds("13800138000@qq.com") == [EMAIL]
    assert mask("13800138000@qq.com") == "1***@qq.com"
    assert find_pii("not an email: a@b, @example.com, x@y.c") == []


# --- normalisation ----------------------------------------------------------------------


def test_spoken_chinese_digits_are_normalised_and_masked_in_the_original_text() -> None:
    text = "我的电话是一三八零零一三八零零零"
    assert find_pii(text) == [PiiSpan(PHONE, 5, 16, "一三八零零一三八零零零")]
    assert mask(text) == "我的电话是一三八****八零零零"
    # 幺 = 1, 两 = 2, 〇 = 0, spoken groups separated by spaces
    assert mask("号码幺三八 〇〇幺三 八两两两") == "号码幺三八 **** 八两两两"
    assert kinds("身份证一一〇一〇五一九四九一二三一〇〇二X") == [CN_ID]
    # ordinary prose with number words is not turned into digits
    for prose in ["两个人一起来", "一二三四五六", "三三两两", "第一二三号窗口"]:
        assert find_pii(prose) == [] and mask(prose) == prose


def test_full_width_digits_are_found() -> None:
    text = "电话：１３８００１３８０００"
    assert find_pii(text) == [PiiSpan(PHONE, 3, 14, "１３８００１３８０００")]
    assert mask(text) == "电话：１３８****８０００"
    assert mask("ｋｅｆｕ＠ｅｘａｍｐｌｅ．ｃｏｍ") == "ｋ***＠ｅｘａｍｐｌｅ．ｃｏｍ"
    assert kinds("１１０１０５１９４９１２３１００２Ｘ") == [CN_ID]


# --- properties over mixed text -------------------------------------------------------


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(MIXED_TEXT)
def test_find_pii_spans_point_at_original_text(text: str) -> None:
    spans = find_pii(text)
    for s in spans:
        assert s.kind in {PHONE, CN_ID, BANK_CARD, EMAIL}
        assert 0 <= s.start < s.end <= len(text)
        assert text[s.start : s.end] == s.text
    for a, b in zip(spans, spans[1:]):
        assert a.end <= b.start  # sorted and non-overlapping


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(MIXED_TEXT)
def test_mask_is_idempotent(text: str) -> None:
    once = mask(text)
    assert mask(once) == once
    assert find_pii(once) == []


def test_mask_is_idempotent_on_known_examples() -> None:
    for text in [
        "请拨打13800138000联系我",
        f"身份证{SAMPLE_ID}，卡号4111 1111 1111 1111，邮箱zhang.san@example.com",
        "我的电话是一三八零零一三八零零零",
        "13800138000 1234 5678 9",
    ]:
        assert mask(mask(text)) == mask(text)


def test_mask_runs_until_no_pii_is_left() -> None:
    # Masking the phone frees its kept tail "8000", which then starts the Luhn-valid
    # 13-digit card "8000 1234 5678 4"; a single pass would leave that card readable.
    text = "13800138000 1234 5678 4"
    assert kinds(text) == [PHONE]
    assert mask(text) == "138******** **** *678 4"
    assert find_pii(mask(text)) == []


def test_text_without_pii_is_returned_unchanged() -> None:
    text = "您好，请问有什么可以帮您？订单已于2026-11-23 09:00发货，运费12元。"
    assert find_pii(text) == []
    assert mask(text) == text


# --- spoken digits read out in groups or one by one (issue 16, issue 14 item 10) ------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("电话一三八，一二三四，五六七八", "电话一三八，****，五六七八"),
        ("电话一三八, 一二三四, 五六七八", "电话一三八, ****, 五六七八"),
        ("电话一三八、一二三四、五六七八", "电话一三八、****、五六七八"),
        ("号码是一 三 八 一 二 三 四 五 六 七 八", "号码是一 三 八 * * * * 五 六 七 八"),
        ("幺三八，幺二三四，五六七八", "幺三八，****，五六七八"),
        ("手机138，1234，5678", "手机138，****，5678"),
    ],
)
def test_phone_read_aloud_with_commas_or_spaces_between_digits_is_masked(text: str, masked: str) -> None:
    assert [p.kind for p in find_pii(text)] == [PHONE]
    assert mask(text) == masked


def test_resident_id_and_card_read_aloud_in_groups_are_masked() -> None:
    assert kinds("身份证一一〇一〇五，一九四九一二三一，〇〇二X") == [CN_ID]
    assert kinds("卡号4111，1111，1111，1111") == [BANK_CARD]


@pytest.mark.parametrize(
    "text",
    ["一共13,800,138,000元", "一、二、三、四、五、六、七、八", "第1, 3, 8, 1, 2, 3, 4, 5, 6, 7, 8名",
     "订单一二三，四五六，七八九", "价格1, 299元"],
)
def test_separated_numbers_that_are_not_personal_data_are_left_alone(text: str) -> None:
    assert find_pii(text) == [] and mask(text) == text


def test_number_named_as_an_order_number_is_not_a_card_or_phone() -> None:
    assert find_pii("订单号6228481382639735一直没更新") == []  # Luhn-valid by chance
    assert find_pii("Order 13800138000 has not arrived") == []
    # a word for personal data in between: it is the customer's phone
    assert kinds("订单上的电话13800138000") == [PHONE]
    assert kinds("卡号6228481382639735") == [BANK_CARD]


def test_masking_can_be_limited_to_some_kinds() -> None:
    text = "身份证11010519491231002X，电话13800138000，卡4111111111111111"
    only = mask(text, kinds=frozenset({CN_ID, BANK_CARD}))
    assert "13800138000" in only and "11010519491231002X" not in only and "4111111111111111" not in only
    assert mask(text, kinds=frozenset({PHONE, CN_ID, BANK_CARD, EMAIL})) == mask(text)


def test_separated_digits_with_an_impossible_birth_date_are_no_resident_id() -> None:
    # found by the property test: the date is checked before the checksum, month 13 included
    assert find_pii("0000 0000 0013 000000") == []
    assert find_pii("一一〇一〇五，一九四九一三三一，〇〇二X") == []

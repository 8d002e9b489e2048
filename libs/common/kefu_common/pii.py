"""PII detection and masking (DOMAIN.md §3 "Privacy", §5; issues 5, 14, 16): one implementation
for every service -- scoring masks stored transcripts and evidence, the gateway masks what
partners and customers see.

Pure functions, no I/O, stdlib only (``re``, ``bisect``, ``dataclasses``). Four kinds are detected:

* ``phone``     -- mainland mobiles ``1[3-9]`` + 9 digits (optional ``+86``/``0086``
  prefix, 3-4-4 grouping with spaces or hyphens), landlines with an area code
  (``010-12345678``, ``(0755)12345678``) and international E.164 (``+`` and 8..15
  digits, single spaces/hyphens allowed between digits).
* ``cn_id``     -- 18-character resident ID: 17 digits + check char (0-9/X/x), a real
  birth date (1900-2099) at positions 7-14 and a valid ISO 7064 MOD 11-2 checksum.
  Optional single space/hyphen between the 6-8-4 blocks.
* ``bank_card`` -- 13..19 digits, contiguous or grouped in fours, Luhn-valid only.
* ``email``     -- pragmatic RFC 5322 subset: ASCII ``local@label.label.tld``.

Numbers never match inside a longer number: a match may not touch a digit, nor a
digit joined to it by a hyphen (``2024-13800138000`` is one token, not a phone).

Before matching, the text is normalised *length-preservingly* (every character is
replaced by exactly one character), so a position in the normalised text is the
same position in the original text -- the index map is the identity by
construction and every span refers to the ORIGINAL characters:

* full-width ASCII (``１３８``, ``＠``, ``（``, ``－``) and the ideographic space;
* spoken/Chinese digits ``零〇一二三四五六七八九`` plus ``幺`` (=1) and ``两`` (=2),
  but only inside a digit run (digits joined by at most two spaces, hyphens, commas or
  ``、``) that holds at least seven digits, so prose such as ``两个`` or ``一二三`` is
  untouched.

Numbers read aloud in groups or digit by digit (``一三八，一二三四，五六七八``,
``一 三 八 一 二 …``, ``138，1234，5678``) are recognised from their digits alone: a run
of digits with such separators is a phone, resident ID or card when its digits are one
(mobile, landline with area code, checksum-valid ID, Luhn-valid card). Amounts with
thousands separators (``13,800,138,000``) and lists of single digits (``1, 3, 8, …``)
are not.

Mask formats (``mask``): a masked character becomes ``*``; kept characters and
separators (spaces, hyphens, ``+``, parentheses) keep their original glyph, so
spoken and full-width digits are masked in place, digit by digit:

* mobile     keep prefix + first 3 + last 4   ``138****8000``, ``+86 138 **** 8000``,
             ``一三八****八零零零``
* landline   keep area code + last 4          ``010-****5678``, ``(0755)****5678``
* E.164      keep ``+`` and last 4 digits     ``+** ** **** 0958``
* cn_id      keep last 4 (incl. check char)   ``**************002X``
* bank_card  keep last 4                      ``**** **** **** 1111``
* email      first char + ``***`` + ``@domain``  ``z***@example.com``

``mask`` repeats until nothing detectable remains, so ``mask(mask(x)) == mask(x)``
and ``find_pii(mask(x)) == []``. Only e-mail masking changes the text length.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

__all__ = ["BANK_CARD", "CN_ID", "EMAIL", "PHONE", "PiiSpan", "find_pii", "mask"]

PHONE = "phone"
CN_ID = "cn_id"
BANK_CARD = "bank_card"
EMAIL = "email"

MASK_CHAR = "*"


@dataclass(frozen=True)
class PiiSpan:
    kind: str  # "phone" | "cn_id" | "bank_card" | "email"
    start: int  # character span in the ORIGINAL text
    end: int
    text: str


# --- normalisation (1 character -> 1 character) ---------------------------------

_FULL_WIDTH = {0xFF01 + i: chr(0x21 + i) for i in range(94)}  # ！..～ -> !..~
_FULL_WIDTH[0x3000] = " "  # ideographic space

_CN_DIGITS = "零〇一二三四五六七八九幺两"
_CN_TABLE = str.maketrans(_CN_DIGITS, "0012345678912")
_DIGIT_LIKE = "[0-9" + _CN_DIGITS + "]"
# Digits joined by at most two separators: a space, a hyphen, or (read aloud in groups) a
# comma or 、 (full-width commas are ASCII by then).
_GROUP_SEPARATORS = " ,、-"
_DIGIT_RUN = re.compile(f"{_DIGIT_LIKE}(?:[{_GROUP_SEPARATORS}]{{0,2}}{_DIGIT_LIKE})*")
_MIN_SPOKEN_RUN = 7  # shortest PII we look for is a 7-digit landline local number


def _normalise_run(m: re.Match[str]) -> str:
    run = m.group()
    digits = sum(c not in _GROUP_SEPARATORS for c in run)
    if digits >= _MIN_SPOKEN_RUN and any(c in _CN_DIGITS for c in run):
        return run.translate(_CN_TABLE)
    return run


def _normalise(text: str) -> str:
    return _DIGIT_RUN.sub(_normalise_run, text.translate(_FULL_WIDTH))


# --- patterns (run on normalised text; re.ASCII so \d can never mean ٣ etc.) ------

_NUM_START = r"(?<![0-9])(?<![0-9]-)"
_NUM_END = r"(?![0-9])(?!-[0-9])"

_MOBILE = re.compile(
    _NUM_START + r"(?:(?:\+|00)86[ -]?)?1[3-9][0-9][ -]?[0-9]{4}[ -]?[0-9]{4}" + _NUM_END
)
_AREA = r"0(?:10|2[0-9]|[3-9][0-9]{2})"
_LANDLINE = re.compile(
    _NUM_START
    + rf"(?:\((?P<a1>{_AREA})\)[ -]?|(?P<a2>{_AREA})[ -]?)[0-9]{{3,4}}[ -]?[0-9]{{4}}"
    + _NUM_END
)
_E164 = re.compile(_NUM_START + r"\+[1-9](?:[ -]?[0-9]){7,14}" + _NUM_END)
_CN_ID = re.compile(
    _NUM_START
    + r"[1-9][0-9]{5}[ -]?(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
    + r"[ -]?[0-9]{3}[0-9Xx]"
    + _NUM_END
)
_CARD_PLAIN = re.compile(_NUM_START + r"[0-9]{13,19}" + _NUM_END)
_CARD_GROUPED = re.compile(_NUM_START + r"(?:[0-9]{4}[ -]){2,4}[0-9]{1,4}" + _NUM_END)
# A number read out in groups or digit by digit (一三八，一二三四，五六七八; 1 3 8 1 2 ...): a
# run of digits with separators, tested as the digits alone (`_separated`).
_SEPARATED_RUN = re.compile(
    _NUM_START + r"[0-9](?:[ ,、-]{1,2}[0-9]|[0-9])*(?:[ ,、-]{0,2}[Xx])?" + r"(?![0-9])"
)
_THOUSANDS = re.compile(r"[0-9]{1,3}(?:, ?[0-9]{3})+")
_MOBILE_DIGITS = re.compile(r"(?:86)?1[3-9][0-9]{9}")
_LANDLINE_DIGITS = re.compile(r"0(?:10|2[0-9]|[3-9][0-9]{2})[0-9]{7,8}")
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])"
    r"[A-Za-z0-9_%+-](?:[A-Za-z0-9._%+-]*[A-Za-z0-9_%+-])?"  # no '*': keeps masks inert
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}"
    r"(?![A-Za-z0-9-])",
    re.ASCII,
)

# --- validators --------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def cn_id_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for the first 17 digits of a resident ID."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def _is_valid_cn_id(chars: str) -> bool:
    year, month, day = int(chars[6:10]), int(chars[10:12]), int(chars[12:14])
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = 29 if month == 2 and leap else _MONTH_DAYS[month - 1]
    return day <= days and cn_id_check_char(chars[:17]) == chars[17].upper()


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _significant(s: str) -> str:
    return "".join(c for c in s if c.isascii() and c.isalnum())


# --- candidates and selection ------------------------------------------------------


@dataclass(frozen=True)
class _Match:
    start: int
    end: int
    kind: str
    rank: int  # tie-break between equally long overlapping matches
    head: int = 0  # significant characters kept at the front
    tail: int = 4  # ... and at the back


def _candidates(norm: str) -> list[_Match]:
    found: list[_Match] = []
    for m in _CN_ID.finditer(norm):
        if _is_valid_cn_id(_significant(m.group())):
            found.append(_Match(m.start(), m.end(), CN_ID, 5))
    for pattern in (_CARD_PLAIN, _CARD_GROUPED):
        for m in pattern.finditer(norm):
            digits = _significant(m.group())
            if 13 <= len(digits) <= 19 and luhn_valid(digits):
                found.append(_Match(m.start(), m.end(), BANK_CARD, 4))
    for m in _EMAIL.finditer(norm):
        found.append(_Match(m.start(), m.end(), EMAIL, 3))
    for m in _MOBILE.finditer(norm):
        digits = len(_significant(m.group()))
        found.append(_Match(m.start(), m.end(), PHONE, 2, head=digits - 8))
    for m in _LANDLINE.finditer(norm):
        area = m.group("a1") or m.group("a2")
        found.append(_Match(m.start(), m.end(), PHONE, 2, head=len(area)))
    for m in _E164.finditer(norm):
        found.append(_Match(m.start(), m.end(), PHONE, 1))
    return found


def _separated(norm: str) -> list[_Match]:
    """Numbers with separators the patterns above do not take (commas, 、, one per digit),
    recognised from their digits alone; an amount with thousands separators is not one."""
    found: list[_Match] = []
    for m in _SEPARATED_RUN.finditer(norm):
        run = m.group()
        if not any(c in _GROUP_SEPARATORS for c in run) or _THOUSANDS.fullmatch(run):
            continue
        if "," in run and all(len(g) == 1 for g in re.split(r"[ ,、-]+", run)):
            continue  # 1, 3, 8, 1, ...: a list of numbers, not one number
        chars = _significant(run)
        if len(chars) < 10:
            continue
        start, end = m.start(), m.end()
        if len(chars) == 18 and _CN_ID.fullmatch(chars) and _is_valid_cn_id(chars):
            found.append(_Match(start, end, CN_ID, 5))
        elif not chars.isdigit():
            continue
        elif 13 <= len(chars) <= 19 and luhn_valid(chars):
            found.append(_Match(start, end, BANK_CARD, 4))
        elif _MOBILE_DIGITS.fullmatch(chars):
            found.append(_Match(start, end, PHONE, 2, head=len(chars) - 8))
        elif _LANDLINE_DIGITS.fullmatch(chars):
            area = 3 if chars[:2] in ("01", "02") else 4
            found.append(_Match(start, end, PHONE, 2, head=area))
    return found


# A number named as an order, waybill or ticket number just before it is not a card or phone
# (a 16-digit order number passes Luhn one time in ten) -- unless a word for personal data
# comes between (订单上的电话 13800138000).
_ID_CONTEXT = re.compile(
    r"(?:订单|单号|运单|快递单|物流单|工单|编号|流水号|发票|\border\b|\btracking\b|\binvoice\b|\bref\b)"
    r"(?:(?!电话|手机|号码|卡|身份证|phone|mobile|card).){0,4}$",
    re.IGNORECASE,
)


def _named_as_an_id(norm: str, m: _Match) -> bool:
    return m.kind in (PHONE, BANK_CARD) and bool(_ID_CONTEXT.search(norm[max(0, m.start - 12) : m.start]))


def _select(norm: str) -> list[_Match]:
    """Longest match wins an overlap; equal lengths go to cn_id > bank_card > email > phone."""
    chosen: list[_Match] = []  # kept sorted by start; never overlapping, so also by end
    starts: list[int] = []
    candidates = [c for c in _candidates(norm) + _separated(norm) if not _named_as_an_id(norm, c)]
    for c in sorted(candidates, key=lambda c: (c.start - c.end, -c.rank, c.start)):
        i = bisect_right(starts, c.start)
        if (i == 0 or chosen[i - 1].end <= c.start) and (i == len(chosen) or c.end <= starts[i]):
            chosen.insert(i, c)
            starts.insert(i, c.start)
    return chosen


def find_pii(text: str) -> list[PiiSpan]:
    """Non-overlapping PII spans, sorted by start, indexing the ORIGINAL text."""
    matches = _select(_normalise(text))
    return [PiiSpan(m.kind, m.start, m.end, text[m.start : m.end]) for m in matches]


# --- masking -----------------------------------------------------------------------


def _mask_one(original: str, norm: str, m: _Match) -> str:
    if m.kind == EMAIL:
        at = norm.index("@")
        return original[0] + MASK_CHAR * 3 + original[at:]
    positions = [i for i, c in enumerate(norm) if c.isascii() and c.isalnum()]
    hidden = set(positions[m.head : len(positions) - m.tail])
    return "".join(MASK_CHAR if i in hidden else ch for i, ch in enumerate(original))


def _mask_once(text: str, kinds: frozenset[str] | None) -> str:
    norm = _normalise(text)
    out: list[str] = []
    pos = 0
    for m in _select(norm):
        if kinds is not None and m.kind not in kinds:
            continue
        out.append(text[pos : m.start])
        out.append(_mask_one(text[m.start : m.end], norm[m.start : m.end], m))
        pos = m.end
    out.append(text[pos:])
    return "".join(out)


def mask(text: str, kinds: frozenset[str] | None = None) -> str:
    """Mask every detected PII span (formats in the module docstring), or only those of
    `kinds` (e.g. ``{CN_ID, BANK_CARD}`` for what a customer may not read back).

    Masking runs to a fixed point: hiding digits can uncover a new candidate (the
    kept tail of a phone followed by more digits may now start a Luhn-valid card),
    so the result is re-scanned until nothing detectable remains. Every pass turns
    at least one digit into ``*`` or masks an e-mail (which cannot match again), so
    this terminates.
    """
    current = text
    while True:
        masked = _mask_once(current, kinds)
        if masked == current:
            return current
        current = masked

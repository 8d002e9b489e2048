"""PII detection on the team's own labelled set (not a test, not a benchmark).

    .venv/bin/python bench/eval_pii.py [--show-errors]

Set: bench/data/pii_labelled.tsv (written by bench/data/make_pii_set.py): phones, resident IDs,
bank cards and e-mails in the forms customers and agents say them -- plain, grouped, full-width,
spoken (一三八…, 幺), spoken in groups with commas or 、 (一三八，一二三四，五六七八), one
digit at a time (一 三 八 …) -- and texts without personal data that look like it (order and
waybill numbers, amounts, dates, lists, invalid checksums).

* system   = `kefu_common.pii.find_pii` (what every service masks with).
* baseline = bare regexes over ASCII digits: 11-digit mobiles, 17 digits + check character,
             13-19 digits, e-mail addresses (no checksum, no spoken or separated forms).

Recall: the item of a positive line found with its kind and covering the number; false
positives: negative lines where anything is found. Per form and overall. Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "libs" / "common"))

from kefu_common.pii import find_pii  # noqa: E402

SET = ROOT / "bench" / "data" / "pii_labelled.tsv"
TARGETS = {"recall": 0.99, "false_positive_rate": 0.02}
_BASELINE = (
    ("phone", re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")),
    ("cn_id", re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")),
    ("bank_card", re.compile(r"(?<![0-9])[0-9]{13,19}(?![0-9])")),
    ("email", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")),
)


def baseline(text: str) -> list[tuple[str, int, int]]:
    found: list[tuple[str, int, int]] = []
    for kind, pattern in _BASELINE:
        for m in pattern.finditer(text):
            if not any(s < m.end() and m.start() < e for _, s, e in found):
                found.append((kind, m.start(), m.end()))
    return found


def system(text: str) -> list[tuple[str, int, int]]:
    return [(p.kind, p.start, p.end) for p in find_pii(text)]


def load() -> list[tuple[str, str, str]]:
    rows = []
    for line in SET.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            kind, form, text = line.split("\t", 2)
            rows.append((kind, form, text))
    return rows


_DIGITISH = re.compile(r"[0-9０-９零〇一二三四五六七八九幺两Xx@.\w]")


def _item_span(text: str) -> tuple[int, int]:
    """The span of the one item in a positive line: from its first to its last digit-like
    character, separators included (sentences around it hold none)."""
    # the item is the longest run of digit-like characters joined by separators
    best = (0, 0)
    for m in re.finditer(r"[0-9０-９零〇一二三四五六七八九幺两](?:[ ,，、\-]{0,2}[0-9０-９零〇一二三四五六七八九幺两Xx])*"
                         r"|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+", text):
        if m.end() - m.start() > best[1] - best[0]:
            best = (m.start(), m.end())
    return best


def measure(rows: list[tuple[str, str, str]], detect, errors: list[str] | None = None) -> dict:  # type: ignore[no-untyped-def]
    per_form: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # found, total
    fp = negatives = 0
    for kind, form, text in rows:
        found = detect(text)
        if kind == "-":
            negatives += 1
            if found:
                fp += 1
                if errors is not None:
                    errors.append(f"false {found}: {text}")
            continue
        start, end = _item_span(text)
        ok = any(k == kind and s <= start + 1 and e >= end - 1 for k, s, e in found)
        per_form[f"{kind}/{form}"][0] += ok
        per_form[f"{kind}/{form}"][1] += 1
        if not ok and errors is not None:
            errors.append(f"miss  {kind}/{form} got {found}: {text}")
    hit = sum(v[0] for v in per_form.values())
    total = sum(v[1] for v in per_form.values())
    return {"positives": total, "negatives": negatives, "recall": hit / total if total else 0.0,
            "false_positive_rate": fp / negatives if negatives else 0.0,
            "per_form": {k: round(v[0] / v[1], 3) for k, v in sorted(per_form.items())}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()
    rows = load()
    errors: list[str] = []
    ours = measure(rows, system, errors)
    base = measure(rows, baseline)
    print(f"{'form':34} {'baseline':>8} {'system':>8}")
    print("-" * 52)
    for form in ours["per_form"]:
        print(f"{form:34} {base['per_form'][form]:>8.3f} {ours['per_form'][form]:>8.3f}")
    print("-" * 52)
    print(f"{'recall (' + str(ours['positives']) + ' positives)':34} {base['recall']:>8.3f} {ours['recall']:>8.3f}")
    print(f"{'false positives (' + str(ours['negatives']) + ' negatives)':34}"
          f" {base['false_positive_rate']:>8.3f} {ours['false_positive_rate']:>8.3f}")
    print(f"targets: recall >= {TARGETS['recall']}, false positives <= {TARGETS['false_positive_rate']}")
    if args.show_errors:
        for e in errors:
            print("   ", e)
    met = ours["recall"] >= TARGETS["recall"] and ours["false_positive_rate"] <= TARGETS["false_positive_rate"]
    print(json.dumps({"name": "pii_accuracy", "system": {k: v for k, v in ours.items() if k != "per_form"},
                      "baseline": {k: v for k, v in base.items() if k != "per_form"}, "targets": TARGETS,
                      "met": met}, ensure_ascii=False))


if __name__ == "__main__":
    main()

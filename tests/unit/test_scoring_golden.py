"""Pins the complete output of `service.analyse` (every hit with its span and quote, the
dimension scores, N/A rules, per-turn emotion and trajectory, language) on the benchmark's
ruleset and corpus generator plus the default ruleset, over transcripts perturbed to take
every normalisation path (full-width letters and digits, tabs, runs of spaces, typographic
apostrophes, a NUL inside a turn, English word boundaries, PII, negators, intensifiers).

The expected output was recorded before the hot paths were optimised
(tests/data/scoring_golden.json); an optimisation must not change a single field. After an
intended behaviour change, re-record with `KEFU_RECORD_GOLDEN=1 pytest <this file>` and
review the diff.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import random
from pathlib import Path
from typing import Any

from kefu_scoring.engine import Turn, compile_ruleset
from kefu_scoring.rules import load_ruleset, parse_ruleset
from kefu_scoring.service import Analysis, analyse

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "data" / "scoring_golden.json"

# Inserted into turns so that every path of text.py, matcher.py and emotion.py is taken.
_SPICE = (
    "我要打１２３１５投诉",
    "ＲＥＦＵＮＤ　now",
    "tab\there",
    "two  spaces",
    "I don’t like it",
    "this is an issue, I will sue",
    "hello, let me check",
    "您好",
    "再见 goodbye",
    "不是很满意",
    "very angry!!!",
    "not bad at all",
    "非常感谢，很满意",
    "电话13812345678",
    "邮箱 a.b@example.com",
    "明天 一定 给您退款",
    "refund in 3 days",
    "第三次了",
    "500 元",
    "稍等",
    "ﬁne",
)


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("scoring_bench", ROOT / "bench" / "scoring_bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _corpus(bench: Any, rng: random.Random, keywords: list[str]) -> list[list[Turn]]:
    corpus = bench.build_corpus(rng, keywords, 40)
    spiced = []
    for n, turns in enumerate(corpus):
        out = []
        for turn in turns:
            text = turn.text
            if rng.random() < 0.3:
                parts = text.split("，")
                parts.insert(rng.randrange(len(parts) + 1), rng.choice(_SPICE))
                text = "，".join(parts)
            if n % 7 == 3 and rng.random() < 0.1:
                text += "\x00x"
            # some transcripts without timings (chat), some with unspecified roles
            start, end = (0, 0) if n % 5 == 4 else (turn.start_ms, turn.end_ms)
            role = None if n % 11 == 10 and rng.random() < 0.2 else turn.role
            out.append(Turn(role, text, start, end))
        spiced.append(out)
    return spiced


def _doc(analysis: Analysis) -> dict[str, Any]:
    score = analysis.score
    return {
        "total": score.total,
        "grade": score.grade,
        "fatal": score.fatal,
        "not_applicable": list(score.not_applicable),
        "dimensions": [dataclasses.astuple(d) for d in score.dimensions],
        "hits": [dataclasses.astuple(h) for h in score.hits],
        "emotion": [
            analysis.emotion.start,
            analysis.emotion.end,
            analysis.emotion.trend,
            analysis.emotion.overall,
            analysis.emotion.peak_negative,
            [list(t) for t in analysis.emotion.turns],
        ],
        "language": analysis.language,
        "satisfaction": analysis.satisfaction.doc(),
    }


def _outputs() -> dict[str, list[Any]]:
    bench = _bench()
    rng = random.Random(11)
    doc, keywords = bench.build_ruleset(rng)
    doc = {**doc, "id": "golden-bench"}
    bench_rules = compile_ruleset(parse_ruleset(json.dumps(doc, ensure_ascii=False), source="golden"))
    default_rules = compile_ruleset(load_ruleset())
    corpus = _corpus(bench, rng, keywords)
    # round-trip through JSON so that tuples and lists compare equal
    return json.loads(
        json.dumps(
            {
                "bench": [_doc(analyse(bench_rules, turns)) for turns in corpus],
                "default": [_doc(analyse(default_rules, turns)) for turns in corpus],
            },
            ensure_ascii=False,
        )
    )


def test_analyse_output_is_unchanged_on_the_benchmark_and_default_rulesets() -> None:
    outputs = _outputs()
    if os.environ.get("KEFU_RECORD_GOLDEN"):
        GOLDEN.write_text(json.dumps(outputs, ensure_ascii=False, indent=None) + "\n", encoding="utf-8")
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert sum(len(d["hits"]) for d in expected["bench"]) > 200  # the set is not trivial
    for name in ("bench", "default"):
        assert len(outputs[name]) == len(expected[name])
        for i, (got, want) in enumerate(zip(outputs[name], expected[name], strict=True)):
            assert got == want, f"{name} transcript {i}"

"""Benchmark (not a test): scoring throughput per core next to the bare matcher.

    .venv/bin/python bench/scoring_bench.py [--transcripts 400] [--rounds 7] [--seed 5]

Corpus: synthetic mixed zh/en call transcripts of about 2 KB (UTF-8) each, about 20 turns
with timings; filler words drawn at random (so some 2-character keywords also occur by
chance) and a rule keyword planted in 15 % of the turns. Ruleset: 1,000 keywords in 50 rules (keyword
any/all/at_least with exclusions and role/position scopes, regex, absence rules, timing
rules, and/or/not), compiled once like the service does.

* system   = `service.analyse`: the whole in-process scoring of a transcript (normalisation,
             rules, scorecard with evidence, customer emotion, language), no database.
* rules_only (extra key, for information) = `CompiledRuleset.evaluate`: rules and
             scorecard without emotion and language.
* baseline = the bare matcher: the same compiled Aho-Corasick automaton run over every
             turn's text of the same corpus, counting matches (nothing else).

The two alternate for several rounds in one process (one core); medians are reported. The
last line of output is the JSON object the `make bench` harness reads.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in ("libs/common", "services/scoring", "gen"):
    sys.path.insert(0, str(ROOT / extra))

from kefu_scoring.engine import CompiledRuleset, Turn, compile_ruleset  # noqa: E402
from kefu_scoring.rules import parse_ruleset  # noqa: E402
from kefu_scoring.service import analyse  # noqa: E402

TARGET_PER_CORE = 5_000.0
TARGET_RATIO = 0.25
HAN = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经"
    "十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处理府研质"
)
EN_WORDS = (
    "order refund delivery account service product screen warranty payment invoice address"
    " colour model support return exchange replacement tracking number please thanks today"
    " tomorrow week days check system update status problem question price discount coupon"
).split()


def word(rng: random.Random) -> str:
    """Filler: a Chinese word of 1-3 characters or an English word."""
    if rng.random() < 0.3:
        return rng.choice(EN_WORDS)
    return "".join(rng.choice(HAN) for _ in range(rng.choice((1, 2, 2, 3))))


def phrase(rng: random.Random) -> str:
    """A rule keyword: mostly 3-5 character Chinese phrases (like 不归我管, 你自己看), some
    2-character words (like 投诉, 律师), some English two-word phrases."""
    if rng.random() < 0.25:
        return f"{rng.choice(EN_WORDS)} {rng.choice(EN_WORDS)}"
    return "".join(rng.choice(HAN) for _ in range(rng.choice((2, 3, 3, 4, 4, 5))))


def build_ruleset(rng: random.Random) -> tuple[dict, list[str]]:
    keywords: list[str] = []
    while len(keywords) < 1_000:
        k = phrase(rng)
        if k not in keywords:
            keywords.append(k)
    chunks = [keywords[i : i + 25] for i in range(0, 1_000, 25)]  # 40 lists of 25
    rules = []
    roles = ("agent", "customer")
    for i, chunk in enumerate(chunks):
        condition: dict = {"operator": "keyword", "keywords": chunk, "scope": {"role": roles[i % 2]}}
        if i % 5 == 1:
            condition.update(match="at_least", n=2, window=3)
        elif i % 5 == 2:
            condition.update(match="all", keywords=chunk[:2], exclude=chunk[2:])
        elif i % 5 == 3:
            condition["scope"]["first"] = 5
        elif i % 5 == 4:
            condition = {
                "operator": "and",
                "conditions": [condition, {"operator": "not", "condition": {"operator": "keyword", "keywords": ["稍等"]}}],
            }
        rules.append(
            {"id": f"kw-{i}", "version": 1, "dimension": ("compliance", "process", "attitude", "skill")[i % 4],
             "points": -2, "condition": condition}
        )
    for i, pattern in enumerate((r"\d{3,}\s*元", r"(明天|后天)\s*(一定|肯定)", r"refund\w*\s+in\s+\d+", r"第[一二三四五六七八九十]+次")):
        rules.append({"id": f"re-{i}", "version": 1, "dimension": "compliance", "points": -3,
                      "condition": {"operator": "regex", "pattern": pattern, "scope": {"role": "agent"}}})
    for i, kws in enumerate((["您好", "hello"], ["再见", "goodbye"], ["为您查询", "let me check"])):
        scope = {"role": "agent", "first": 2} if i == 0 else {"role": "agent", "last": 2} if i == 1 else {"role": "agent"}
        rules.append({"id": f"absent-{i}", "version": 1, "dimension": "process", "points": -5, "count": "once",
                      "condition": {"operator": "not", "condition": {"operator": "keyword", "keywords": kws, "scope": scope}}})
    rules.append({"id": "latency", "version": 1, "dimension": "process", "points": -1,
                  "condition": {"operator": "response_latency", "max_ms": 8_000, "scope": {"role": "agent"}}})
    rules.append({"id": "silence", "version": 1, "dimension": "process", "points": -1,
                  "condition": {"operator": "silence", "min_ms": 6_000}})
    rules.append({"id": "interrupt", "version": 1, "dimension": "attitude", "points": -1,
                  "condition": {"operator": "interruption", "min_overlap_ms": 500, "scope": {"role": "agent"}}})
    assert len(rules) == 50
    return {"id": "bench", "version": 1, "rules": rules}, keywords


def build_corpus(rng: random.Random, keywords: list[str], count: int) -> list[list[Turn]]:
    corpus = []
    for _ in range(count):
        turns: list[Turn] = []
        size = 0
        clock = 0
        while size < 2_000:
            role = "agent" if len(turns) % 2 == 0 else "customer"
            parts = [word(rng) for _ in range(rng.randint(4, 12))]
            if rng.random() < 0.15:
                parts.insert(rng.randrange(len(parts)), rng.choice(keywords))
            if rng.random() < 0.05:
                parts.append("不满意，太差了！")
            text = ("，" if rng.random() < 0.7 else " ").join(parts)
            start = clock + (rng.randint(300, 3_000) if rng.random() < 0.95 else rng.randint(6_000, 15_000))
            end = start + 150 * len(text)
            clock = end
            turns.append(Turn(role, text, start, end))
            size += len(text.encode())
        corpus.append(turns)
    return corpus


def run_system(compiled: CompiledRuleset, corpus: list[list[Turn]]) -> float:
    started = time.perf_counter()
    for turns in corpus:
        analyse(compiled, turns)
    return len(corpus) / (time.perf_counter() - started)


def run_rules_only(compiled: CompiledRuleset, corpus: list[list[Turn]]) -> float:
    started = time.perf_counter()
    for turns in corpus:
        compiled.evaluate(turns)
    return len(corpus) / (time.perf_counter() - started)


def run_baseline(compiled: CompiledRuleset, corpus: list[list[Turn]]) -> float:
    automaton_iter = compiled.matcher.automaton.iter
    started = time.perf_counter()
    matches = 0
    for turns in corpus:
        for turn in turns:
            for _ in automaton_iter(turn.text):
                matches += 1
    return len(corpus) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transcripts", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    doc, keywords = build_ruleset(rng)
    ruleset = parse_ruleset(json.dumps(doc, ensure_ascii=False), source="bench ruleset")
    started = time.perf_counter()
    compiled = compile_ruleset(ruleset)
    compile_ms = (time.perf_counter() - started) * 1000
    corpus = build_corpus(rng, keywords, args.transcripts)
    avg_bytes = statistics.mean(sum(len(t.text.encode()) for t in c) for c in corpus)
    avg_turns = statistics.mean(len(c) for c in corpus)
    hits = sum(len(analyse(compiled, c).score.hits) for c in corpus)  # warm-up, and a sanity figure
    print(
        f"ruleset: {len(compiled.keywords)} keywords, {len(ruleset.rules)} rules, compiled in {compile_ms:.1f} ms; "
        f"corpus: {len(corpus)} transcripts, {avg_bytes:.0f} bytes and {avg_turns:.1f} turns on average, "
        f"{hits / len(corpus):.1f} hits per transcript"
    )
    system, baseline, rules_only = [], [], []
    for i in range(args.rounds):
        system.append(run_system(compiled, corpus))
        baseline.append(run_baseline(compiled, corpus))
        rules_only.append(run_rules_only(compiled, corpus))
        print(
            f"round {i + 1}: system {system[-1]:,.0f}/s, bare matcher {baseline[-1]:,.0f}/s"
            f" (rules and scorecard without emotion/language: {rules_only[-1]:,.0f}/s)"
        )
    s, b = statistics.median(system), statistics.median(baseline)
    print(json.dumps({
        "name": "scoring",
        "unit": "transcripts/s",
        "system": round(s, 1),
        "baseline": round(b, 1),
        "ratio": round(s / b, 4),
        "target": f">= {TARGET_PER_CORE:,.0f}/s per core and ratio >= {TARGET_RATIO}",
        "met": s >= TARGET_PER_CORE and s / b >= TARGET_RATIO,
        "target_source": "issue #5",
        "rules_only": round(statistics.median(rules_only), 1),
    }))


if __name__ == "__main__":
    main()

"""Reasons (VOC topics): what customers complain about, found in their own words, with no
product lexicon.

1. **Phrases** — each customer turn is cut into clauses (punctuation), each clause into
   content words (voc.terms: rjieba, stop words out, a negator kept with its word); the
   features of a conversation are its words and its adjacent word pairs ("不适合 老人"),
   each counted once per conversation.
2. **Boilerplate out** — a word in at least `BOILERPLATE_SHARE` of the conversations overall
   *and* of every period (bucket) with enough conversations is shared boilerplate (the
   opening "上个月买了那款新出的智能大屏电视", the product's name), not a reason; so is a word
   of the agents' scripts (in that share of the agent turns' conversations) and every word of
   the ruleset's greeting/closing phrases. Pairs holding such a word go too. A word that
   floods one month only (an outbreak) is kept: it is not spread across periods. Under
   `MIN_BOILERPLATE_CONVERSATIONS` nothing is boilerplate (too few to tell).
3. **Grouping** — the remaining *words* (pairs stay features, for hot phrases and quotes, but
   not graph nodes: a pair and its two words made a clique per wording, which cut a reason
   said once per call into its wordings) of at least `min_df` conversations form a graph whose
   edges are their normalised pointwise mutual information over conversations (NPMI: how much
   more often two words occur in the same conversation than chance); paraphrases of one
   reason, spread over the turns of the same calls, are linked, and so are wordings that share
   a word (广告 in every wording of "ads"); boilerplate and fillers, which occur independently
   of the reason, are not. Louvain community detection (networkx, fixed seed: deterministic)
   cuts the graph; words are weighted by purity (how often a conversation holding one has that
   group as its main reason); groups mentioned in the same calls are joined (one reason,
   several wordings); groups mentioned beside the other reasons about as often as chance says
   are manners of speaking ("尽快", "能不能快点给我解决", a variant of the opening: a call is
   mostly about one reason, so two reasons meet less often than chance) and dropped, or
   joined when nearly always mentioned with one same reason; words the graph put elsewhere
   join the group they nearly always come with.
4. **Assignment** — a conversation's score for a reason is the sum of the weights of the
   reason's phrases it holds; it *mentions* a reason at `MIN_SCORE` and belongs to the one it
   scores highest (its main reason). Counts and shares are of main reasons, so shares add up to
   at most 1.

Pure functions, no I/O: voc.py feeds them the stored (masked) transcripts.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import combinations
from pathlib import Path

import networkx as nx
import numpy as np
import rjieba

from kefu_scoring.text import normalise

STOPWORDS_PATH = Path(__file__).parent / "lexicon" / "stopwords.txt"
_NEGATORS = frozenset({"不", "没", "没有", "别", "未"})
_WORD = re.compile(r"^(?:[\u4e00-\u9fff]{2,}|[a-z][a-z'-]{2,})$")

BOILERPLATE_SHARE = 0.5  # of the conversations overall and of every period
MIN_PERIOD_CONVERSATIONS = 20  # periods smaller than this do not vote on boilerplate
MIN_BOILERPLATE_CONVERSATIONS = 30  # fewer cannot tell boilerplate from a common reason
MIN_DF_SHARE = 0.01  # a phrase must occur in 1 % of the conversations (and at least 3)
MAX_PHRASES = 800  # the most frequent candidates kept for the graph
MIN_COOCCURRENCE = 3
MIN_NPMI = 0.12
MIN_SCORE = 1.0  # sum of a reason's phrase weights a conversation must hold to mention it
RESOLUTION = 1.5  # Louvain: above 1 cuts finer (small cliques of chance edges stay apart); _merged joins
MERGE_NPMI = 0.15
LOUVAIN_SEED = 0
GENERIC_LIFT = 0.7  # mentioned with the other reasons this near chance: a manner of speaking
PART_SHARE = 0.8  # mentioned with one same reason this often: a part of it
PURITY_ROUNDS = 2
JOIN_PURITY = 0.8
AGENT = "agent:"  # the agents' words, as features apart from the customer's
USE_AGENT = True  # read the agents' answers (bench/eval_voc.py --customer-only turns it off)
MIN_AGENT_NPMI = 0.2  # an edge between a customer word and an agent word: well above chance
AGENT_SCRIPT_SHARE = 0.4  # an agent word in this share of the calls is a script, not an answer
REPLY_COSINE = 0.5  # groups whose calls agents answer in this alike words are one reason
REPLY_Z = 3.0  # an answer word counts when said this many standard deviations above chance
MIN_REPLY_CONVERSATIONS = 5  # a group's calls needed to read its answers
_CLAUSE = re.compile(r"[，。！？；、,.!?;:：\n]+")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    lines = STOPWORDS_PATH.read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


def terms(text: str) -> list[str]:
    """Content words of one turn, in order: Chinese words of two or more characters (a
    negator joined to the word it negates) and English words of three or more letters, stop
    words and masked digits left out."""
    stop = stopwords()
    tokens = rjieba.cut(normalise(text).text)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        word = tokens[i]
        if word in _NEGATORS and i + 1 < len(tokens) and _WORD.match(word + tokens[i + 1]):
            word = word + tokens[i + 1]  # keep the negation: 不适合, not 适合
            i += 1
        if _WORD.match(word) and word not in stop:
            out.append(word)
        i += 1
    return out


def clauses(text: str) -> list[list[str]]:
    """The content words of each clause of a turn."""
    return [words for part in _CLAUSE.split(text) if (words := terms(part))]


def features(customer_texts: Iterable[str]) -> frozenset[str]:
    """Words and adjacent word pairs of a conversation's customer turns."""
    out: set[str] = set()
    for text in customer_texts:
        for words in clauses(text):
            out.update(words)
            out.update(f"{a} {b}" for a, b in zip(words, words[1:]) if a != b)
    return frozenset(out)


def context(feats: frozenset[str], agent_words: frozenset[str], out: frozenset[str]) -> frozenset[str]:
    """A conversation's customer features with the words its agents said (prefixed `AGENT`),
    boilerplate (agent scripts) and the customer's own words echoed back left out: how the
    agent answered is part of what the call is about."""
    if not USE_AGENT:
        return feats
    return feats | frozenset(AGENT + w for w in agent_words if w not in out and w not in feats)


def script_words(texts: Iterable[str]) -> frozenset[str]:
    """The content words of scripts (the ruleset's greeting and closing phrases)."""
    return frozenset(w for t in texts for words in clauses(t) for w in words)


@dataclass(frozen=True)
class Conversation:
    """What the method reads of one conversation."""

    features: frozenset[str]
    agent_words: frozenset[str]
    period: int  # the bucket it falls in, for the spread-across-periods test


@dataclass(frozen=True)
class Reason:
    phrases: tuple[tuple[str, float], ...]  # (phrase, weight in [0, 1]), most telling first
    label: str = ""


@dataclass(frozen=True)
class Model:
    reasons: tuple[Reason, ...]
    boilerplate: frozenset[str]
    conversations: int
    agent_scripts: frozenset[str] = frozenset()  # agent words too common to tell a reason

    def context(self, feats: frozenset[str], agent_words: frozenset[str]) -> frozenset[str]:
        """What `assign` reads of a conversation: its customer features and its agents' answers."""
        return context(feats, agent_words, self.boilerplate | self.agent_scripts)

    @cached_property
    def _index(self) -> dict[str, tuple[tuple[int, float], ...]]:
        """phrase -> (reason index, weight) of every reason holding it: a conversation's scores
        cost its own features, not every reason's phrase list (100k conversations)."""
        out: dict[str, list[tuple[int, float]]] = {}
        for i, r in enumerate(self.reasons):
            for p, w in r.phrases:
                out.setdefault(p, []).append((i, w))
        return {p: tuple(v) for p, v in out.items()}

    def scores(self, feats: frozenset[str]) -> list[float]:
        out = [0.0] * len(self.reasons)
        index = self._index
        for f in feats:
            for i, w in index.get(f, ()):
                out[i] += w
        return out

    def assign(self, feats: frozenset[str]) -> tuple[int, frozenset[int]]:
        """(main reason index or -1, every reason mentioned)."""
        scores = self.scores(feats)
        mentioned = frozenset(i for i, s in enumerate(scores) if s >= MIN_SCORE)
        if not mentioned:
            return -1, mentioned
        return max(mentioned, key=lambda i: (scores[i], -i)), mentioned


def _word_share(convs: Sequence[frozenset[str]]) -> Counter[str]:
    df: Counter[str] = Counter()
    for c in convs:
        df.update(c)
    return df


def boilerplate(conversations: Sequence[Conversation], scripts: frozenset[str] = frozenset()) -> frozenset[str]:
    """Words spread over nearly every conversation of every period, agents' script words and
    `scripts` (see the module doc)."""
    n = len(conversations)
    if n < MIN_BOILERPLATE_CONVERSATIONS:
        return scripts
    words = [frozenset(f for f in c.features if " " not in f) for c in conversations]
    df = _word_share(words)
    by_period: dict[int, list[frozenset[str]]] = {}
    for c, w in zip(conversations, words):
        by_period.setdefault(c.period, []).append(w)
    voting = [(len(ws), _word_share(ws)) for ws in by_period.values() if len(ws) >= MIN_PERIOD_CONVERSATIONS]
    spread = {
        w for w, k in df.items()
        if k >= BOILERPLATE_SHARE * n and all(d[w] >= BOILERPLATE_SHARE * m for m, d in voting)
    }
    agent_df = _word_share([c.agent_words for c in conversations])
    agents = {w for w, k in agent_df.items() if k >= BOILERPLATE_SHARE * n}
    return frozenset(spread | agents | scripts)


def _is_out(phrase: str, out: frozenset[str]) -> bool:
    return any(w in out for w in phrase.split(" "))


def discover(conversations: Sequence[Conversation], scripts: frozenset[str] = frozenset()) -> Model:
    """The reasons of a set of conversations (deterministic for the same input)."""
    n = len(conversations)
    out = boilerplate(conversations, scripts)
    agent_df = _word_share([c.agent_words for c in conversations])
    scripts_said = frozenset(w for w, k in agent_df.items() if k >= AGENT_SCRIPT_SHARE * n)
    if USE_AGENT:
        conversations = [
            Conversation(context(c.features, c.agent_words, out | scripts_said), c.agent_words, c.period)
            for c in conversations
        ]
    df = _word_share([c.features for c in conversations])
    min_df = max(3, math.ceil(MIN_DF_SHARE * n))
    candidates = sorted(
        (p for p, k in df.items() if k >= min_df and " " not in p and p not in out), key=lambda p: (-df[p], p)
    )[:MAX_PHRASES]
    keep = frozenset(candidates)
    pairs: Counter[tuple[str, str]] = Counter()
    for c in conversations:
        pairs.update(combinations(sorted(c.features & keep), 2))
    graph = nx.Graph()
    graph.add_nodes_from(candidates)
    for (a, b), k in sorted(pairs.items()):
        if k < MIN_COOCCURRENCE or k == n or (a.startswith(AGENT) and b.startswith(AGENT)):
            continue  # agent words join a reason only through the customer's: scripts say nothing
        p_ab, p_a, p_b = k / n, df[a] / n, df[b] / n
        npmi = math.log(p_ab / (p_a * p_b)) / -math.log(p_ab)
        agent = a.startswith(AGENT) or b.startswith(AGENT)
        if npmi >= (MIN_AGENT_NPMI if agent else MIN_NPMI):
            graph.add_edge(a, b, weight=npmi)
    communities = nx.community.louvain_communities(
        graph, weight="weight", resolution=RESOLUTION, seed=LOUVAIN_SEED
    )
    groups = []
    for members in sorted(communities, key=lambda m: sorted(m)):
        if len(members) < 2:
            continue  # a phrase linked to nothing is not a reason (fillers, chance)
        strength = {m: sum(graph[m][o]["weight"] for o in graph[m] if o in members) for m in members}
        top = max(strength.values())
        if top > 0:
            groups.append({m: strength[m] / top for m in members})
    feats = [c.features for c in conversations]
    # Agent words linked the customer's wordings; a reason is first the customer's words (an
    # agent word joins it below only when nearly every call holding it is that reason's).
    groups = [g for g in ({p: w for p, w in g.items() if not p.startswith(AGENT)} for g in groups) if g]
    groups = _by_purity(groups, feats, df)
    groups = _merged(groups, feats, df)
    if USE_AGENT:
        groups = _joined_by_reply(groups, feats, [c.agent_words - out for c in conversations], df)
    groups = _without_manners_of_speaking(groups, feats, df)
    groups = _by_purity(groups, feats, df, join=keep)
    model = Model(tuple(_reason(g, df) for g in groups), out, n)
    # Order by how many conversations each explains (ties: label), so indexes are stable.
    counts = Counter(model.assign(f)[0] for f in feats)
    order = sorted(range(len(model.reasons)), key=lambda i: (-counts[i], model.reasons[i].label))
    return Model(tuple(model.reasons[i] for i in order), out, n, scripts_said)


Groups = list[dict[str, float]]  # phrase -> weight, per reason being formed


def _scores(groups: Groups, feats: frozenset[str]) -> list[float]:
    return [sum(w for p, w in g.items() if p in feats) for g in groups]


def _main(groups: Groups, feats: frozenset[str], skip: int = -1) -> int:
    scores = _scores(groups, feats)
    if 0 <= skip < len(scores):
        scores[skip] = 0.0
    best = max(range(len(scores)), key=lambda i: (scores[i], -i), default=-1)
    return best if best >= 0 and scores[best] >= MIN_SCORE else -1


def _by_purity(
    groups: Groups, feats: Sequence[frozenset[str]], df: Counter[str], join: frozenset[str] = frozenset()
) -> Groups:
    """Re-weight each phrase by how often a conversation holding it has that group as its main
    one (assigned with the current weights): generic words ("不能", "结果") that joined a group
    by chance weigh little, the group's own words weigh about 1. A phrase of `join` (the
    candidates) that the graph put elsewhere joins a group when at least `JOIN_PURITY` of the
    assigned conversations holding it have that group as their main one: a wording said alone
    in some calls is still found through the calls where it comes with the reason's others."""
    for _ in range(PURITY_ROUNDS):
        owned: Counter[tuple[int, str]] = Counter()
        assigned: Counter[str] = Counter()  # conversations with a main reason holding it
        members = set().union(*groups) | join
        for f in feats:
            i = _main(groups, f)
            if i >= 0:
                held = f & members
                owned.update((i, p) for p in held)
                assigned.update(held)
        grown = []
        for i, g in enumerate(groups):
            weights = {p: owned[(i, p)] / assigned[p] if assigned[p] else 0.0 for p in g}
            for p in join:
                k = owned[(i, p)]
                if p not in weights and k >= MIN_COOCCURRENCE and k >= JOIN_PURITY * assigned[p]:
                    weights[p] = k / assigned[p]
            grown.append(weights)
        groups = [g for g in grown if sum(g.values()) >= MIN_SCORE]
    return groups


def _merged(groups: Groups, feats: Sequence[frozenset[str]], df: Counter[str]) -> Groups:
    """Join groups that are the same reason said in different words. The graph is cut finely
    on purpose; two parts of one reason are mentioned in the same calls (customers say their
    reason more than one way), while two reasons rarely are: join the pair whose mentions are
    most associated (NPMI over conversations), while that is at least `MERGE_NPMI`."""
    n = len(feats)
    while len(groups) > 1:
        mentions = _mentions(groups, feats)
        best, pair = MERGE_NPMI, None
        for a, b in combinations(range(len(groups)), 2):
            both = len(mentions[a] & mentions[b])
            if both < MIN_COOCCURRENCE or both == n:
                continue
            p_ab, p_a, p_b = both / n, len(mentions[a]) / n, len(mentions[b]) / n
            npmi = math.log(p_ab / (p_a * p_b)) / -math.log(p_ab)
            if npmi > best:
                best, pair = npmi, (a, b)
        if pair is None:
            break
        a, b = pair
        joined = {**groups[b], **groups[a]}
        groups = [g for i, g in enumerate(groups) if i not in pair] + [{p: 1.0 for p in joined}]
        groups = _by_purity(groups, feats, df)
    return groups


def _reply_profiles(groups: Groups, feats: Sequence[frozenset[str]], matrix: np.ndarray) -> np.ndarray:
    """Each group's answer profile: over the agent words, how much more often the agents said
    each one in the calls mentioning the group than in all calls (positive PMI), weighted by
    how often they said it there; unit length. Words said alike in every call (scripts,
    greetings) weigh nothing."""
    n = matrix.shape[0]
    base = matrix.sum(axis=0) / n
    out = np.zeros((len(groups), matrix.shape[1]))
    for g, mentioned in enumerate(_mentions(groups, feats)):
        rows = np.fromiter(sorted(mentioned), dtype=np.int64, count=len(mentioned))
        size = len(rows)
        if size < MIN_REPLY_CONVERSATIONS:
            continue
        counts = matrix[rows].sum(axis=0)
        p = counts / size
        expected = size * base
        z = (counts - expected) / np.sqrt(expected * (1 - base) + 1e-9)
        with np.errstate(divide="ignore", invalid="ignore"):
            pmi = np.where((counts >= MIN_COOCCURRENCE) & (z >= REPLY_Z), np.log(p / base), 0.0)
        v = np.maximum(pmi, 0.0) * p
        norm = np.linalg.norm(v)
        if norm > 0:
            out[g] = v / norm
    return out


def _joined_by_reply(
    groups: Groups, feats: Sequence[frozenset[str]], agent: Sequence[frozenset[str]], df: Counter[str]
) -> Groups:
    """Join groups whose calls the agents answer in the same words: a reason said once per
    call in wordings that share no word ("骑手半天不取餐" / "饭到的时候早就凉透了") is still
    answered alike ("帮您催一下骑手"). The pair with the most alike answer profiles (cosine)
    first, while it is at least `REPLY_COSINE`."""
    counts = Counter(w for a in agent for w in a)
    vocab = sorted(w for w, k in counts.items() if k >= MIN_COOCCURRENCE)
    if len(groups) < 2 or not vocab:
        return groups
    column = {w: i for i, w in enumerate(vocab)}
    matrix = np.zeros((len(feats), len(vocab)))
    for r, words in enumerate(agent):
        for w in words:
            if w in column:
                matrix[r, column[w]] = 1.0
    while len(groups) > 1:
        profiles = _reply_profiles(groups, feats, matrix)
        cos = profiles @ profiles.T
        np.fill_diagonal(cos, 0.0)
        a, b = np.unravel_index(int(np.argmax(cos)), cos.shape)
        if cos[a, b] < REPLY_COSINE:
            break
        joined = {**groups[b], **groups[a]}
        groups = [g for i, g in enumerate(groups) if i not in (a, b)] + [{p: 1.0 for p in joined}]
        groups = _by_purity(groups, feats, df)
    return groups


def _mentions(groups: Groups, feats: Sequence[frozenset[str]]) -> list[frozenset[int]]:
    """The conversations (indexes) mentioning each group: its weights they hold reach `MIN_SCORE`."""
    return [
        frozenset(k for k, f in enumerate(feats) if sum(w for p, w in g.items() if p in f) >= MIN_SCORE)
        for g in groups
    ]


def _without_manners_of_speaking(
    groups: Groups, feats: Sequence[frozenset[str]], df: Counter[str]
) -> Groups:
    """Drop groups said *beside* any reason rather than *as* one ("这个问题必须给我一个说法",
    "尽快", a variant of the opening): a call is mostly about one reason, so two reasons are
    seldom mentioned in the same calls (fewer than chance), while a manner of speaking comes
    with every reason as often as chance says. A group is one when, over the other groups, the
    median ratio of its co-mentions to the co-mentions chance expects is at least
    `GENERIC_LIFT`. A group mentioned with one same other group in at least `PART_SHARE` of
    its mentions is a part of that reason in other words: joined, not dropped. Most generic
    first, one at a time, since each change alters the others' company."""
    groups = list(groups)
    n = len(feats)
    while len(groups) > 2:
        mentions = _mentions(groups, feats)
        worst, worst_lift = -1, GENERIC_LIFT
        part: tuple[int, int] | None = None
        for i, mine in enumerate(mentions):
            if len(mine) < MIN_COOCCURRENCE:
                continue
            lifts = []
            for j, theirs in enumerate(mentions):
                if j == i or not theirs:
                    continue
                both = len(mine & theirs)
                lifts.append(both * n / (len(mine) * len(theirs)))
                if both >= PART_SHARE * len(mine) and part is None:
                    part = (i, j)
            lift = sorted(lifts)[len(lifts) // 2]
            if lift >= worst_lift:
                worst, worst_lift = i, lift
        if part is not None:
            i, host = part
            groups[host] = {p: 1.0 for p in {**groups[host], **groups[i]}}
            del groups[i]
            groups = _by_purity(groups, feats, df)
        elif worst >= 0:
            del groups[worst]
        else:
            break
    return groups


def _reason(weights: dict[str, float], df: Counter[str]) -> Reason:
    """Phrases ranked by weight × conversations; the label is the first three that add a word
    (a pair counts double, it says more), a word giving way to a pair that holds it."""
    ranked = sorted((p for p in weights if weights[p] > 0), key=lambda p: (-weights[p] * df[p], p))
    said = [p for p in ranked if not p.startswith(AGENT)] or ranked  # labelled in the customer's words
    by_label = sorted(said, key=lambda p: (-weights[p] * df[p] * (2 if " " in p else 1), p))
    label: list[str] = []
    for p in by_label:
        words = set(p.split(" "))
        covered = {w for q in label for w in q.split(" ")}
        if words <= covered:
            continue
        label = [q for q in label if not (" " not in q and q in words)] + [p]
        if len(label) == 3:
            break
    return Reason(tuple((p, round(weights[p], 4)) for p in ranked), " / ".join(label))

// The evaluation drawer: the transcript with every hit highlighted at its character span,
// the scorecard, and confirm / overturn of each hit through the review route (复核).
import { get, post } from "./api.js";
import { el, flagLabel, localTime, num, toast } from "./ui.js";

const ROLE_LABELS = { agent: "坐席 Agent", customer: "客户 Customer", bot: "机器人 Bot" };
const DIMENSIONS = { compliance: "合规 Compliance", process: "流程 Process", attitude: "态度 Attitude", skill: "技能 Skill" };
const FACTORS = {
  last_customer_turns: "客户最后的话 last customer turns", customer_mean: "客户整体情绪 customer mood",
  trend: "情绪走势 emotion trend", unresolved_threat: "未化解的投诉威胁 unresolved threat",
  agent_issues: "坐席问题 agent issues", fatal: "致命项 fatal item",
};
const SAT_LABELS = { satisfied: "满意 satisfied", neutral: "一般 neutral", detractor: "不满 detractor" };
const DECISIONS = { confirmed: "已确认 confirmed", overturned: "已推翻 overturned" };

// Where a hit sits in its turn: its character span [start, end). Spans count Unicode code
// points (the scoring service's str indices), so the text is indexed as code points. If the
// stored (PII-masked) text differs at the span, the matched text is looked up in the turn.
export function placeHit(chars, h) {
  if (chars.slice(h.start, h.end).join("") === h.matched_text) return [h.start, h.end];
  const quote = Array.from(h.matched_text);
  for (let i = 0; quote.length && i + quote.length <= chars.length; i++) {
    if (chars.slice(i, i + quote.length).join("") === h.matched_text) return [i, i + quote.length];
  }
  return null;
}

// The turn's text cut at every hit boundary; each piece knows the hits covering it.
export function segments(text, hits) {
  const chars = Array.from(text);
  const placed = [];
  for (const h of hits) {
    const at = placeHit(chars, h);
    if (at) placed.push({ ...h, at });
  }
  const cuts = new Set([0, chars.length]);
  for (const h of placed) h.at.forEach((c) => cuts.add(c));
  const points = [...cuts].sort((a, b) => a - b);
  const out = [];
  for (let i = 0; i < points.length - 1; i++) {
    const [a, b] = [points[i], points[i + 1]];
    out.push({ text: chars.slice(a, b).join(""), hits: placed.filter((h) => h.at[0] <= a && h.at[1] >= b) });
  }
  return out;
}

function hitTone(h) {
  if (h.fatal) return "fatal";
  if (h.points < 0) return "minus";
  if (h.points > 0) return "plus";
  return "flag"; // a risk flag: no points, but someone should look
}

function transcript(ev, focus) {
  const hitsByTurn = new Map();
  ev.hits.forEach((h, index) => {
    const list = hitsByTurn.get(h.turn_index) || [];
    list.push({ ...h, index });
    hitsByTurn.set(h.turn_index, list);
  });
  const emotions = new Map((ev.emotion?.turns || []).map((t) => [t.turn_index, t]));
  return el("ol", { class: "transcript" }, ev.turns.map((turn, i) => {
    const parts = segments(turn.text, hitsByTurn.get(i) || []).map((seg) => {
      if (!seg.hits.length) return seg.text;
      const tone = seg.hits.some((h) => h.fatal) ? "fatal" : hitTone(seg.hits[0]);
      return el("mark", {
        class: "hit " + tone + (seg.hits.some((h) => h.review) ? " reviewed" : ""),
        "data-hit": seg.hits.map((h) => h.index).join(","),
        title: seg.hits.map((h) => `${h.rule_id} (${h.points})`).join(" · "),
        onclick: () => focus(seg.hits[0].index),
      }, seg.text);
    });
    const emo = emotions.get(i);
    return el("li", { class: "turn " + turn.role, "data-turn": String(i) },
      el("div", { class: "turn-role" }, ROLE_LABELS[turn.role] || turn.role,
        emo && emo.label !== "neutral" ? el("span", { class: "emo " + emo.label, text: emo.label === "negative" ? "😟 负面" : "🙂 正面" }) : null),
      el("div", { class: "turn-text" }, parts));
  }));
}

function hitCard(ev, h, index, onReview) {
  const decided = h.review;
  const button = (decision, label, cls) => el("button", {
    type: "button", class: "btn small " + cls, "data-review": decision, "data-hit-index": String(index),
    disabled: decided === decision,
    onclick: () => onReview(index, decision),
  }, label);
  return el("li", { class: "hit-card " + hitTone(h) + (decided ? " decided" : ""), id: `hit-${index}`, "data-hit-index": String(index) },
    el("div", { class: "hit-head" },
      el("code", { text: h.rule_id }),
      el("span", { class: "points", text: (h.points > 0 ? "+" : "") + h.points }),
      h.fatal ? el("span", { class: "pill fatal", text: "致命 fatal" }) : null,
      decided ? el("span", { class: "pill " + decided, text: DECISIONS[decided] || decided }) : null),
    el("div", { class: "hit-quote" },
      h.matched_text
        ? el("span", {}, "“", el("mark", { class: "hit " + hitTone(h), text: h.matched_text }), "” ")
        : el("span", { class: "absent", text: "未出现 expected but absent " }),
      el("span", { class: "muted", text: `第 ${h.turn_index + 1} 句 turn ${h.turn_index + 1}` + (h.matched_text ? ` · [${h.start}, ${h.end})` : "") })),
    h.detail ? el("div", { class: "muted small", text: h.detail }) : null,
    el("div", { class: "hit-actions" },
      button("confirmed", "✓ 确认 Confirm", "good"),
      button("overturned", "✕ 推翻 Overturn", "bad")));
}

export async function openEvaluation(id, { onChange } = {}) {
  const drawer = document.getElementById("evaluation-drawer");
  const bodyNode = document.getElementById("drawer-body");
  drawer.hidden = false;
  drawer.dataset.evaluationId = id;
  bodyNode.replaceChildren(el("div", { class: "skeleton" }));
  const render = (ev) => {
    document.getElementById("drawer-title").textContent = `质检详情 Evaluation · ${ev.final_grade || ev.grade}`;
    document.getElementById("drawer-sub").textContent =
      `${ev.agent_id || "—"} · ${ev.ruleset_id} v${ev.ruleset_version} · ${localTime(ev.created_at)}`;
    const focus = (index) => {
      const card = document.getElementById(`hit-${index}`);
      card?.scrollIntoView({ block: "nearest", behavior: "smooth" });
      card?.classList.add("flash");
      setTimeout(() => card?.classList.remove("flash"), 900);
    };
    const review = async (index, decision) => {
      try {
        const updated = await post(`/v1/qa/evaluations/${encodeURIComponent(ev.id)}/hits/${index}/review`, { decision });
        toast(decision === "confirmed" ? "已确认 Hit confirmed" : "已推翻 Hit overturned", "good");
        render(updated);
        onChange?.();
      } catch (err) {
        toast(`${err.code}: ${err.message}`, "bad");
      }
    };
    const sat = ev.satisfaction;
    const predicted = sat && sat.label
      ? el("div", { class: "predicted " + sat.label },
          el("div", { class: "predicted-head" },
            el("span", { text: "预测满意度 Predicted satisfaction" }),
            el("b", { text: `${num(sat.score, 1)} / 5` }),
            el("span", { class: "pill " + (sat.label === "detractor" ? "fatal" : sat.label === "satisfied" ? "confirmed" : ""), text: SAT_LABELS[sat.label] || sat.label })),
          el("ul", { class: "factors" }, sat.factors.map((f) => el("li", {},
            el("span", { class: f.effect < 0 ? "bad-text" : "good-text", text: (f.effect > 0 ? "+" : "") + num(f.effect, 2) }),
            " ", FACTORS[f.factor] || f.factor, el("span", { class: "muted", text: f.detail ? " · " + f.detail : "" })))))
      : null;
    bodyNode.replaceChildren(
      el("div", { class: "score-strip" },
        el("div", { class: "score" }, el("b", { text: num(ev.final_score ?? ev.total_score, 0) }), el("span", { text: "最终分 final" })),
        el("div", { class: "score" }, el("b", { text: num(ev.total_score, 0) }), el("span", { text: "AI 分 AI score" })),
        el("div", { class: "grade grade-" + (ev.final_grade || ev.grade) }, ev.final_grade || ev.grade),
        ev.dimensions.filter((d) => d.applicable).map((d) =>
          el("div", { class: "dim" }, el("span", { text: DIMENSIONS[d.dimension] || d.dimension }), el("b", { text: num(d.score, 0) }))),
        ev.risk_flags.length ? el("div", { class: "risk" }, ev.risk_flags.map((f) => el("span", { class: "pill fatal", text: flagLabel(f) }))) : null),
      predicted,
      el("div", { class: "drawer-cols" },
        el("section", {}, el("div", { class: "subhead", text: "对话 Transcript (PII masked)" }),
          ev.turns.length ? transcript(ev, focus) : el("div", { class: "empty", text: "No transcript stored" })),
        el("section", {}, el("div", { class: "subhead", text: `命中 Hits (${ev.hits.length})` }),
          el("ol", { class: "hit-list" }, ev.hits.map((h, i) => hitCard(ev, h, i, review))))),
    );
  };
  try {
    render(await get(`/v1/qa/evaluations/${encodeURIComponent(id)}`));
  } catch (err) {
    bodyNode.replaceChildren(el("div", { class: "error-box" }, el("strong", { text: err.code || "error" }), " ", err.message));
  }
}

export function closeEvaluation() {
  document.getElementById("evaluation-drawer").hidden = true;
}

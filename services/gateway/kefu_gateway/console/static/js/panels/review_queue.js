// 复核队列: what to review first — the sampling policy's queue (every fatal, every risk flag,
// a seeded share of the rest) or every evaluation, filterable; a row opens the evaluation with
// its transcript. An evaluation can also be opened by id.
import { get } from "../api.js";
import { todayIn } from "../period.js";
import { el, emptyState, flagLabel, localTime, missingRoute, num, setState, table } from "../ui.js";

const QUEUE = "/v1/qa/review-queue";
const LIST = "/v1/qa/evaluations";
const REASONS = { fatal: "致命 fatal", risk: "风险 risk", sampled: "抽检 sampled" };

function routeOf(filters) {
  return filters.source === "all" ? LIST : QUEUE;
}

// The query of the chosen source: the period, the filters, and for the queue a daily seed
// (the same sample all day; another day, another sample).
function queryOf(state) {
  const { source, ...filters } = state.reviewFilters;
  const q = { start: state.range.start, end: state.range.end, ...filters };
  if (source !== "all") {
    q.seed = todayIn();
    q.share = 0.2;
  }
  return q;
}

export default {
  id: "review-queue",
  title: "复核队列",
  titleEn: "Review queue",
  hint: "致命与风险优先，其余按比例抽检 · every fatal and risk-flagged evaluation first, then a sampled share; click a row to read the transcript",
  routeLabel: "GET " + QUEUE,
  csv: (state) => ({ path: routeOf(state.reviewFilters), params: queryOf(state) }),
  async load(state, body, ctx) {
    const openById = el("form", { class: "inline-form", onsubmit: (e) => {
      e.preventDefault();
      const id = e.target.elements.evaluation_id.value.trim();
      if (id) ctx.openEvaluation(id);
    } },
    el("input", { name: "evaluation_id", placeholder: "评估编号 Evaluation id", "aria-label": "evaluation id", size: 38 }),
    el("button", { type: "submit", class: "btn small" }, "打开 Open"));
    const filters = el("form", { class: "inline-form filters", onchange: (e) => {
      const data = new FormData(e.currentTarget);
      state.reviewFilters = Object.fromEntries([...data.entries()].filter(([, v]) => v !== ""));
      ctx.reload("review-queue");
    } },
    el("select", { name: "source", "aria-label": "source" },
      el("option", { value: "queue" }, "抽检队列 Review queue"), el("option", { value: "all" }, "全部评估 All evaluations")),
    el("select", { name: "reviewed", "aria-label": "reviewed" },
      el("option", { value: "false" }, "待复核 Not reviewed"), el("option", { value: "" }, "全部 Any"), el("option", { value: "true" }, "已复核 Reviewed")),
    el("select", { name: "fatal", "aria-label": "fatal" },
      el("option", { value: "" }, "致命 Fatal: any"), el("option", { value: "true" }, "仅致命 Fatal only")),
    el("select", { name: "grade", "aria-label": "grade" }, el("option", { value: "" }, "等级 Grade"),
      ["A", "B", "C", "D"].map((g) => el("option", { value: g }, g))),
    el("input", { name: "agent_id", placeholder: "坐席 Agent", size: 10, "aria-label": "agent" }),
    el("input", { name: "team", placeholder: "团队 Team", size: 10, "aria-label": "team" }));
    for (const [k, v] of Object.entries(state.reviewFilters)) if (filters.elements[k]) filters.elements[k].value = v;
    const tools = el("div", { class: "panel-tools" }, filters, openById);
    let page;
    try {
      page = await get(routeOf(state.reviewFilters), { ...queryOf(state), page_size: 50 });
    } catch (err) {
      if (!err.routeMissing) throw err;
      const box = el("div");
      missingRoute(box, "GET " + routeOf(state.reviewFilters));
      return setState(body, "ready", tools, box);
    }
    if (!page.items.length) {
      const box = el("div");
      emptyState(box, "没有待复核的评估 Nothing to review");
      return setState(body, "ready", tools, box);
    }
    setState(body, "ready", tools, el("div", { class: "table-wrap tall" }, table([
      { label: "原因 Why", render: (e) => e.reason ? el("span", { class: "pill " + (e.reason === "sampled" ? "" : e.reason === "fatal" ? "fatal" : "warn"), text: REASONS[e.reason] || e.reason }) : "—" },
      { label: "时间 Scored", render: (e) => localTime(e.created_at) },
      { label: "坐席 Agent", render: (e) => e.agent_id || "—" },
      { label: "团队 Team", render: (e) => e.team || "—" },
      { label: "得分 Score", num: true, render: (e) => num(e.total_score, 0) },
      { label: "等级 Grade", render: (e) => el("span", { class: "grade-chip grade-" + e.grade, text: e.grade }) },
      { label: "命中 Hits", num: true, render: (e) => `${e.hit_count}` + (e.reviewed_hits ? ` (${e.reviewed_hits} 已复核)` : "") },
      { label: "风险 Flags", render: (e) => el("span", {}, e.fatal ? el("span", { class: "pill fatal", text: "致命 fatal" }) : null,
          (e.risk_flags || []).map((f) => el("span", { class: "pill warn", text: flagLabel(f) }))) },
      { label: "申诉 Appeals", num: true, render: (e) => e.open_appeals ? el("span", { class: "pill warn", text: String(e.open_appeals) }) : "—" },
      { label: "", render: (e) => el("button", { type: "button", class: "btn small", "data-open-evaluation": e.id, onclick: () => ctx.openEvaluation(e.id) }, "查看 Open") },
    ], page.items, { rowAttrs: (e) => ({ class: "clickable", "data-evaluation-id": e.id }) })),
    el("div", { class: "muted small", text: `${page.items.length} 条 shown${page.next_cursor ? " · more in the CSV" : ""}` }));
  },
};

// 复核队列: evaluations to review first (fatal hits, risk flags, the sampled share), filterable;
// a row opens the evaluation with its transcript. An evaluation can also be opened by id.
import { get } from "../api.js";
import { el, emptyState, localTime, missingRoute, num, setState, table } from "../ui.js";

const ROUTE = "/v1/qa/evaluations";

function filtersOf(form) {
  const data = new FormData(form);
  const out = {};
  for (const [k, v] of data.entries()) if (v !== "") out[k] = v;
  return out;
}

export default {
  id: "review-queue",
  title: "复核队列",
  titleEn: "Review queue",
  hint: "致命与风险优先 · fatal hits and risk flags first; click a row to read the transcript",
  routeLabel: "GET " + ROUTE,
  csv: (state) => ({ path: ROUTE, params: { start: state.range.start, end: state.range.end, ...(state.reviewFilters || {}) } }),
  async load(state, body, ctx) {
    const openById = el("form", { class: "inline-form", onsubmit: (e) => {
      e.preventDefault();
      const id = e.target.elements.evaluation_id.value.trim();
      if (id) ctx.openEvaluation(id);
    } },
    el("input", { name: "evaluation_id", placeholder: "评估编号 Evaluation id", "aria-label": "evaluation id", size: 38 }),
    el("button", { type: "submit", class: "btn small" }, "打开 Open"));
    const filters = el("form", { class: "inline-form filters", onchange: (e) => {
      state.reviewFilters = filtersOf(e.currentTarget);
      ctx.reload("review-queue");
    } },
    el("select", { name: "reviewed", "aria-label": "reviewed" },
      el("option", { value: "false" }, "待复核 Not reviewed"), el("option", { value: "" }, "全部 All"), el("option", { value: "true" }, "已复核 Reviewed")),
    el("select", { name: "fatal", "aria-label": "fatal" },
      el("option", { value: "" }, "全部 Any"), el("option", { value: "true" }, "仅致命 Fatal only")),
    el("input", { name: "agent_id", placeholder: "坐席 Agent", size: 12 }),
    el("select", { name: "grade", "aria-label": "grade" }, el("option", { value: "" }, "等级 Grade"),
      ["A", "B", "C", "D"].map((g) => el("option", { value: g }, g))));
    for (const [k, v] of Object.entries(state.reviewFilters || { reviewed: "false" })) {
      if (filters.elements[k]) filters.elements[k].value = v;
    }
    const tools = el("div", { class: "panel-tools" }, filters, openById);
    let page;
    try {
      page = await get(ROUTE, { start: state.range.start, end: state.range.end, reviewed: "false", ...(state.reviewFilters || {}), page_size: 50 });
    } catch (err) {
      if (!err.routeMissingOrOld) throw err;
      const box = el("div");
      missingRoute(box, "GET " + ROUTE + " (list with filters)");
      return setState(body, "ready", tools, box);
    }
    if (!page.items.length) {
      const box = el("div");
      emptyState(box, "没有待复核的评估 Nothing to review");
      return setState(body, "ready", tools, box);
    }
    setState(body, "ready", tools, el("div", { class: "table-wrap tall" }, table([
      { label: "时间 Scored", render: (e) => localTime(e.created_at) },
      { label: "坐席 Agent", render: (e) => e.agent_id || "—" },
      { label: "得分 Score", num: true, render: (e) => num(e.final_score ?? e.total_score, 0) },
      { label: "等级 Grade", render: (e) => el("span", { class: "grade-chip grade-" + (e.final_grade || e.grade), text: e.final_grade || e.grade }) },
      { label: "命中 Hits", num: true, render: (e) => String(e.hit_count ?? e.hits?.length ?? "—") },
      { label: "标记 Flags", render: (e) => el("span", {}, e.fatal ? el("span", { class: "pill fatal", text: "致命 fatal" }) : null,
          (e.risk_flags || []).map((f) => el("span", { class: "pill warn", text: f }))) },
      { label: "", render: (e) => el("button", { type: "button", class: "btn small", "data-open-evaluation": e.id, onclick: () => ctx.openEvaluation(e.id) }, "查看 Open") },
    ], page.items, { rowAttrs: (e) => ({ class: "clickable", "data-evaluation-id": e.id, ondblclick: () => ctx.openEvaluation(e.id) }) })));
  },
};

// 焦虑客户与预测满意度: customers at risk of leaving unhappy, predicted from what they said.
import { get } from "../api.js";
import { el, emptyState, localTime, num, pct, setState, table } from "../ui.js";

const ROUTE = "/v1/reports/predicted-satisfaction";

export default {
  id: "satisfaction",
  title: "焦虑客户与预测满意度",
  titleEn: "Anxious customers & predicted satisfaction",
  hint: "未评价之前先看到不满 · the dissatisfied before they rate, lowest predicted first",
  routeLabel: "GET " + ROUTE,
  csv: (state) => ({ path: ROUTE, params: { start: state.range.start, end: state.range.end } }),
  async load(state, body, ctx) {
    const page = await get(ROUTE, { start: state.range.start, end: state.range.end, page_size: 20 });
    const items = page.items || [];
    if (!items.length) return emptyState(body, "没有焦虑客户 No anxious customer");
    setState(body, "ready", el("div", { class: "table-wrap" }, table([
      { label: "预测满意度 Predicted", num: true, render: (r) => el("b", { class: (r.predicted ?? r.score) < 0.5 ? "bad-text" : "", text: pct(r.predicted ?? r.score, 0) }) },
      { label: "工单 Ticket", render: (r) => el("code", { text: (r.ticket_id || "—").slice(0, 8) }) },
      { label: "坐席 Agent", render: (r) => r.agent_id || "—" },
      { label: "依据 Why", render: (r) => el("span", { class: "clip", text: (r.reasons || r.cues || []).join(" · ") }) },
      { label: "时间 When", render: (r) => localTime(r.created_at || r.at) },
      { label: "", render: (r) => r.evaluation_id ? el("button", { type: "button", class: "btn small", onclick: () => ctx.openEvaluation(r.evaluation_id) }, "查看 Open") : "" },
    ], items)), el("div", { class: "muted small", text: `${num(items.length)} shown` }));
  },
};

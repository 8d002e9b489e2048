// 焦虑客户: customers whose behaviour escalated their case — anxious (progress checked again and
// again), predicted detractors and other risk signals — newest first; predicted satisfaction
// of a conversation is in its evaluation (the review queue opens it).
import { ApiError, get, listAll } from "../api.js";
import { seriesParams } from "../period.js";
import { countdown, delta, el, emptyState, localTime, num, setState, table, timeAgo } from "../ui.js";
import { TRIGGER_LABELS } from "./escalations.js";

const ROUTE = "/v1/escalations";
const TRIGGERS = ["anxious_customer", "dissatisfied_rating", "risk_signal"];

// Predicted satisfaction of the period's conversations (the QA scores report carries it).
async function predicted(state) {
  try {
    const r = await get("/v1/reports/qa-scores", { ...seriesParams(state), bucket: "none" });
    return r.series[0]?.buckets[0] || null;
  } catch (err) {
    if (err instanceof ApiError && err.routeMissing) return null;
    throw err;
  }
}

function predictedFigures(b) {
  if (!b || b.values.satisfaction_mean === null || b.values.satisfaction_mean === undefined) return null;
  const v = b.values;
  const p = b.previous;
  return el("div", { class: "inline-figures" },
    el("span", {}, "预测满意度均值 Predicted satisfaction ", el("b", { text: num(v.satisfaction_mean, 2) + " / 5" }), " ",
      p && p.satisfaction_mean !== null ? delta(v.satisfaction_mean, p.satisfaction_mean) : null),
    el("span", { class: v.predicted_detractors ? "bad-text" : "" }, "预测不满 Predicted detractors ", el("b", { text: num(v.predicted_detractors) })),
    el("span", {}, "预测满意 Predicted satisfied ", el("b", { text: num(v.predicted_satisfied) })),
    el("span", { class: "muted", text: `of ${num(v.evaluations)} conversations` }));
}

export default {
  id: "satisfaction",
  title: "焦虑客户与预测满意度",
  titleEn: "Anxious customers & predicted satisfaction",
  hint: "反复查看进度、差评、预测不满与风险信号 · customers checking progress again and again, bad ratings, predicted detractors, risk signals",
  routeLabel: "GET " + ROUTE + "?trigger=anxious_customer",
  csv: () => ({ path: ROUTE, params: { trigger: "anxious_customer" } }),
  async load(state, body) {
    const [forecast, ...lists] = await Promise.all([
      predicted(state), ...TRIGGERS.map((trigger) => listAll(ROUTE, { trigger }, 200)),
    ]);
    const since = new Date(state.range.start + "T00:00:00+08:00").getTime();
    const items = lists.flat().filter((e) => new Date(e.created_at).getTime() >= since)
      .sort((a, b) => new Date(b.created_at) - new Date(a.created_at));
    if (!items.length) return emptyState(body, "所选时段没有焦虑客户 No anxious customer in this period");
    const anxious = items.filter((e) => e.trigger === "anxious_customer").length;
    setState(body, "ready", predictedFigures(forecast) || "",
      el("div", { class: "inline-figures" },
        el("span", {}, "焦虑客户 Anxious ", el("b", { text: String(anxious) })),
        el("span", {}, "风险与不满信号 Risk & dissatisfaction signals ", el("b", { text: String(items.length - anxious) }))),
      el("div", { class: "table-wrap tall" }, table([
        { label: "信号 Signal", render: (e) => el("span", { class: "pill " + (e.trigger === "anxious_customer" ? "warn" : "fatal"), text: TRIGGER_LABELS[e.trigger] || e.trigger }) },
        { label: "依据 Why", render: (e) => el("span", { class: "clip wide", title: e.reason, text: e.reason }) },
        { label: "等级 Level", render: (e) => el("span", { class: "pill " + e.to_level.toLowerCase(), text: e.to_level }) },
        { label: "团队 Team", render: (e) => e.team || "—" },
        { label: "工单 Ticket", render: (e) => el("code", { text: e.ticket_id.slice(0, 8) }) },
        { label: "确认 Ack", render: (e) => e.acknowledged_at ? "已确认 acknowledged" : e.ack_due_at ? countdown(e.ack_due_at) : "—" },
        { label: "时间 When", render: (e) => el("span", { title: localTime(e.created_at), text: timeAgo(e.created_at) }) },
      ], items)));
  },
};

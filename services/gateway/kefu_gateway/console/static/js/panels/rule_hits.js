// 规则命中排行: which rules fire most, and how often reviewers agree with the AI on them.
import { ApiError, get } from "../api.js";
import { chartBox, rankChart } from "../charts.js";
import { seriesParams } from "../period.js";
import { el, emptyState, missingRoute, pct, setState, table } from "../ui.js";

const ROUTE = "/v1/reports/rule-hits";
const AGREEMENT = "/v1/qa/reports/agreement";

async function ranking(state) {
  try {
    return await get(ROUTE, { start: state.range.start, end: state.range.end, tz: seriesParams(state).tz });
  } catch (err) {
    if (err instanceof ApiError && err.routeMissing) return null;
    throw err;
  }
}

export default {
  id: "rule-hits",
  title: "规则命中排行",
  titleEn: "Rule-hit ranking",
  hint: "命中次数与人机一致率 · hits per rule and AI–human agreement of reviews",
  routeLabel: "GET " + ROUTE,
  csv: (state) => ({ path: ROUTE, params: { start: state.range.start, end: state.range.end } }),
  async load(state, body) {
    const [ranked, agreement] = await Promise.all([ranking(state), get(AGREEMENT, {})]);
    const parts = [];
    const items = ranked?.items || [];
    if (ranked === null) {
      const box = el("div");
      missingRoute(box, "GET " + ROUTE);
      parts.push(box);
    } else if (items.length) {
      const top = items.slice(0, 10);
      const box = chartBox(Math.max(160, 28 * top.length + 20));
      parts.push(box);
      setTimeout(() => rankChart(box, top.map((r) => r.rule_id), top.map((r) => r.hits), { name: "命中 Hits" }));
    }
    if (agreement.rules.length) {
      parts.push(el("div", { class: "subhead", text: "人机一致率 AI–human agreement (复核 reviews)" }),
        el("div", { class: "table-wrap" }, table([
          { label: "规则 Rule", render: (r) => el("code", { text: r.rule_id }) },
          { label: "已复核 Reviewed", num: true, key: "reviewed" },
          { label: "确认 Confirmed", num: true, key: "confirmed" },
          { label: "推翻 Overturned", num: true, key: "overturned" },
          { label: "一致率 Agreement", num: true, render: (r) => pct(r.agreement) },
        ], agreement.rules)));
    }
    if (!parts.length || (ranked !== null && !items.length && !agreement.rules.length)) return emptyState(body);
    setState(body, "ready", ...parts);
  },
};

// 规则命中排行: which rules fire most, and how often reviewers agree with the AI on them.
import { ApiError, get } from "../api.js";
import { chartBox, rankChart } from "../charts.js";
import { seriesParams } from "../period.js";
import { total } from "../series.js";
import { el, emptyState, missingRoute, pct, setState, table } from "../ui.js";

const ROUTE = "/v1/reports/rule-hits";
const AGREEMENT = "/v1/qa/reports/agreement";

async function ranking(state) {
  try {
    const report = await get(ROUTE, { ...seriesParams(state), bucket: "none", limit: 10 });
    // A series per rule (group = rule id): its hits summed over the range, most first.
    return report.series
      .map((s) => ({ rule_id: s.group, hits: total(s, "hits"), previous: s.buckets[0]?.previous?.hits ?? null,
        share: s.buckets[0]?.values?.share_of_evaluations ?? null }))
      .filter((r) => r.hits > 0)
      .sort((a, b) => b.hits - a.hits);
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
  csv: (state) => ({ path: ROUTE, params: { ...seriesParams(state), bucket: "none" } }),
  async load(state, body) {
    const [ranked, agreement] = await Promise.all([ranking(state), get(AGREEMENT, {})]);
    const parts = [];
    const items = ranked || [];
    if (ranked === null) {
      const box = el("div");
      missingRoute(box, "GET " + ROUTE);
      parts.push(box);
    } else if (items.length) {
      const top = items.slice(0, 10);
      const box = chartBox(Math.max(160, 28 * top.length + 20));
      parts.push(box);
      setTimeout(() => rankChart(box, top.map((r) => r.rule_id), top.map((r) => r.hits), { name: "命中 Hits" }));
      if (top.some((r) => r.previous !== null)) {
        parts.push(el("div", { class: "muted small", text: "上期 previous: " + top.map((r) => `${r.rule_id} ${r.previous ?? 0}`).join(" · ") }));
      }
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

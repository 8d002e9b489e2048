// 质检得分: mean QA score per bucket (previous period dashed), the grades, and the distribution
// of total scores over the range (GET /v1/reports/qa-scores, /qa-score-distribution).
import { ApiError, get } from "../api.js";
import { chartBox, draw, timeChart } from "../charts.js";
import { seriesParams } from "../period.js";
import { categories, column, hasPrevious, total } from "../series.js";
import { el, emptyState, num, setState } from "../ui.js";

const ROUTE = "/v1/reports/qa-scores";
const DISTRIBUTION = "/v1/reports/qa-score-distribution";
const GRADES = ["A", "B", "C", "D"];

async function distribution(state) {
  try {
    return await get(DISTRIBUTION, { ...seriesParams(state), bucket: "none", group_by: "none", bin_width: 10 });
  } catch (err) {
    if (err instanceof ApiError && err.routeMissing) return null;
    throw err;
  }
}

export default {
  id: "qa-scores",
  title: "质检得分",
  titleEn: "QA scores",
  hint: "平均分、等级与分数分布 · mean score per bucket, grades, distribution of scores",
  routeLabel: "GET " + ROUTE,
  csv: (state) => ({ path: ROUTE, params: seriesParams(state) }),
  async load(state, body) {
    const [report, dist] = await Promise.all([get(ROUTE, seriesParams(state)), distribution(state)]);
    const s = report.series[0];
    const evaluations = s ? total(s, "evaluations") : 0;
    if (!evaluations) return emptyState(body);
    const fatal = total(s, "fatal");
    const trend = chartBox(220);
    const parts = [
      el("div", { class: "inline-figures" },
        el("span", {}, "质检量 Evaluated ", el("b", { text: num(evaluations) })),
        el("span", { class: fatal ? "bad-text" : "" }, "致命 Fatal ", el("b", { text: num(fatal) })),
        ...GRADES.map((g) => el("span", {}, el("span", { class: "grade-chip grade-" + g, text: g }), " ",
          el("b", { text: num(total(s, "grade_" + g.toLowerCase())) })))),
    ];
    const histogram = dist?.items?.length ? chartBox(200) : null;
    parts.push(el("div", { class: histogram ? "split even" : "" }, trend, histogram));
    setState(body, "ready", ...parts);
    const lines = [{ name: "平均分 Mean score", type: "line", data: column(s, "score_mean"), color: "#2f6bff" }];
    if (hasPrevious(report)) lines.push({ name: "上期 Previous", type: "line", dashed: true, data: column(s, "score_mean", { previous: true }), color: "#94a3b8" });
    timeChart(trend, categories(report), lines);
    if (histogram) {
      const bins = new Map();
      for (const row of dist.items) {
        const b = bins.get(row.bin_start) || { now: 0, before: 0, end: row.bin_end };
        b.now += row.evaluations;
        b.before += row.previous_evaluations || 0;
        bins.set(row.bin_start, b);
      }
      const keys = [...bins.keys()].sort((a, b) => a - b);
      draw(histogram, {
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true },
        grid: { left: 8, right: 8, top: 36, bottom: 8, containLabel: true },
        xAxis: { type: "category", data: keys.map((k) => `${k}–${bins.get(k).end}`), axisLabel: { fontSize: 10 } },
        yAxis: { type: "value", minInterval: 1 },
        series: [
          { name: "本期 This period", type: "bar", data: keys.map((k) => bins.get(k).now), itemStyle: { color: "#2f6bff", borderRadius: [3, 3, 0, 0] } },
          ...(state.compare ? [{ name: "上期 Previous", type: "bar", data: keys.map((k) => bins.get(k).before), itemStyle: { color: "#cbd5e1" } }] : []),
        ],
      });
    }
  },
};

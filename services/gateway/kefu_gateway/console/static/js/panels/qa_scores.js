// 质检得分: average QA score per bucket (previous period dashed) and the grade distribution.
import { get } from "../api.js";
import { chartBox, donut, timeChart } from "../charts.js";
import { seriesParams } from "../period.js";
import { categories, column, hasPrevious, total } from "../series.js";
import { el, emptyState, num, setState } from "../ui.js";

const ROUTE = "/v1/reports/qa-scores";
const GRADE_COLORS = { A: "#12b886", B: "#2f6bff", C: "#f59f00", D: "#e03131" };

export default {
  id: "qa-scores",
  title: "质检得分",
  titleEn: "QA scores",
  hint: "平均分与等级分布 · average score per bucket and grade distribution",
  routeLabel: "GET " + ROUTE,
  csv: (state) => ({ path: ROUTE, params: seriesParams(state) }),
  async load(state, body) {
    const report = await get(ROUTE, seriesParams(state));
    const s = report.series[0];
    const evaluations = s ? total(s, "evaluations") : 0;
    if (!evaluations) return emptyState(body);
    const grades = ["A", "B", "C", "D"].map((g) => ({ name: g, value: total(s, "grade_" + g.toLowerCase()), itemStyle: { color: GRADE_COLORS[g] } }));
    const trend = chartBox(240);
    const dist = chartBox(240);
    const fatal = total(s, "fatal");
    setState(body, "ready",
      el("div", { class: "inline-figures" },
        el("span", {}, "质检量 Evaluated ", el("b", { text: num(evaluations) })),
        el("span", { class: fatal ? "bad-text" : "" }, "致命 Fatal ", el("b", { text: num(fatal) }))),
      el("div", { class: "split even" }, trend, dist));
    const lines = [{ name: "平均分 Avg score", type: "line", data: column(s, "score_mean"), color: "#2f6bff" }];
    if (hasPrevious(report)) lines.push({ name: "上期 Previous", type: "line", dashed: true, data: column(s, "score_mean", { previous: true }), color: "#94a3b8" });
    timeChart(trend, categories(report), lines);
    donut(dist, grades.filter((g) => g.value > 0));
  },
};

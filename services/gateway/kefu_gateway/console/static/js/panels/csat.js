// 客户满意度 CSAT: ratings 1–5 per bucket, the satisfied share, the previous period beside it.
import { get } from "../api.js";
import { chartBox, timeChart } from "../charts.js";
import { seriesParams } from "../period.js";
import { categories, column, hasPrevious, total } from "../series.js";
import { el, emptyState, num, pct, setState } from "../ui.js";

const ROUTE = "/v1/reports/csat";

export default {
  id: "csat",
  title: "客户满意度",
  titleEn: "CSAT",
  hint: "满意 = 4–5 分 · satisfied share of ratings (4–5 of 5) and the average",
  routeLabel: "GET " + ROUTE,
  csv: (state) => ({ path: ROUTE, params: seriesParams(state) }),
  async load(state, body) {
    const report = await get(ROUTE, seriesParams(state));
    const s = report.series[0];
    const ratings = s ? total(s, "ratings") : 0;
    if (!ratings) return emptyState(body, "所选时段暂无评价 No ratings in this period");
    const satisfied = total(s, "satisfied");
    const box = chartBox(230);
    setState(body, "ready",
      el("div", { class: "inline-figures" },
        el("span", {}, "评价 Ratings ", el("b", { text: num(ratings) })),
        el("span", {}, "满意率 CSAT ", el("b", { text: pct(satisfied / ratings) }))),
      box);
    const lines = [
      { name: "满意率 CSAT", type: "line", data: column(s, "csat"), color: "#12b886" },
    ];
    if (hasPrevious(report)) lines.push({ name: "上期 Previous", type: "line", dashed: true, data: column(s, "csat", { previous: true }), color: "#94a3b8" });
    timeChart(box, categories(report), lines, { percentAxis: true });
  },
};

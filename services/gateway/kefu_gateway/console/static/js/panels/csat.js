// 客户满意度 CSAT: the customers' own ratings (1–5, optional NPS) per bucket, the satisfied
// share against the previous period, and per team (GET /v1/reports/csat).
import { get } from "../api.js";
import { chartBox, timeChart } from "../charts.js";
import { seriesParams } from "../period.js";
import { categories, column, hasPrevious, total } from "../series.js";
import { delta, el, emptyState, num, pct, setState, table } from "../ui.js";

const ROUTE = "/v1/reports/csat";

export default {
  id: "csat",
  title: "客户满意度",
  titleEn: "CSAT",
  hint: "满意 = 4–5 分 · satisfied share of the customers' ratings (4–5 of 5), mean score, NPS",
  routeLabel: "GET " + ROUTE,
  csv: (state) => ({ path: ROUTE, params: seriesParams(state) }),
  async load(state, body) {
    const [report, teams] = await Promise.all([
      get(ROUTE, seriesParams(state)),
      get(ROUTE, { ...seriesParams(state), bucket: "none", group_by: "team" }),
    ]);
    const s = report.series[0];
    const ratings = s ? total(s, "ratings") : 0;
    if (!ratings) return emptyState(body, "所选时段暂无评价 No ratings in this period");
    const satisfied = total(s, "satisfied");
    const before = hasPrevious(report) ? total(s, "ratings", { previous: true }) : 0;
    const satisfiedBefore = hasPrevious(report) ? total(s, "satisfied", { previous: true }) : 0;
    const npsN = total(s, "nps_responses");
    const nps = npsN ? ((total(s, "promoters") - total(s, "detractors")) / npsN) * 100 : null;
    const box = chartBox(200);
    const rows = teams.series.map((g) => ({ group: g.group, ...g.buckets[0].values, previous: g.buckets[0].previous }))
      .filter((r) => r.ratings > 0);
    setState(body, "ready",
      el("div", { class: "inline-figures" },
        el("span", {}, "满意率 CSAT ", el("b", { text: pct(satisfied / ratings) }), " ",
          before ? delta(satisfied / ratings, satisfiedBefore / before, { ratio: true }) : null),
        el("span", {}, "评价 Ratings ", el("b", { text: num(ratings) })),
        el("span", {}, "NPS ", el("b", { text: nps === null ? "—" : num(nps, 0) }))),
      box,
      el("div", { class: "table-wrap" }, table([
        { label: "团队 Team", render: (r) => el("b", { text: r.group || "未分组 unassigned" }) },
        { label: "评价 Ratings", num: true, key: "ratings" },
        { label: "满意率 CSAT", num: true, render: (r) => el("span", {}, pct(r.csat), " ",
            r.previous?.ratings ? delta(r.csat, r.previous.csat, { ratio: true }) : null) },
        { label: "平均分 Mean", num: true, render: (r) => num(r.average_score, 2) },
        { label: "NPS", num: true, render: (r) => (r.nps === null ? "—" : num(r.nps, 0)) },
      ], rows)));
    const lines = [{ name: "满意率 CSAT", type: "line", data: column(s, "csat"), color: "#12b886" }];
    if (hasPrevious(report)) lines.push({ name: "上期 Previous", type: "line", dashed: true, data: column(s, "csat", { previous: true }), color: "#94a3b8" });
    timeChart(box, categories(report), lines, { percentAxis: true });
  },
};

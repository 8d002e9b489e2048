// 新建与解决趋势: tickets created vs resolved per bucket, the previous period dashed.
import { get } from "../api.js";
import { chartBox, timeChart } from "../charts.js";
import { seriesParams } from "../period.js";
import { categories, column, hasPrevious, total } from "../series.js";
import { el, emptyState, num, setState } from "../ui.js";

const ROUTE = "/v1/reports/ticket-flow";

export default {
  id: "created-resolved",
  title: "新建与解决趋势",
  titleEn: "Created vs resolved",
  hint: "工单新建量与解决量 · tickets created and resolved per bucket",
  routeLabel: "GET " + ROUTE,
  csv: (state) => ({ path: ROUTE, params: seriesParams(state) }),
  async load(state, body) {
    const report = await get(ROUTE, seriesParams(state));
    const s = report.series[0];
    if (!s || (total(s, "created_tickets") === 0 && total(s, "resolved_tickets") === 0)) return emptyState(body);
    const box = chartBox(280);
    const summary = el("div", { class: "inline-figures" },
      el("span", {}, "新建 Created ", el("b", { text: num(total(s, "created_tickets")) })),
      el("span", {}, "解决 Resolved ", el("b", { text: num(total(s, "resolved_tickets")) })));
    setState(body, "ready", summary, box);
    const lines = [
      { name: "新建 Created", data: column(s, "created_tickets"), type: "bar", color: "#2f6bff" },
      { name: "解决 Resolved", data: column(s, "resolved_tickets"), type: "bar", color: "#12b886" },
    ];
    if (hasPrevious(report)) {
      lines.push({ name: "上期新建 prev. created", data: column(s, "created_tickets", { previous: true }), type: "line", dashed: true, color: "#93b4ff" });
      lines.push({ name: "上期解决 prev. resolved", data: column(s, "resolved_tickets", { previous: true }), type: "line", dashed: true, color: "#8ce0c3" });
    }
    timeChart(box, categories(report), lines);
  },
};

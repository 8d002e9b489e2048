// 积压: open tickets now, by status and by age.
import { get } from "../api.js";
import { chartBox, draw } from "../charts.js";
import { el, emptyState, num, setState } from "../ui.js";

const ROUTE = "/v1/reports/backlog";
const AGE_BANDS = ["0-4h", "4-24h", "1-3d", "3-7d", "7d+"];
export const STATUS_LABELS = {
  new: "新建 new", open: "处理中 open", reopened: "重开 reopened", pending_customer: "待客户 pending",
};

export default {
  id: "backlog",
  title: "当前积压",
  titleEn: "Backlog now",
  hint: "未解决工单 · unresolved tickets by status and age",
  routeLabel: "GET " + ROUTE,
  csv: () => ({ path: ROUTE, params: {} }),
  async load(state, body) {
    const report = await get(ROUTE, { page_size: 500 });
    const items = report.items || [];
    const totalOpen = items.reduce((a, r) => a + r.tickets, 0);
    if (totalOpen === 0) return emptyState(body, "没有积压 No backlog");
    const statuses = [...new Set(items.map((r) => r.status))];
    const ages = AGE_BANDS.filter((b) => items.some((r) => r.age_band === b));
    const box = chartBox(230);
    setState(body, "ready",
      el("div", { class: "big-figure" }, el("b", { text: num(totalOpen) }), el("span", { text: " 张未解决 open tickets" })),
      box);
    draw(box, {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true },
      grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: statuses.map((s) => STATUS_LABELS[s] || s), axisTick: { show: false } },
      yAxis: { type: "value", minInterval: 1 },
      series: ages.map((age) => ({
        name: age, type: "bar", stack: "age", barMaxWidth: 36,
        data: statuses.map((s) => items.filter((r) => r.status === s && r.age_band === age).reduce((a, r) => a + r.tickets, 0)),
      })),
    });
  },
};

// 积压: open tickets now, by status and by age.
import { get } from "../api.js";
import { chartBox, draw } from "../charts.js";
import { el, emptyState, num, setState } from "../ui.js";

const ROUTE = "/v1/reports/backlog";
export const STATUS_LABELS = {
  new: "新建 new", open: "处理中 open", pending_customer: "待客户 pending", resolved: "已解决 resolved",
};

export default {
  id: "backlog",
  title: "当前积压",
  titleEn: "Backlog now",
  hint: "未解决工单 · unresolved tickets by status and age",
  routeLabel: "GET " + ROUTE,
  csv: () => ({ path: ROUTE, params: {} }),
  async load(state, body) {
    const report = await get(ROUTE, {});
    const items = report.items || [];
    const totalOpen = items.reduce((a, r) => a + r.count, 0);
    if (totalOpen === 0) return emptyState(body, "没有积压 No backlog");
    const statuses = [...new Set(items.map((r) => r.status))];
    const ages = [...new Set(items.map((r) => r.age))];
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
        data: statuses.map((s) => items.find((r) => r.status === s && r.age === age)?.count || 0),
      })),
    });
  },
};

// SLA 风险时钟: clocks due soon or breached and still unresolved, soonest first, counting down
// to the second.
import { get } from "../api.js";
import { countdown, el, emptyState, setState, table } from "../ui.js";
import { TARGET_LABELS } from "./sla_attainment.js";

const ROUTE = "/v1/reports/clocks-at-risk";
const WITHIN_MINUTES = 240;

export default {
  id: "sla-at-risk",
  title: "SLA 风险时钟",
  titleEn: "SLA at risk now",
  hint: `${WITHIN_MINUTES / 60} 小时内到期或已超时 · due within ${WITHIN_MINUTES / 60} h or breached, soonest first`,
  routeLabel: "GET " + ROUTE,
  csv: () => ({ path: ROUTE, params: { within_minutes: WITHIN_MINUTES } }),
  async load(state, body) {
    const page = await get(ROUTE, { within_minutes: WITHIN_MINUTES, include_breached: true, page_size: 50 });
    if (page.items.length === 0) return emptyState(body, "没有风险时钟 No clock at risk");
    const breached = page.items.filter((c) => c.breached).length;
    setState(body, "ready",
      el("div", { class: "inline-figures" },
        el("span", {}, "风险 At risk ", el("b", { text: String(page.items.length - breached) })),
        el("span", { class: "bad-text" }, "已超时 Breached ", el("b", { text: String(breached) }))),
      el("div", { class: "table-wrap tall" }, table([
        { label: "剩余 Time left", render: (c) => countdown(c.due_at) },
        { label: "目标 Target", render: (c) => TARGET_LABELS[c.target] || c.target },
        { label: "工单 Ticket", render: (c) => el("code", { text: (c.ticket_number ? "#" + c.ticket_number : c.ticket_id.slice(0, 8)) }) },
        { label: "等级 Level", render: (c) => c.level ? el("span", { class: "pill " + c.level.toLowerCase(), text: c.level.toUpperCase() }) : "—" },
        { label: "团队 Team", render: (c) => c.team || "—" },
        { label: "到期 Due", render: (c) => new Date(c.due_at).toLocaleTimeString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false }) },
      ], page.items, { rowAttrs: (c) => ({ class: c.breached ? "row-bad" : "" }) })));
  },
};

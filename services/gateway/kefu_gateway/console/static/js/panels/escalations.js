// 待确认升级: escalations nobody has acknowledged yet, with the time left to acknowledge.
import { ApiError, listAll } from "../api.js";
import { countdown, el, emptyState, localTime, setState, table, timeAgo } from "../ui.js";

const ROUTE = "/v1/reports/unacknowledged-escalations";
const LIST = "/v1/escalations";

// The report's unacknowledged escalations; a gateway without it: the escalation list, open and
// late. Shown soonest acknowledgement deadline first (the most overdue on top).
async function waitingEscalations() {
  let items;
  try {
    items = await listAll(ROUTE, {}, 500);
  } catch (err) {
    if (!(err instanceof ApiError && err.routeMissing)) throw err;
    const [open, late] = await Promise.all([
      listAll(LIST, { status: "open" }, 500), listAll(LIST, { status: "ack_breached" }, 500),
    ]);
    items = [...open, ...late].filter((e) => !e.acknowledged_at);
  }
  const due = (e) => new Date(e.ack_due_at || e.created_at).getTime();
  return items.sort((a, b) => due(a) - due(b));
}
const isLate = (e) => (e.seconds_to_ack_due ?? (new Date(e.ack_due_at) - Date.now()) / 1000) < 0 || e.status === "ack_breached";
export const TRIGGER_LABELS = {
  matrix: "矩阵 matrix", breach: "超时 SLA breach", contacts: "多次来电 repeat contacts", reopens: "重开 reopens",
  risk_signal: "风险信号 risk signal", anxious_customer: "焦虑客户 anxious customer", manual: "绿色通道 green channel",
  ack_timeout: "确认超时 ack timeout", dissatisfied_rating: "差评 dissatisfied rating",
};
const PARTY = { senior_specialist: "高级专员 senior specialist", team_lead: "组长 team lead", crisis_team: "危机小组 crisis team" };

export default {
  id: "escalations",
  title: "待确认升级",
  titleEn: "Escalations waiting for acknowledgement",
  hint: "尚未确认的升级，最紧迫的在前 · open escalations, soonest acknowledgement deadline first, counting down",
  routeLabel: "GET " + ROUTE,
  csv: () => ({ path: ROUTE, params: {} }),
  async load(state, body) {
    const waiting = await waitingEscalations();
    if (waiting.length === 0) return emptyState(body, "没有待确认的升级 Nothing waiting");
    setState(body, "ready",
      el("div", { class: "inline-figures" },
        el("span", {}, "待确认 Waiting ", el("b", { text: String(waiting.length) })),
        el("span", { class: "bad-text" }, "确认超时 Late ", el("b", { text: String(waiting.filter(isLate).length) }))),
      el("div", { class: "table-wrap tall" }, table([
        { label: "确认剩余 Ack time left", render: (e) => e.ack_due_at ? countdown(e.ack_due_at) : "—" },
        { label: "等级 Level", render: (e) => el("span", { class: "pill " + e.to_level.toLowerCase(), text: `${e.from_level.toUpperCase()} → ${e.to_level.toUpperCase()}` }) },
        { label: "触发 Trigger", render: (e) => TRIGGER_LABELS[e.trigger] || e.trigger },
        { label: "接收方 To", render: (e) => PARTY[e.to_party] || e.to_party },
        { label: "团队 Team", render: (e) => e.team || "—" },
        ...(waiting.some((e) => e.reason) ? [{ label: "原因 Reason", render: (e) => el("span", { class: "clip", title: e.reason, text: e.reason }) }] : []),
        { label: "工单 Ticket", render: (e) => el("code", { text: e.ticket_id.slice(0, 8) }) },
        { label: "升级于 Raised", render: (e) => el("span", { title: localTime(e.created_at), text: timeAgo(e.created_at) }) },
      ], waiting, { rowAttrs: (e) => ({ class: isLate(e) ? "row-bad" : "" }) })));
  },
};

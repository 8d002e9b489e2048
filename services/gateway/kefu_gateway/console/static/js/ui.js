// Small DOM helpers, number formats, the panel frame and the one-second countdown ticker.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export const pct = (x, digits = 1) =>
  x === null || x === undefined || Number.isNaN(x) ? "—" : (x * 100).toFixed(digits) + "%";
export const num = (x, digits = 0) =>
  x === null || x === undefined || Number.isNaN(x)
    ? "—"
    : Number(x).toLocaleString("zh-CN", { maximumFractionDigits: digits, minimumFractionDigits: digits });

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.abs(Math.round(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const pad = (n) => String(n).padStart(2, "0");
  const body = d > 0 ? `${d}d ${pad(h)}:${pad(m)}:${pad(sec)}` : `${pad(h)}:${pad(m)}:${pad(sec)}`;
  return (seconds < 0 ? "−" : "") + body;
}

export function timeAgo(iso) {
  const s = (Date.now() - new Date(iso).getTime()) / 1000;
  if (s < 90) return "刚刚 just now";
  if (s < 3600) return `${Math.round(s / 60)} 分钟前 min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} 小时前 h ago`;
  return `${Math.round(s / 86400)} 天前 d ago`;
}

export function localTime(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
}

// Delta of a figure against its previous value: "▲ 12.0%" (good or bad by `higherIsBetter`).
export function delta(current, previous, { higherIsBetter = true, ratio = false } = {}) {
  if (previous === null || previous === undefined || current === null || current === undefined) return null;
  let text;
  let change;
  if (ratio) {
    change = current - previous;
    text = `${change >= 0 ? "▲" : "▼"} ${(Math.abs(change) * 100).toFixed(1)} pt`;
  } else {
    if (previous === 0) return el("span", { class: "delta flat", text: current === 0 ? "= 上期 same" : "上期为 0 · prev. 0" });
    change = (current - previous) / previous;
    text = `${change >= 0 ? "▲" : "▼"} ${(Math.abs(change) * 100).toFixed(1)}%`;
  }
  if (Math.abs(change) < 1e-9) return el("span", { class: "delta flat", text: "= 上期 same" });
  const good = change > 0 === higherIsBetter;
  return el("span", { class: "delta " + (good ? "good" : "bad"), title: "vs previous period 对比上期", text });
}

export const FLAG_LABELS = {
  regulator: "监管投诉 regulator", media: "媒体曝光 media", legal: "法律 legal", abuse: "辱骂 abuse",
  negative_emotion: "负面情绪 negative emotion", predicted_detractor: "预测不满 predicted detractor", other: "其他风险 other",
};
export const flagLabel = (f) => FLAG_LABELS[f] || f;

export function toast(message, kind = "info") {
  const t = document.getElementById("toast");
  t.textContent = message;
  t.className = "toast " + kind;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.hidden = true), 4000);
}

// The frame of one panel: title (中文 + English), a hint, a CSV button, a body.
export function frame(article, panel, onCsv) {
  article.replaceChildren();
  article.id = "panel-" + panel.id;
  const csv = el("button", { type: "button", class: "btn small", "data-csv": panel.id, onclick: onCsv },
    "⤓ CSV");
  const head = el(
    "header",
    { class: "panel-head" },
    el("div", {}, el("h3", {}, panel.title, " ", el("span", { class: "en", text: panel.titleEn })),
      panel.hint ? el("div", { class: "hint", text: panel.hint }) : null),
    el("div", { class: "panel-actions" }, el("code", { class: "route", text: panel.routeLabel }), csv),
  );
  const body = el("div", { class: "panel-body", "data-state": "loading" }, el("div", { class: "skeleton" }));
  article.append(head, body);
  return body;
}

export function setState(body, state, ...children) {
  body.dataset.state = state;
  body.replaceChildren(...children);
}

export function missingRoute(body, route) {
  setState(
    body,
    "missing",
    el("div", { class: "missing" },
      el("div", { class: "missing-title", text: "等待接口 Waiting for this route" }),
      el("code", { text: route }),
      el("div", { class: "muted", text: "This server does not serve it yet; the panel fills in as soon as it does." })),
  );
}

export function errorState(body, err) {
  setState(
    body,
    "error",
    el("div", { class: "error-box" },
      el("strong", { text: err.code || "error" }), " ",
      el("span", { text: err.message || String(err) })),
  );
}

export function emptyState(body, message = "所选时段暂无数据 No data in this period") {
  setState(body, "empty", el("div", { class: "empty", text: message }));
}

// "一次解决率 FCR" → the Chinese on top, the English below it (narrower columns).
function headLabel(label) {
  const m = /^([^\x00-\x7f]\S*)\s+(.+)$/.exec(label || "");
  return m ? el("span", { class: "th2" }, m[1], el("small", { text: m[2] })) : label;
}

export function table(columns, rows, { rowAttrs } = {}) {
  return el(
    "table",
    { class: "data" },
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", { class: c.num ? "num" : "" }, headLabel(c.label))))),
    el("tbody", {}, rows.map((r, i) =>
      el("tr", rowAttrs ? rowAttrs(r, i) : {}, columns.map((c) => {
        const v = c.render ? c.render(r) : r[c.key];
        return el("td", { class: c.num ? "num" : "" }, v instanceof Node ? v : v ?? "—");
      })))),
  );
}

// Countdowns to the second: any element with data-deadline (ISO instant) shows the time left
// (or the overrun, in red) and is refreshed every second.
export function countdown(iso) {
  return el("span", { class: "countdown", "data-deadline": iso }, tickText(iso));
}
function tickText(iso) {
  const left = (new Date(iso).getTime() - Date.now()) / 1000;
  return left >= 0 ? duration(left) : "超时 " + duration(-left);
}
export function startTicker() {
  setInterval(() => {
    for (const node of document.querySelectorAll("[data-deadline]")) {
      const left = new Date(node.dataset.deadline).getTime() - Date.now();
      node.textContent = tickText(node.dataset.deadline);
      node.classList.toggle("overdue", left < 0);
      node.classList.toggle("soon", left >= 0 && left < 15 * 60000);
    }
  }, 1000);
}

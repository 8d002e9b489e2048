// Charts through Apache ECharts (vendored: /static/vendor/echarts, see VENDORED.md).

import { el } from "./ui.js";

export const PALETTE = ["#2f6bff", "#12b886", "#f59f00", "#e8590c", "#7048e8", "#1098ad", "#d6336c", "#868e96"];
const FONT = '"PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", system-ui, sans-serif';
const charts = new Set();

window.addEventListener("resize", () => charts.forEach((c) => c.resize()));

export function chartBox(height = 260) {
  const box = el("div", { class: "chart" });
  box.style.height = height + "px";
  return box;
}

export function draw(box, option) {
  const existing = window.echarts.getInstanceByDom(box);
  const chart = existing || window.echarts.init(box, null, { renderer: "canvas" });
  if (!existing) charts.add(chart);
  chart.setOption(
    {
      color: PALETTE,
      textStyle: { fontFamily: FONT, color: "#334155" },
      animationDuration: 300,
      grid: { left: 48, right: 20, top: 36, bottom: 36, containLabel: true },
      tooltip: { trigger: "axis", confine: true },
      legend: { top: 0, right: 0, icon: "roundRect", itemWidth: 12, itemHeight: 8, textStyle: { fontSize: 12 } },
      ...option,
    },
    true,
  );
  // Charts drawn while their panel was still hidden measure zero: measure again.
  requestAnimationFrame(() => chart.resize());
  return chart;
}

const axisLabel = { color: "#64748b", fontSize: 11 };
const splitLine = { lineStyle: { color: "#eef2f7" } };

// Bars or lines over buckets; `series`: [{name, data, type: "bar"|"line", dashed, stack, yAxis}]
export function timeChart(box, categories, series, { percentAxis = false, twoAxes = false } = {}) {
  const yAxis = [
    {
      type: "value",
      axisLabel: { ...axisLabel, formatter: percentAxis ? (v) => Math.round(v * 100) + "%" : undefined },
      splitLine,
      max: percentAxis ? 1 : undefined,
    },
  ];
  if (twoAxes) yAxis.push({ type: "value", axisLabel: { ...axisLabel, formatter: (v) => Math.round(v * 100) + "%" }, splitLine: { show: false }, max: 1 });
  return draw(box, {
    xAxis: { type: "category", data: categories, axisLabel, axisTick: { show: false }, axisLine: { lineStyle: { color: "#cbd5e1" } } },
    yAxis,
    series: series.map((s) => ({
      name: s.name,
      type: s.type || "bar",
      data: s.data,
      stack: s.stack,
      yAxisIndex: s.yAxis || 0,
      smooth: s.type === "line",
      symbolSize: 6,
      showSymbol: !s.dashed && s.type === "line",
      barMaxWidth: 28,
      itemStyle: s.color ? { color: s.color, borderRadius: s.type === "line" ? 0 : [3, 3, 0, 0] } : { borderRadius: [3, 3, 0, 0] },
      lineStyle: s.dashed ? { type: "dashed", width: 1.5, opacity: 0.8 } : { width: 2.5 },
      emphasis: { focus: "series" },
    })),
  });
}

// Horizontal ranking bars (top first).
export function rankChart(box, labels, values, { name = "", color = PALETTE[0], format } = {}) {
  return draw(box, {
    grid: { left: 8, right: 48, top: 8, bottom: 8, containLabel: true },
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true },
    legend: { show: false },
    xAxis: { type: "value", axisLabel, splitLine },
    yAxis: { type: "category", data: labels.slice().reverse(), axisLabel: { ...axisLabel, fontSize: 12, color: "#334155" }, axisTick: { show: false } },
    series: [{
      name, type: "bar", data: values.slice().reverse(), barMaxWidth: 18,
      itemStyle: { color, borderRadius: [0, 3, 3, 0] },
      label: { show: true, position: "right", color: "#475569", fontSize: 11, formatter: format ? (p) => format(p.value) : undefined },
    }],
  });
}

export function donut(box, items) {
  return draw(box, {
    tooltip: { trigger: "item", confine: true },
    legend: { orient: "vertical", right: 0, top: "middle" },
    series: [{
      type: "pie", radius: ["52%", "78%"], center: ["36%", "52%"], avoidLabelOverlap: true,
      itemStyle: { borderColor: "#fff", borderWidth: 2 },
      label: { show: true, formatter: "{d}%", fontSize: 11 },
      data: items,
    }],
  });
}

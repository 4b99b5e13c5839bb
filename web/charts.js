// The training curves of a job page, drawn with uPlot (pinned in web/package.json, embedded at build
// time): losses (raw and smoothed), learning rate and gradient norm against the step, linear or log.
import uPlot from "./vendor/uPlot.esm.js";
import { el } from "./dom.js";

const charts = [
  {
    id: "loss-chart",
    title: "Loss",
    series: [
      ["video_loss", "video", "rgba(37, 99, 235, 0.35)"],
      ["video_loss_smoothed", "video (smoothed)", "rgb(37, 99, 235)"],
      ["audio_loss", "audio", "rgba(234, 88, 12, 0.35)"],
      ["audio_loss_smoothed", "audio (smoothed)", "rgb(234, 88, 12)"],
    ],
  },
  { id: "lr-chart", title: "Learning rate", series: [["learning_rate", "learning rate", "rgb(22, 163, 74)"]] },
  { id: "grad-chart", title: "Gradient norm", series: [["grad_norm", "gradient norm (before clipping)", "rgb(147, 51, 234)"]] },
];

// Axis labels that stay readable from 1e-6 (learning rates) to thousands; whole steps only.
const valueLabels = (plot, splits) =>
  splits.map((value) => (value === null ? "" : value === 0 ? "0" : Math.abs(value) < 1e-3 || Math.abs(value) >= 1e5 ? value.toExponential(1) : String(+value.toPrecision(3))));
const stepLabels = (plot, splits) => splits.map((value) => (Number.isInteger(value) ? String(value) : ""));

// A panel of charts; update(metrics) redraws them with GET .../metrics's answer.
export function trainingCharts() {
  let logScale = false;
  let last = null;
  const plots = new Map();
  const toggle = el("input", { type: "checkbox", id: "log-scale" });
  const boxes = new Map(charts.map((chart) => [chart.id, el("div", { class: "chart", id: chart.id, dataset: { points: 0 } })]));
  const element = el(
    "section",
    { class: "card charts" },
    el("div", { class: "heading" }, el("h2", {}, "Training curves"), el("label", { class: "toggle" }, toggle, " log scale")),
    el("p", { class: "muted", id: "charts-empty" }, "Curves appear once training starts."),
    charts.map((chart) => el("div", {}, el("h3", {}, chart.title), boxes.get(chart.id))),
  );

  function draw() {
    if (!last || !last.step.length) return;
    element.querySelector("#charts-empty").hidden = true;
    for (const chart of charts) {
      const box = boxes.get(chart.id);
      const data = [last.step, ...chart.series.map(([name]) => last.series[name])];
      box.dataset.points = last.step.length;
      const width = Math.max(280, box.clientWidth || 600);
      const existing = plots.get(chart.id);
      if (existing && existing.logScale === logScale) {
        existing.plot.setData(data);
        if (existing.plot.width !== width) existing.plot.setSize({ width, height: 220 });
        continue;
      }
      if (existing) existing.plot.destroy();
      const plot = new uPlot(
        {
          width,
          height: 220,
          scales: { x: { time: false }, y: { distr: logScale ? 3 : 1 } },
          axes: [{ label: "step", values: stepLabels }, { values: valueLabels, size: 60 }],
          series: [{ label: "step" }, ...chart.series.map(([, label, stroke]) => ({ label, stroke, width: 1.5, spanGaps: true }))],
        },
        data,
        box,
      );
      plots.set(chart.id, { plot, logScale });
    }
  }
  toggle.addEventListener("change", () => {
    logScale = toggle.checked;
    draw();
  });
  const onResize = () => draw();
  window.addEventListener("resize", onResize);
  return {
    element,
    update(metrics) {
      last = metrics;
      draw();
    },
    destroy() {
      window.removeEventListener("resize", onResize);
      for (const { plot } of plots.values()) plot.destroy();
    },
  };
}

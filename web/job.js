// A job's page: status and stage timeline, live progress (the status stream), training curves, the
// validation previews with their sound, the final reel, the log tail, cancel, the result's downloads,
// and for a failed job its error with the 422 details.
import { call, prefix, followStatus, describeError } from "./api.js";
import { el, bytes, duration, eta, progressBar } from "./dom.js";
import { trainingCharts } from "./charts.js";
import { tryItPanel } from "./try_it.js";

const metricsRefreshMs = 3000;
const logLinesKept = 300;
const stageNames = ["downloading", "preprocessing", "encoding", "training", "validating", "uploading"];

function timelineView(stages, current) {
  return el(
    "ol",
    { class: "timeline", id: "timeline" },
    stageNames.map((name) => {
      const entry = stages.find((stage) => stage.stage === name);
      const state = !entry ? "pending" : entry.seconds === null ? "running" : "done";
      return el(
        "li",
        { class: `${state}${name === current ? " current" : ""}`, dataset: { stage: name } },
        el("span", { class: "name" }, name),
        el("span", { class: "seconds" }, entry ? (entry.seconds === null ? "running" : duration(entry.seconds)) : ""),
      );
    }),
  );
}

function mediaPlayer(url, label, id) {
  return el(
    "figure",
    { class: "player", id },
    el("video", { src: url, controls: true, preload: "metadata", playsinline: true }),
    el("figcaption", {}, label),
  );
}

function resultFiles(result) {
  const files = ["lora_file", "config_file", "video", "debug_dataset"]
    .filter((name) => result[name])
    .map((name) => ({ name, ...result[name] }));
  return el(
    "ul",
    { class: "downloads", id: "downloads" },
    files.map((file) =>
      el("li", {}, el("a", { href: file.url, download: file.file_name }, file.file_name), ` ${bytes(file.file_size)} · ${file.name}`),
    ),
  );
}

function errorView(body) {
  const problems = Array.isArray(body.detail) ? body.detail : [{ loc: [], msg: describeError(body) }];
  return el(
    "div",
    { class: "error-report", id: "job-error" },
    el("h2", {}, `Failed (HTTP ${body.status ?? ""}${body.error_type ? `, ${body.error_type}` : ""})`),
    el("ul", {}, problems.map((problem) =>
      el("li", {}, problem.loc && problem.loc.length ? el("code", {}, problem.loc.join(".")) : null, problem.loc && problem.loc.length ? " " : null, problem.msg))),
    el("p", { class: "muted" }, `Billed ${body.billing ? body.billing.units : 0} units.`),
  );
}

export function showJob(main, id) {
  const abort = new AbortController();
  let metricsTimer = null;
  let finished = false;
  const title = el("h1", {}, `Job ${id.slice(0, 8)}`);
  const state = el("p", { class: "state", id: "job-state", dataset: { requestId: id } }, "loading…");
  const progressSlot = el("div", { id: "job-progress" });
  const timelineSlot = el("div", {});
  const cancel = el("button", { type: "button", id: "cancel-job", class: "danger", hidden: true }, "Cancel");
  const notes = el("ul", { class: "notes", id: "job-notes" });
  const outcomeSlot = el("section", { class: "card", id: "job-outcome", hidden: true });
  const previews = el("div", { class: "players", id: "previews" });
  const previewCard = el("section", { class: "card", hidden: true }, el("h2", {}, "Validation previews"), previews);
  const log = el("pre", { class: "log", id: "job-log" });
  const charts = trainingCharts();
  let tryIt = null;
  main.replaceChildren(
    el("section", { class: "card" }, el("div", { class: "heading" }, title, cancel), state, progressSlot, timelineSlot, notes),
    outcomeSlot,
    charts.element,
    previewCard,
    el("section", { class: "card" }, el("h2", {}, "Log"), log),
  );

  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    const answer = await call(`${prefix}/requests/${id}/cancel`, { method: "PUT" });
    state.textContent = answer.status === 202 ? "cancelling…" : `cannot cancel: ${answer.body?.status || describeError(answer.body)}`;
  });

  const shownPreviews = new Set();
  function onStatus(status) {
    const startedAt = status.stages?.[0]?.started_at;
    const left = status.status === "IN_PROGRESS" ? eta(startedAt, status.progress) : null;
    state.textContent = status.status === "IN_QUEUE"
      ? `queued, position ${status.queue_position ?? 0}`
      : `${status.stage}${status.message ? ` · ${status.message}` : ""}`;
    state.dataset.status = status.status;
    // A try-it job has no curves or previews of its own.
    charts.element.hidden = status.kind === "inference";
    title.textContent = `${status.kind === "inference" ? "Try-it job" : "Job"} ${id.slice(0, 8)}`;
    state.dataset.stage = status.stage;
    progressSlot.replaceChildren(progressBar(status.progress, left !== null ? `${Math.round(status.progress * 100)}% · ${duration(left)} left` : undefined));
    timelineSlot.replaceChildren(timelineView(status.stages || [], status.stage));
    cancel.hidden = status.status === "COMPLETED";
    notes.replaceChildren(...(status.notes || []).map((note) => el("li", {}, note)));
    for (const preview of status.previews || []) {
      if (shownPreviews.has(preview.step)) continue;
      shownPreviews.add(preview.step);
      previewCard.hidden = false;
      previews.append(mediaPlayer(preview.url, `step ${preview.step} · ${bytes(preview.file_size)}`, `preview-${preview.step}`));
    }
    if (status.logs && status.logs.length) {
      const lines = (log.textContent ? log.textContent.split("\n") : []).concat(
        status.logs.map((line) => `${line.timestamp.slice(11, 19)} ${line.level.padEnd(7)} ${line.message}`));
      log.textContent = lines.slice(-logLinesKept).join("\n");
      log.scrollTop = log.scrollHeight;
    }
    if (status.status === "COMPLETED" && !finished) {
      finished = true;
      showOutcome(status.outcome);
    }
  }

  async function showOutcome(outcome) {
    const { body } = await call(`${prefix}/requests/${id}`);
    refreshMetrics();
    outcomeSlot.hidden = false;
    outcomeSlot.dataset.outcome = outcome;
    if (outcome === "succeeded" && body) {
      const training = Boolean(body.lora_file);
      outcomeSlot.replaceChildren(
        el("h2", {}, "Result"),
        body.video ? mediaPlayer(body.video.url, `${training ? "validation reel" : "generated clip"} · ${bytes(body.video.file_size)}`, "reel") : null,
        resultFiles(body),
        el("p", { class: "billing" }, `Billed ${body.billing.units} units, $${body.billing.cost_usd}.`),
      );
      if (training && !abort.signal.aborted) {
        tryIt = tryItPanel(id, body);
        outcomeSlot.after(tryIt.element);
      }
    } else if (body) {
      outcomeSlot.replaceChildren(outcome === "cancelled" ? el("h2", {}, "Cancelled") : null, errorView(body));
    }
  }

  async function refreshMetrics() {
    clearTimeout(metricsTimer);
    const { status, body } = await call(`${prefix}/requests/${id}/metrics`);
    if (abort.signal.aborted) return;
    if (status === 200) charts.update(body);
    if (!finished) metricsTimer = setTimeout(refreshMetrics, metricsRefreshMs);
  }

  (async () => {
    const first = await call(`${prefix}/requests/${id}/status`);
    if (abort.signal.aborted) return;
    if (first.status === 404 || first.status >= 400) {
      state.textContent = describeError(first.body);
      return;
    }
    refreshMetrics();
    // The stream sends the log from its start, then each change; it ends after COMPLETED.
    for (let attempt = 0; !finished && !abort.signal.aborted; attempt += 1) {
      try {
        log.textContent = "";
        await followStatus(id, onStatus, abort.signal);
      } catch (error) {
        if (abort.signal.aborted) return;
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 500 * 2 ** attempt)));
      }
    }
  })();

  return () => {
    abort.abort();
    clearTimeout(metricsTimer);
    charts.destroy();
    tryIt?.destroy();
  };
}

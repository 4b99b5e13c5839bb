// The key's jobs, newest first (GET {prefix}/requests), refreshed every two seconds.
import { call, prefix, describeError } from "./api.js";
import { el, eta, duration, time, progressBar } from "./dom.js";

const refreshMs = 2000;

function jobRow(job) {
  const running = job.status === "IN_PROGRESS";
  const left = running ? eta(job.started_at, job.progress) : null;
  return el(
    "tr",
    { class: `job ${job.outcome || job.stage}`, dataset: { requestId: job.request_id } },
    el("td", {}, el("a", { href: `#/jobs/${job.request_id}` }, job.request_id.slice(0, 8)), job.kind === "inference" ? el("span", { class: "muted" }, " try-it") : null),
    el("td", {}, time(job.created_at)),
    el("td", { class: "stage" }, job.stage),
    el("td", {}, progressBar(job.progress, left !== null ? `${Math.round(job.progress * 100)}% · ${duration(left)} left` : undefined)),
    el("td", { class: "outcome" }, job.outcome || ""),
    el("td", { class: "billing" }, `${job.billing.units} units · $${job.billing.cost_usd}`),
  );
}

export function showJobs(main) {
  const body = el("tbody", { id: "job-rows" });
  const empty = el("p", { class: "muted", hidden: true }, "No jobs yet. ", el("a", { href: "#/new" }, "Start one."));
  const problem = el("p", { class: "error", hidden: true });
  main.replaceChildren(
    el(
      "section",
      { class: "card" },
      el("div", { class: "heading" }, el("h1", {}, "Jobs"), el("a", { class: "button", href: "#/new" }, "New job")),
      problem,
      el(
        "div",
        { class: "table-scroll" },
        el(
          "table",
          { class: "jobs" },
          el("thead", {}, el("tr", {}, ["Job", "Submitted", "Stage", "Progress", "Outcome", "Billing"].map((name) => el("th", {}, name)))),
          body,
        ),
      ),
      empty,
    ),
  );
  let timer = null;
  let stopped = false;
  async function refresh() {
    const { status, body: page } = await call(`${prefix}/requests?limit=50`);
    if (stopped) return;
    problem.hidden = status === 200;
    if (status !== 200) problem.textContent = describeError(page);
    else {
      body.replaceChildren(...page.requests.map(jobRow));
      empty.hidden = page.requests.length > 0;
    }
    timer = setTimeout(refresh, refreshMs);
  }
  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

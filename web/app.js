// The dashboard's entry: sign-in, then the view the address names (#/, #/new, #/jobs/<id>).
import { checkAccess, setApiKey, apiKey } from "./api.js";
import { el } from "./dom.js";
import { showJobs } from "./jobs.js";
import { showNewJob } from "./new_job.js";
import { showJob } from "./job.js";

const main = document.getElementById("main");
let leaveView = () => {};

function showSignIn(message) {
  const input = el("input", { id: "api-key", type: "password", autocomplete: "off", required: true, placeholder: "your API key" });
  const form = el(
    "form",
    { class: "card sign-in", id: "sign-in" },
    el("h1", {}, "Sign in"),
    el("p", {}, "This server takes API keys. The key is kept for this tab only."),
    message ? el("p", { class: "error", role: "alert" }, message) : null,
    el("label", { for: "api-key" }, "API key"),
    input,
    el("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setApiKey(input.value.trim());
    route();
  });
  main.replaceChildren(form);
  input.focus();
}

async function route() {
  leaveView();
  leaveView = () => {};
  const access = await checkAccess();
  document.getElementById("sign-out").hidden = !apiKey();
  if (access !== "ok") {
    showSignIn(access === "bad-key" ? "That key was not accepted." : "");
    return;
  }
  const hash = location.hash || "#/";
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", (hash === "#/" && link.dataset.nav === "jobs") || (hash === "#/new" && link.dataset.nav === "new"));
  }
  const job = hash.match(/^#\/jobs\/([0-9a-f-]{36})$/);
  if (job) leaveView = showJob(main, job[1]);
  else if (hash === "#/new") leaveView = showNewJob(main);
  else leaveView = showJobs(main);
}

document.getElementById("sign-out").addEventListener("click", () => {
  setApiKey("");
  route();
});
window.addEventListener("hashchange", route);
route();

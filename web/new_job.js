// New job: a form built from the request's schema (GET {prefix}/schema: defaults, ranges, choices, help),
// the dataset uploaded with a progress bar (or given as a URL), "Check dataset" before paying
// (POST {prefix}/dataset-check) and each 422 problem shown next to its field.
import { call, prefix, uploadFile, describeError } from "./api.js";
import { el, bytes } from "./dom.js";

// Which fields show at once; the rest sit in folded groups.
const groups = [
  { title: "Training", open: true, fields: ["training_data_url", "trigger_phrase", "number_of_steps", "rank", "learning_rate"] },
  {
    title: "Clips",
    fields: ["resolution", "aspect_ratio", "number_of_frames", "frame_rate", "auto_scale_input", "reference_downscale_factor",
      "reference_temporal_scale_factor", "split_input_into_scenes", "split_input_duration_threshold"],
  },
  { title: "Audio", fields: ["audio_normalize", "audio_preserve_pitch"] },
  {
    title: "Validation previews",
    fields: ["validation", "validation_interval", "validation_negative_prompt", "validation_number_of_frames",
      "validation_frame_rate", "validation_resolution", "validation_aspect_ratio", "stg_scale", "debug_dataset"],
  },
];

// A file input or a URL for one location field; value() uploads a chosen file once and returns its URL.
function locationInput(id, required, progressLabel) {
  const file = el("input", { type: "file", id: `${id}-file`, accept: id === "training_data_url" ? ".zip,application/zip" : undefined });
  const url = el("input", { type: "url", id: `${id}-url`, placeholder: "or an https:// URL", "aria-label": `${id} URL` });
  const progress = el("progress", { max: 1, value: 0, hidden: true, id: `${id}-progress` });
  const status = el("span", { class: "muted" });
  let uploaded = null; // {file, url}
  file.addEventListener("change", () => {
    uploaded = null;
    status.textContent = file.files[0] ? `${file.files[0].name}, ${bytes(file.files[0].size)}` : "";
  });
  return {
    element: el("div", { class: "location" }, file, url, progress, status),
    async value() {
      const chosen = file.files[0];
      if (!chosen) return url.value.trim() || (required ? "" : undefined);
      if (uploaded && uploaded.file === chosen) return uploaded.url;
      progress.hidden = false;
      status.textContent = `uploading ${progressLabel}…`;
      const fileUrl = await uploadFile(chosen, (fraction) => (progress.value = fraction));
      uploaded = { file: chosen, url: fileUrl };
      status.textContent = `${chosen.name}, ${bytes(chosen.size)}, uploaded`;
      return fileUrl;
    },
  };
}

function validationEditor(field) {
  const list = el("div", { class: "validation-entries" });
  const entries = [];
  const add = el("button", { type: "button", class: "secondary" }, "Add a preview");
  function addEntry() {
    const index = entries.length;
    const prompt = el("input", { type: "text", id: `validation-${index}-prompt`, placeholder: "prompt (with the trigger phrase)" });
    const video = locationInput(`validation-${index}-reference_video_url`, true, "the reference video");
    const audio = locationInput(`validation-${index}-reference_audio_url`, false, "the reference audio");
    const box = el(
      "fieldset",
      { class: "validation-entry", dataset: { loc: `validation.${index}` } },
      el("legend", {}, `Preview ${index + 1}`),
      el("label", { for: prompt.id }, "Prompt"), prompt, errorSlot(`validation.${index}.prompt`),
      el("label", {}, "Reference video"), video.element, errorSlot(`validation.${index}.reference_video_url`),
      el("label", {}, "Reference audio (optional)"), audio.element, errorSlot(`validation.${index}.reference_audio_url`),
    );
    entries.push({ prompt, video, audio });
    list.append(box);
    add.hidden = entries.length >= field.max_items;
  }
  add.addEventListener("click", addEntry);
  return {
    element: el("div", {}, list, add),
    async value() {
      const out = [];
      for (const entry of entries) {
        const item = { prompt: entry.prompt.value, reference_video_url: await entry.video.value() };
        const audioUrl = await entry.audio.value();
        if (audioUrl) item.reference_audio_url = audioUrl;
        out.push(item);
      }
      return out;
    },
  };
}

function errorSlot(loc) {
  return el("p", { class: "field-error", dataset: { loc }, role: "alert", hidden: true });
}

function rangeText(field) {
  if (field.choices) return `one of ${field.choices.join(", ")}`;
  if (field.exclusive_minimum !== undefined) return `above ${field.exclusive_minimum}`;
  if (field.minimum !== undefined) return `${field.minimum} to ${field.maximum}${field.snap ? `, ${field.snap}` : ""}`;
  return "";
}

// One field's input: {element, value()} where value() is what the request carries (undefined: left out).
function fieldInput(field) {
  const id = `field-${field.name}`;
  if (field.type === "url") return locationInput(field.name, true, "the dataset");
  if (field.type === "validation") return validationEditor(field);
  if (field.type === "boolean") {
    const input = el("input", { type: "checkbox", id, checked: field.default === true });
    return { element: input, value: async () => input.checked };
  }
  if (field.type === "choice") {
    const input = el("select", { id }, field.choices.map((choice) => el("option", { value: String(choice), selected: choice === field.default }, String(choice))));
    const numeric = typeof field.default === "number";
    return { element: input, value: async () => (numeric ? Number(input.value) : input.value) };
  }
  if (field.type === "integer" || field.type === "number") {
    const input = el("input", {
      type: "number", id, value: field.default,
      min: field.minimum, max: field.maximum,
      step: field.type === "integer" ? 1 : "any",
    });
    return { element: input, value: async () => (input.value === "" ? undefined : Number(input.value)) };
  }
  const long = field.name === "validation_negative_prompt";
  const input = el(long ? "textarea" : "input", { id, type: long ? undefined : "text", rows: long ? 3 : undefined });
  input.value = field.default ?? "";
  return { element: input, value: async () => input.value };
}

function showProblems(form, general, problems) {
  for (const slot of form.querySelectorAll(".field-error")) slot.hidden = true;
  general.hidden = true;
  const unplaced = [];
  for (const problem of problems) {
    const loc = (problem.loc || []).filter((part) => part !== "body").join(".");
    const slot = form.querySelector(`.field-error[data-loc="${CSS.escape(loc)}"]`) ||
      form.querySelector(`.field-error[data-loc="${CSS.escape(loc.split(".")[0])}"]`);
    if (!slot) {
      unplaced.push(problem.msg);
      continue;
    }
    slot.textContent = slot.hidden ? problem.msg : `${slot.textContent} ${problem.msg}`;
    slot.hidden = false;
    const group = slot.closest("details");
    if (group) group.open = true;
  }
  if (unplaced.length) {
    general.textContent = unplaced.join(" ");
    general.hidden = false;
  }
  form.querySelector(".field-error:not([hidden])")?.scrollIntoView({ block: "center" });
}

function reportView(report) {
  const fitted = report.fitted;
  const rows = report.pairs.map((pair) =>
    el("tr", { class: `pair ${pair.decision}` },
      el("td", {}, pair.name),
      el("td", {}, pair.decision),
      el("td", {}, `${pair.reference.file} (${pair.reference.video.duration.toFixed(2)} s)`),
      el("td", {}, `${pair.target.file} (${pair.target.video.duration.toFixed(2)} s)`),
      el("td", {}, pair.caption_file || "no caption"),
      el("td", {}, pair.skip_reason || ""),
    ));
  return el(
    "section",
    { class: "card report", id: "dataset-report" },
    el("h2", {}, `Dataset check: ${report.archive}`),
    el("p", { class: report.rejected ? "error" : "ok" },
      report.rejected ? "This dataset would be refused (422)." : `${report.qualifying_pairs} of ${report.pairs.length} pairs will train.`),
    el("p", {}, `Clips fitted to ${fitted.width}x${fitted.height}, ${fitted.frames} frames at ${fitted.frame_rate} fps ` +
      `(reference ${fitted.reference_width}x${fitted.reference_height}, ${fitted.reference_frames} frames).`),
    el("p", { class: "billing" }, `Billing when it delivers: ${report.billing.units} units, $${report.billing.cost_usd}. Nothing is billed if it fails.`),
    el("div", { class: "table-scroll" },
      el("table", { class: "pairs" },
        el("thead", {}, el("tr", {}, ["Pair", "Decision", "Reference", "Target", "Caption", "Why skipped"].map((name) => el("th", {}, name)))),
        el("tbody", {}, rows))),
    report.warnings.length ? el("ul", { class: "warnings" }, report.warnings.map((warning) => el("li", {}, warning))) : null,
    report.problems.length ? el("ul", { class: "error" }, report.problems.map((problem) => el("li", {}, problem.msg))) : null,
  );
}

export function showNewJob(main) {
  const form = el("form", { class: "card new-job", id: "new-job", novalidate: true });
  const general = el("p", { class: "error", role: "alert", hidden: true, id: "form-error" });
  const reportSlot = el("div", { id: "report-slot" });
  const busy = el("span", { class: "muted", id: "form-busy" });
  main.replaceChildren(el("h1", {}, "New job"), form, reportSlot);
  let stopped = false;

  (async () => {
    const { status, body: schema } = await call(`${prefix}/schema`);
    if (stopped) return;
    if (status !== 200) {
      form.replaceChildren(el("p", { class: "error" }, `The form cannot load: ${describeError(schema)}`));
      return;
    }
    const inputs = new Map();
    const byName = new Map(schema.fields.map((field) => [field.name, field]));
    for (const group of groups) {
      const box = el("details", { open: group.open, class: "group" }, el("summary", {}, group.title));
      for (const name of group.fields) {
        const field = byName.get(name);
        if (!field) continue;
        const input = fieldInput(field);
        inputs.set(name, input);
        const range = rangeText(field);
        box.append(
          el("div", { class: `field ${field.type}`, dataset: { field: name } },
            el("label", { for: `field-${name}` }, name, field.required ? el("span", { class: "required" }, " *") : null),
            input.element,
            el("p", { class: "help" }, field.help, range ? ` (${range}; default ${JSON.stringify(field.default)})` : ""),
            errorSlot(name)),
        );
      }
      form.append(box);
    }
    const checkButton = el("button", { type: "button", id: "check-dataset", class: "secondary" }, "Check dataset");
    const submitButton = el("button", { type: "submit", id: "submit-job" }, "Start training");
    form.append(general, el("div", { class: "actions" }, checkButton, submitButton, busy));

    async function requestBody() {
      const body = {};
      for (const [name, input] of inputs) {
        const value = await input.value();
        if (value !== undefined) body[name] = value;
      }
      return body;
    }
    async function send(path) {
      checkButton.disabled = submitButton.disabled = true;
      try {
        busy.textContent = "preparing the request…";
        const body = await requestBody();
        busy.textContent = path.endsWith("dataset-check") ? "checking the dataset…" : "submitting…";
        return await call(path, { method: "POST", body });
      } catch (error) {
        general.textContent = error.message;
        general.hidden = false;
        return null;
      } finally {
        busy.textContent = "";
        checkButton.disabled = submitButton.disabled = false;
      }
    }
    checkButton.addEventListener("click", async () => {
      const answer = await send(`${prefix}/dataset-check`);
      if (!answer) return;
      if (answer.status === 200) {
        showProblems(form, general, []);
        reportSlot.replaceChildren(reportView(answer.body));
      } else if (answer.body && Array.isArray(answer.body.detail)) {
        showProblems(form, general, answer.body.detail);
      } else {
        showProblems(form, general, [{ loc: [], msg: describeError(answer.body) }]);
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const answer = await send(`${prefix}/av2av`);
      if (!answer) return;
      if (answer.status === 200) location.hash = `#/jobs/${answer.body.request_id}`;
      else if (answer.body && Array.isArray(answer.body.detail)) showProblems(form, general, answer.body.detail);
      else showProblems(form, general, [{ loc: [], msg: describeError(answer.body) }]);
    });
  })();
  return () => (stopped = true);
}

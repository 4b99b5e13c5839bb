// The dashboard in a real browser (issue 26): Debian's Chromium, headless, driven by puppeteer-core
// (pinned in web/package.json) against a real `avtrain serve` with the tiny model, started by
// tests/e2e/dashboard_test.cpp, which passes:
//   AVTRAIN_URL, AVTRAIN_KEY       the server and a key it takes
//   AVTRAIN_OPEN_URL               a second server, without keys
//   DATASET_ZIP, REFERENCE_VIDEO   the demo dataset (3 pairs) and a clip for the validation preview
//   STEPS, SECONDS                 the server's --demo-steps, and the seconds of each preview (frames / fps)
//   SCREENSHOTS                    the folder for the screenshots; AVTRAIN_WEB_DIR: web/ (its node_modules)
//   CHROMIUM                       the browser; DEADLINE_MS: when to give up (the browser closed)
// Exits 0 when every check passes; a failed check throws with what was seen.
import { createRequire } from "node:module";
import path from "node:path";
import fs from "node:fs";
import assert from "node:assert/strict";

const require = createRequire(path.join(process.env.AVTRAIN_WEB_DIR, "package.json"));
const puppeteer = require("puppeteer-core");

const url = process.env.AVTRAIN_URL;
const steps = Number(process.env.STEPS);
const previewSeconds = Number(process.env.SECONDS);
const screenshots = process.env.SCREENSHOTS;
fs.mkdirSync(screenshots, { recursive: true });

const log = (...parts) => console.log(new Date().toISOString().slice(11, 23), ...parts);

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM,
  headless: true,
  // As root in a sandbox without a network: no sandbox, and none of Chromium's own connections.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"],
});

// The test that runs this script kills it when its own time is up, and a killed node leaves its browser
// behind: end a little before that, closing the browser.
const watchdog = setTimeout(async () => {
  console.error("dashboard_check: out of time; closing the browser");
  await browser.close().catch(() => {});
  process.exit(1);
}, Number(process.env.DEADLINE_MS || 390_000));

// Console errors: any script error fails the run; a failed request only where the check expects one
// (the 401 of the sign-in probe, the 422 of the bad field, the 499 result of the cancelled job).
const consoleErrors = [];
const expectedFailures = [];
function watch(page) {
  page.on("pageerror", (error) => consoleErrors.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const where = message.location()?.url || "";
    const text = message.text();
    const expected = expectedFailures.find((failure) => text.includes(`status of ${failure.status}`) && where.includes(failure.route));
    if (!expected) consoleErrors.push(`console: ${text} (${where})`);
  });
}

try {
  const page = await browser.newPage();
  watch(page);
  await page.setViewport({ width: 1280, height: 800 });
  page.setDefaultTimeout(60_000);

  // Sign in: the server takes keys, so the dashboard asks for one; a wrong one is refused.
  expectedFailures.push({ status: 401, route: "/v1/requests" });
  await page.goto(url + "/", { waitUntil: "networkidle0" });
  await page.waitForSelector("#sign-in");
  await page.type("#api-key", "not-a-key");
  await page.click("#sign-in button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#sign-in .error")?.textContent.includes("not accepted"));
  await page.$eval("#api-key", (input) => (input.value = ""));
  await page.type("#api-key", process.env.AVTRAIN_KEY);
  await page.click("#sign-in button[type=submit]");
  await page.waitForSelector("#job-rows");
  log("signed in");
  // The key is the tab's only: not in localStorage, and nothing survives in a new tab's storage.
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  await page.evaluate(() => (window.__sameDocument = true));

  // New job: the form of every parameter, the dataset uploaded from a file.
  async function fillForm({ framesValue }) {
    await page.click('a[href="#/new"][data-nav]');
    await page.waitForSelector("#submit-job");
    const fields = await page.$$eval(".field[data-field]", (rows) => rows.map((row) => row.dataset.field));
    assert.equal(fields.length, 25, `the form lists every request parameter: ${fields}`);
    for (const group of await page.$$("details.group:not([open]) summary")) await group.click();
    const upload = await page.$("#training_data_url-file");
    await upload.uploadFile(process.env.DATASET_ZIP);
    await page.type("#field-trigger_phrase", "ZQX");
    await setValue("#field-number_of_steps", "100");
    await setValue("#field-number_of_frames", framesValue);
  }
  async function setValue(selector, value) {
    await page.$eval(selector, (input, text) => {
      input.value = text;
      input.dispatchEvent(new Event("input", { bubbles: true }));
    }, value);
  }

  // A player's video duration and size, and its audio track decoded by the browser (Web Audio).
  function measure(selector) {
    return page.evaluate(async (figure) => {
      const video = document.querySelector(`${figure} video`);
      if (video.readyState < 1) await new Promise((resolve, reject) => {
        video.addEventListener("loadedmetadata", resolve, { once: true });
        video.addEventListener("error", () => reject(new Error(`${figure}: ${video.error?.message}`)), { once: true });
      });
      const bytes = await (await fetch(video.src)).arrayBuffer();
      const audio = await new OfflineAudioContext(1, 1, 44100).decodeAudioData(bytes);
      return { video: video.duration, audio: audio.duration, width: video.videoWidth, channels: audio.numberOfChannels };
    }, selector);
  }

  // A 422 is shown next to its field: frames below 9.
  expectedFailures.push({ status: 422, route: "/v1/dataset-check" });
  await fillForm({ framesValue: "5" });
  await page.click("#check-dataset");
  await page.waitForSelector('.field-error[data-loc="number_of_frames"]:not([hidden])');
  const frameError = await page.$eval('.field-error[data-loc="number_of_frames"]', (slot) => slot.textContent);
  assert.match(frameError, /number_of_frames/, "the 422 message names the field");
  assert.ok(await page.$eval("#training_data_url-progress", (bar) => !bar.hidden && bar.value === 1), "the upload's progress bar reached the end");
  log("422 shown next to its field:", frameError);

  // The dataset check before paying: 3 pairs, all used, the fitted size and the billing.
  await setValue("#field-number_of_frames", "9");
  await page.click("#check-dataset");
  await page.waitForSelector("#dataset-report");
  const report = await page.$eval("#dataset-report", (card) => ({
    pairs: [...card.querySelectorAll("tr.pair")].map((row) => row.children[1].textContent),
    text: card.textContent,
  }));
  assert.deepEqual(report.pairs, ["used", "used", "used"], report.text);
  assert.match(report.text, /3 of 3 pairs will train/);
  assert.match(report.text, /100 units, \$0\.68/);
  assert.equal(await page.$$eval('.field-error:not([hidden])', (slots) => slots.length), 0, "the fixed field's error is gone");
  log("dataset check:", report.pairs.length, "pairs");

  // A validation preview from an uploaded clip, every 2 steps, and submit.
  await page.click(".validation-entries + button");
  await page.type("#validation-0-prompt", "ZQX a moving scene");
  await (await page.$("#validation-0-reference_video_url-file")).uploadFile(process.env.REFERENCE_VIDEO);
  await setValue("#field-validation_interval", "2");
  await page.click("#submit-job");
  await page.waitForFunction(() => /^#\/jobs\/[0-9a-f-]{36}$/.test(location.hash));
  const firstJob = await page.evaluate(() => location.hash.slice(7));
  log("submitted", firstJob);
  await page.waitForFunction(() => document.querySelector("#job-state")?.dataset.status === "IN_PROGRESS", { timeout: 120_000 });

  // Cancel: a second job waits behind the first (one worker) and is cancelled from its page.
  await fillForm({ framesValue: "9" });
  await page.click("#submit-job");
  await page.waitForFunction((first) => /^#\/jobs\/[0-9a-f-]{36}$/.test(location.hash) && location.hash.slice(7) !== first, {}, firstJob);
  const secondJob = await page.evaluate(() => location.hash.slice(7));
  await page.waitForSelector(`#job-state[data-request-id="${secondJob}"]`);
  await page.waitForSelector("#cancel-job:not([hidden])");
  await page.click("#cancel-job");
  // A cancelled job's result answers 499 with its error body, which the page shows.
  expectedFailures.push({ status: 499, route: "/v1/requests/" });
  await page.waitForSelector('#job-outcome[data-outcome="cancelled"]', { timeout: 60_000 });
  assert.equal(await page.$eval("#job-state", (state) => state.dataset.requestId), secondJob);
  const cancelledText = await page.$eval("#job-outcome", (card) => card.textContent);
  assert.match(cancelledText, /client_cancelled/, cancelledText);
  log("second job cancelled");

  // The first job runs to the end while its page follows it live.
  await page.evaluate((first) => (location.hash = `#/jobs/${first}`), firstJob);
  await page.waitForSelector(`#job-state[data-request-id="${firstJob}"]`);
  const stagesSeen = new Set();
  const pointsSeen = new Set();
  for (const deadline = Date.now() + 240_000; ;) {
    const seen = await page.evaluate(() => ({
      status: document.querySelector("#job-state")?.dataset.status,
      stage: document.querySelector("#job-state")?.dataset.stage,
      points: document.querySelector("#loss-chart")?.dataset.points,
      outcome: document.querySelector("#job-outcome")?.dataset.outcome,
    }));
    if (seen.stage) stagesSeen.add(seen.stage);
    if (seen.points) pointsSeen.add(seen.points);
    if (seen.outcome) break;
    assert.ok(Date.now() < deadline, `job ${firstJob} did not finish: ${JSON.stringify(seen)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.equal(await page.evaluate(() => window.__sameDocument), true, "the page was not reloaded");
  assert.equal(await page.$eval("#job-outcome", (card) => card.dataset.outcome), "succeeded",
    await page.$eval("#job-outcome", (card) => card.textContent));
  log("stages seen live:", [...stagesSeen].join(", "), "; chart points seen:", [...pointsSeen].join(", "));
  assert.ok(stagesSeen.size >= 2, `the page followed the job through its stages: ${[...stagesSeen]}`);

  // The loss chart holds one point per step; the timeline lists every stage with its duration.
  await page.waitForFunction((count) => document.querySelector("#loss-chart")?.dataset.points === String(count), {}, steps);
  assert.equal(await page.$$eval("#loss-chart canvas", (canvases) => canvases.length), 1, "uPlot drew the loss chart");
  const timeline = await page.$$eval("#timeline li", (items) => items.map((item) => [item.dataset.stage, item.className, item.querySelector(".seconds").textContent]));
  for (const [stage, state, seconds] of timeline) {
    assert.ok(state.includes("done") && seconds.endsWith("s"), `stage ${stage}: ${state} ${seconds}`);
  }
  await page.click("#log-scale");
  await page.waitForFunction(() => document.querySelectorAll("#loss-chart canvas").length === 1);

  // Every preview and the reel play with the right duration and carry an audio track.
  const players = await page.$$eval("#previews figure, #reel", (figures) => figures.map((figure) => ({ id: figure.id, src: figure.querySelector("video").src })));
  const expectedPlayers = ["reel"];
  for (let step = 2; step <= steps; step += 2) expectedPlayers.push(`preview-${step}`);
  assert.deepEqual(players.map((player) => player.id).sort(), expectedPlayers.sort(), "a player per preview step and the reel");
  for (const player of players) {
    const media = await measure(`#${player.id}`);
    log(player.id, JSON.stringify(media));
    assert.ok(Math.abs(media.video - previewSeconds) < 0.1, `${player.id}: video of ${media.video} s, expected ${previewSeconds}`);
    assert.ok(Math.abs(media.audio - media.video) < 0.1, `${player.id}: audio of ${media.audio} s beside video of ${media.video} s`);
    assert.ok(media.width > 0 && media.channels > 0, `${player.id}: ${JSON.stringify(media)}`);
  }

  // Downloads of every output, with sizes.
  const downloads = await page.$$eval("#downloads li", (items) => items.map((item) => item.textContent));
  assert.ok(downloads.some((text) => /\.safetensors .*lora_file/.test(text)), downloads.join(" | "));
  assert.ok(downloads.some((text) => /config_file/.test(text)) && downloads.some((text) => /video/.test(text)), downloads.join(" | "));
  const lora = await page.$eval("#downloads a", (link) => fetch(link.href).then((answer) => answer.status));
  assert.equal(lora, 200);

  // Try it: the trained LoRA on a new reference clip, the trigger phrase prefilled; the generated clip
  // plays beside its reference, with the right duration and an audio track.
  await page.waitForSelector("#try-it");
  await page.waitForFunction(() => document.querySelector("#try-prompt").value === "ZQX ");
  await page.type("#try-prompt", "a moving scene");
  await (await page.$("#try-video")).uploadFile(process.env.REFERENCE_VIDEO);
  await page.click("#try-run");
  await page.waitForSelector("#try-generated video", { timeout: 120_000 });
  const tried = await measure("#try-generated");
  log("try it", JSON.stringify(tried));
  assert.ok(Math.abs(tried.video - previewSeconds) < 0.1 && Math.abs(tried.audio - tried.video) < 0.1, JSON.stringify(tried));
  assert.match(await page.$eval("#try-state", (state) => state.textContent), /billed 0 units/);
  assert.ok(await page.$("#try-reference video"), "the reference plays beside the generated clip");

  await page.screenshot({ path: path.join(screenshots, "job-1280x800.png"), fullPage: true });
  await page.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true });
  await page.reload({ waitUntil: "networkidle0" });
  await page.waitForSelector('#job-outcome[data-outcome="succeeded"]');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the phone layout scrolls sideways by ${overflow} px`);
  await page.screenshot({ path: path.join(screenshots, "job-390x844.png"), fullPage: true });
  await page.goto(`${url}/#/`, { waitUntil: "networkidle0" });
  await page.waitForSelector("#job-rows tr.succeeded");
  const rows = await page.$$eval("#job-rows tr", (items) => items.map((row) => row.className));
  assert.deepEqual(rows, ["job succeeded", "job cancelled", "job succeeded"], "newest first (the try-it job first), with outcomes");
  await page.screenshot({ path: path.join(screenshots, "jobs-390x844.png"), fullPage: true });
  await page.setViewport({ width: 1280, height: 800 });
  await page.screenshot({ path: path.join(screenshots, "jobs-1280x800.png") });

  // A failed job shows its error with the 422 details: an uploaded "archive" that is no zip.
  const failedJob = await page.evaluate(async () => {
    const api = await import("/ui/api.js");
    const url = await api.uploadFile(new File(["not a zip"], "broken.zip", { type: "application/zip" }), () => {});
    const queued = await api.call("/v1/av2av", { method: "POST", body: { training_data_url: url, trigger_phrase: "ZQX" } });
    return queued.body.request_id;
  });
  expectedFailures.push({ status: 422, route: `/v1/requests/${failedJob}` });
  await page.evaluate((id) => (location.hash = `#/jobs/${id}`), failedJob);
  await page.waitForSelector('#job-outcome[data-outcome="failed"] #job-error', { timeout: 60_000 });
  const failure = await page.$eval("#job-error", (box) => box.textContent);
  log("failed job:", failure);
  assert.match(failure, /HTTP 422/, failure);
  assert.match(failure, /broken\.zip/, "the error names the archive");

  // Without keys (a loopback server) there is no sign-in.
  const open = await browser.newPage();
  watch(open);
  await open.goto(process.env.AVTRAIN_OPEN_URL + "/", { waitUntil: "networkidle0" });
  await open.waitForSelector("#job-rows");
  assert.equal(await open.$("#sign-in"), null);
  assert.equal(await open.$eval("#sign-out", (button) => button.hidden), true);

  assert.deepEqual(consoleErrors, [], "no console errors");
  log("all dashboard checks passed");
} finally {
  clearTimeout(watchdog);
  await browser.close();
}

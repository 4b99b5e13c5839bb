// Runs the official JavaScript client of the hosted queue (npm @fal-ai/client) against a running
// `avtrain serve`, unchanged except for a request middleware that swaps its host
// https://queue.fal.run for the local server (issue 13). Exits 0 when every check holds, 1 with the
// failed check on stderr otherwise. Run by tests/e2e/serve_test.cpp.
//
// Environment: FAL_CLIENT_NPM_DIR (the node_modules folder holding @fal-ai/client; ESM ignores
// NODE_PATH), AVTRAIN_URL (http://127.0.0.1:PORT), FAL_KEY (the API key, sent by the client itself),
// TRAINING_DATA_URL (a dataset the server may read).
import { createRequire } from "node:module";
import path from "node:path";

const ENDPOINT = "fal-ai/ltx23-trainer-v2/av2av";
const HOSTED = "https://queue.fal.run";

function env(name) {
  const value = process.env[name];
  if (!value) fail(`environment variable ${name} is not set`);
  return value;
}

function fail(message) {
  process.stderr.write(`fal_client_check: ${message}\n`);
  process.exit(1);
}

function check(condition, message, got) {
  if (!condition) fail(`${message}; got ${JSON.stringify(got)}`);
}

const require = createRequire(path.join(env("FAL_CLIENT_NPM_DIR"), "fal_client_check.cjs"));
const { createFalClient, ApiError, ValidationError } = require("@fal-ai/client");
const server = env("AVTRAIN_URL").replace(/\/$/, "");
const input = { training_data_url: env("TRAINING_DATA_URL"), trigger_phrase: "ZQX", number_of_steps: 100 };

// Every URL the client builds must be the hosted one; only its origin is replaced.
const seen = [];
const fal = createFalClient({
  requestMiddleware: async (request) => {
    check(request.url.startsWith(`${HOSTED}/fal-ai/ltx23-trainer-v2/`), "client built a non-hosted URL", request.url);
    seen.push(`${request.method} ${request.url.slice(HOSTED.length)}`);
    return { ...request, url: server + request.url.slice(HOSTED.length) };
  },
});

const STATES = ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"];

function checkLogs(logs, where) {
  check(Array.isArray(logs), `${where}: logs is not a list`, logs);
  for (const entry of logs) {
    check(typeof entry.message === "string", `${where}: log entry without a message`, entry);
    check(typeof entry.level === "string", `${where}: log entry without a level`, entry);
    check(!Number.isNaN(Date.parse(entry.timestamp)), `${where}: log timestamp is not ISO 8601`, entry);
  }
}

function checkResult(result, requestId, where) {
  check(result && typeof result === "object" && result.data, `${where}: result without data`, result);
  check(result.requestId === requestId, `${where}: requestId (header x-fal-request-id) differs from the submitted id ${requestId}`,
        result.requestId);
  const lora = result.data.lora_file;
  check(lora && typeof lora.url === "string" && lora.url.startsWith("http"), `${where}: result without lora_file.url`,
        result.data);
  check(lora.file_size > 0 && typeof lora.content_type === "string", `${where}: lora_file lacks size or type`, lora);
  check(result.data.billing && result.data.billing.units === 100, `${where}: billing units not max(100, steps)`,
        result.data.billing);
}

async function expectError(promise, status, where) {
  try {
    await promise;
  } catch (error) {
    check(error instanceof ApiError, `${where}: not an ApiError`, String(error));
    check(error.status === status, `${where}: status`, { status: error.status, body: error.body });
    return error;
  }
  fail(`${where}: succeeded, expected HTTP ${status}`);
}

const timer = setTimeout(() => fail(`timed out; requests so far: ${JSON.stringify(seen)}`), 150_000);

// queue.submit -> queue.status(logs) -> queue.subscribeToStatus (polling) -> queue.result.
const submitted = await fal.queue.submit(ENDPOINT, { input });
const requestId = submitted.request_id;
check(typeof requestId === "string" && requestId.length > 0, "submit: no request_id", submitted);
for (const key of ["status_url", "response_url", "cancel_url"]) {
  check(typeof submitted[key] === "string" && submitted[key].startsWith(server), `submit: ${key} not on the server`, submitted);
}
const first = await fal.queue.status(ENDPOINT, { requestId, logs: true });
check(STATES.includes(first.status), "status: unknown state", first);
check(first.request_id === undefined || first.request_id === requestId, "status: other request_id", first);
checkLogs(first.logs, "status(logs)");

const updates = [];
const done = await fal.queue.subscribeToStatus(ENDPOINT, {
  requestId, logs: true, pollInterval: 100, onQueueUpdate: (update) => updates.push(update),
});
check(done.status === "COMPLETED" && done.outcome === "succeeded", "subscribeToStatus: last status", done);
checkLogs(done.logs, "COMPLETED status");
check(done.logs.length > 0, "COMPLETED status with logs=1 has no log lines", done);
for (const update of updates) check(STATES.includes(update.status), "onQueueUpdate: unknown state", update);
checkResult(await fal.queue.result(ENDPOINT, { requestId }), requestId, "queue.result");

// A finished request cannot be cancelled: 400 (hosted: ALREADY_COMPLETED).
await expectError(fal.queue.cancel(ENDPOINT, { requestId }), 400, "cancel after completion");

// fal.subscribe, polling (the default) and streaming (status/stream, server-sent events).
for (const mode of ["polling", "streaming"]) {
  let enqueued = null;
  const modeUpdates = [];
  const result = await fal.subscribe(ENDPOINT, {
    input, mode, logs: true, pollInterval: 100,
    onEnqueue: (id) => { enqueued = id; },
    onQueueUpdate: (update) => modeUpdates.push(update),
  });
  check(typeof enqueued === "string" && enqueued !== requestId, `subscribe(${mode}): onEnqueue id`, enqueued);
  checkResult(result, enqueued, `subscribe(${mode})`);
  check(modeUpdates.length > 0, `subscribe(${mode}): no status update`, modeUpdates);
  const last = modeUpdates[modeUpdates.length - 1];
  check(last.status === "COMPLETED", `subscribe(${mode}): last update is not COMPLETED`, last);
  for (const update of modeUpdates) check(STATES.includes(update.status), `subscribe(${mode}): unknown state`, update);
}

// An invalid request: the client's ValidationError with the field errors of the 422 body.
const invalid = await expectError(fal.queue.submit(ENDPOINT, { input: { ...input, rank: 7 } }), 422, "submit rank 7");
check(invalid instanceof ValidationError, "422 is not a ValidationError", String(invalid));
check(invalid.getFieldErrors("rank").length === 1, "422 field errors do not name rank", invalid.body);

clearTimeout(timer);
process.stdout.write(JSON.stringify({ ok: true, request_id: requestId, requests: seen.length }) + "\n");

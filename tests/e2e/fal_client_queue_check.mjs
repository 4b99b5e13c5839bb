// The official JavaScript client (npm @fal-ai/client) against the hosted queue's conventions in
// `avtrain serve` (docs/api.md "Queue conventions"): a request submitted with startTimeout (the
// X-Fal-Request-Timeout header) and x-fal-no-retry while the only worker is busy ends COMPLETED as
// failed at its deadline; its result is a 504 with error_type request_timeout, which the client
// reports as a user timeout and does not retry. Exits 0 when every check holds, 1 with the failed check
// on stderr. Run by serve_fidelity_test.cpp.
//
// Environment: FAL_CLIENT_NPM_DIR, AVTRAIN_URL, FAL_KEY, SLOW_DATA_URL (a dataset whose download keeps
// the worker busy), TRAINING_DATA_URL.
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
  process.stderr.write(`fal_client_queue_check: ${message}\n`);
  process.exit(1);
}

function check(condition, message, got) {
  if (!condition) fail(`${message}; got ${JSON.stringify(got)}`);
}

const require = createRequire(path.join(env("FAL_CLIENT_NPM_DIR"), "fal_client_queue_check.cjs"));
const { createFalClient, ApiError } = require("@fal-ai/client");
const server = env("AVTRAIN_URL").replace(/\/$/, "");
const seen = [];
const fal = createFalClient({
  requestMiddleware: async (request) => {
    check(request.url.startsWith(HOSTED), "client built a non-hosted URL", request.url);
    seen.push(`${request.method} ${request.url.slice(HOSTED.length)}`);
    return { ...request, url: server + request.url.slice(HOSTED.length) };
  },
});
const timer = setTimeout(() => fail(`timed out; requests so far: ${JSON.stringify(seen)}`), 120_000);

const blocker = await fal.queue.submit(ENDPOINT, {
  input: { training_data_url: env("SLOW_DATA_URL"), number_of_steps: 100 },
});
const submitted = await fal.queue.submit(ENDPOINT, {
  input: { training_data_url: env("TRAINING_DATA_URL"), number_of_steps: 100 },
  startTimeout: 2,
  headers: { "x-fal-no-retry": "1" },
});
const requestId = submitted.request_id;
const queued = await fal.queue.status(ENDPOINT, { requestId });
check(queued.status === "IN_QUEUE", "the timed request is not queued behind the blocker", queued);

const started = Date.now();
const done = await fal.queue.subscribeToStatus(ENDPOINT, { requestId, pollInterval: 200 });
const waited = (Date.now() - started) / 1000;
check(done.status === "COMPLETED" && done.outcome === "failed", "the timed request's last status", done);
check(waited < 12, `the request ended ${waited.toFixed(1)} s after its 2 s deadline`, done);

const resultCalls = () => seen.filter((line) => line === `GET /fal-ai/ltx23-trainer-v2/requests/${requestId}`).length;
try {
  await fal.queue.result(ENDPOINT, { requestId });
  fail("queue.result of a timed-out request succeeded");
} catch (error) {
  check(error instanceof ApiError, "queue.result: not an ApiError", String(error));
  check(error.status === 504, "queue.result: status", { status: error.status, body: error.body });
  check(error.isUserTimeout, "queue.result: not a user timeout (X-Fal-Request-Timeout-Type)", error.timeoutType);
  check(error.body && error.body.error_type === "request_timeout", "queue.result: error_type", error.body);
  check(error.body.billing && error.body.billing.units === 0, "queue.result: billed", error.body);
}
check(resultCalls() === 1, "the client retried the 504 of a user timeout", seen);

// The blocker is cancelled so the server can stop at once.
await fal.queue.cancel(ENDPOINT, { requestId: blocker.request_id });
clearTimeout(timer);
process.stdout.write(JSON.stringify({ ok: true, waited }) + "\n");

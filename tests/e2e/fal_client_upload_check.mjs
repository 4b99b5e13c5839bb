// The official JavaScript client (npm @fal-ai/client) uploads a request's File inputs itself through
// its storage routes and submits the returned URLs (docs/api.md "Uploads"). Against `avtrain serve`,
// with only the hosts swapped by a request middleware (the queue's https://queue.fal.run and the
// storage's https://rest.fal.ai), three jobs run end to end:
//   1. training archive and validation clip as local Files, single-part uploads (under 90 MiB);
//   2. a training archive over 90 MiB, which the client uploads in 10 MiB parts (multipart);
//   3. fal.storage.upload of a Blob, whose returned URL downloads the same bytes.
// Exits 0 when every check holds, 1 with the failed check on stderr. Run by serve_fidelity_test.cpp.
//
// Environment: FAL_CLIENT_NPM_DIR, AVTRAIN_URL, FAL_KEY, ZIP_PATH, BIG_ZIP_PATH, CLIP_PATH.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const ENDPOINT = "fal-ai/ltx23-trainer-v2/av2av";
const HOSTS = ["https://queue.fal.run", "https://rest.fal.ai"];

function env(name) {
  const value = process.env[name];
  if (!value) fail(`environment variable ${name} is not set`);
  return value;
}

function fail(message) {
  process.stderr.write(`fal_client_upload_check: ${message}\n`);
  process.exit(1);
}

function check(condition, message, got) {
  if (!condition) fail(`${message}; got ${JSON.stringify(got)}`);
}

const require = createRequire(path.join(env("FAL_CLIENT_NPM_DIR"), "fal_client_upload_check.cjs"));
const { createFalClient } = require("@fal-ai/client");
const server = env("AVTRAIN_URL").replace(/\/$/, "");

const seen = [];
const fal = createFalClient({
  requestMiddleware: async (request) => {
    const host = HOSTS.find((candidate) => request.url.startsWith(candidate));
    check(host, "client built a URL on neither hosted host", request.url);
    seen.push(`${request.method} ${request.url}`);
    return { ...request, url: server + request.url.slice(host.length) };
  },
});

function localFile(filePath, type) {
  return new File([fs.readFileSync(filePath)], path.basename(filePath), { type });
}

async function trainWith(input, label) {
  const result = await fal.subscribe(ENDPOINT, { input, mode: "polling", pollInterval: 100, logs: true });
  check(result && result.data && result.data.lora_file, `${label}: no lora_file in the result`, result);
  check(result.data.billing && result.data.billing.units === 100, `${label}: billing`, result.data.billing);
  return result;
}

const timer = setTimeout(() => fail(`timed out; requests so far: ${JSON.stringify(seen)}`), 240_000);

// 1. Single-part uploads of the archive and of the validation clip.
const single = await trainWith(
  {
    training_data_url: localFile(env("ZIP_PATH"), "application/zip"),
    trigger_phrase: "ZQX",
    number_of_steps: 100,
    validation: [{ prompt: "ZQX a grey square", reference_video_url: localFile(env("CLIP_PATH"), "video/mp4") }],
  },
  "single-part",
);
check(single.data.video && single.data.video.url, "single-part: no validation reel", single.data);
const initiations = seen.filter((line) => line.includes("/storage/upload/initiate?"));
check(initiations.length === 2, "single-part: the client did not initiate two uploads", seen);

// 2. A training archive over 90 MiB: the client's multipart upload.
const before = seen.length;
await trainWith(
  { training_data_url: localFile(env("BIG_ZIP_PATH"), "application/zip"), trigger_phrase: "ZQX", number_of_steps: 100 },
  "multipart",
);
check(seen.slice(before).some((line) => line.includes("/storage/upload/initiate-multipart?")),
      "multipart: the client did not take its multipart route", seen.slice(before));

// 3. fal.storage.upload: the returned URL serves the bytes back.
const bytes = Buffer.from("avtrain upload check \u2713");
const url = await fal.storage.upload(new Blob([bytes], { type: "text/plain" }));
check(typeof url === "string" && url.startsWith(`${server}/files/`), "storage.upload: URL not on the server", url);
const download = await fetch(url);
check(download.ok, "storage.upload: the file URL does not download", download.status);
check(Buffer.from(await download.arrayBuffer()).equals(bytes), "storage.upload: other bytes came back", null);

clearTimeout(timer);
process.stdout.write(JSON.stringify({ ok: true, requests: seen.length }) + "\n");

// The service's routes as the dashboard uses them (docs/api.md). The API key lives in this tab's
// sessionStorage only and goes out as `Authorization: Key <key>`; without keys (loopback) none is sent.
export const prefix = "/v1";

const keyName = "avtrain.key";

export function apiKey() {
  return sessionStorage.getItem(keyName) || "";
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(keyName, key);
  else sessionStorage.removeItem(keyName);
}

function authHeaders(headers = {}) {
  const key = apiKey();
  return key ? { ...headers, Authorization: `Key ${key}` } : headers;
}

// A JSON route: {status, body} (body null when the answer is not JSON).
export async function call(path, { method = "GET", body } = {}) {
  const init = { method, headers: authHeaders() };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let json = null;
  if ((response.headers.get("Content-Type") || "").includes("application/json")) json = await response.json();
  return { status: response.status, body: json };
}

// Whether the server wants a key, and whether the one we hold works: "ok", "needs-key" or "bad-key".
export async function checkAccess() {
  const { status } = await call(`${prefix}/requests?limit=1`);
  if (status !== 401) return "ok";
  return apiKey() ? "bad-key" : "needs-key";
}

// Follows a job's status stream (server-sent events, read through fetch so the key header goes along)
// and calls onStatus with each status object until the job is COMPLETED or `signal` aborts.
export async function followStatus(id, onStatus, signal) {
  const response = await fetch(`${prefix}/requests/${id}/status/stream?logs=1`, { headers: authHeaders(), signal });
  if (!response.ok || !response.body) throw new Error(`status stream: HTTP ${response.status}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split("\n").filter((line) => line.startsWith("data:")).map((line) => line.slice(5).trimStart());
      if (data.length) onStatus(JSON.parse(data.join("\n")));
    }
  }
}

// Uploads a File through the storage routes and returns its file_url; onProgress(fraction) as it goes.
export async function uploadFile(file, onProgress) {
  const multipart = file.size > 90 * 1024 * 1024;
  const initiated = await call(`/storage/upload/initiate${multipart ? "-multipart" : ""}`, {
    method: "POST",
    body: { content_type: file.type || "application/zip", file_name: file.name },
  });
  if (initiated.status !== 200) throw new Error(`upload refused: ${describeError(initiated.body)}`);
  const { upload_url: uploadUrl, file_url: fileUrl } = initiated.body;
  if (!multipart) {
    await put(uploadUrl, file, (sent) => onProgress(sent / file.size));
    return fileUrl;
  }
  const partSize = 10 * 1024 * 1024;
  const parts = [];
  for (let start = 0, number = 1; start < file.size; start += partSize, number += 1) {
    const part = file.slice(start, start + partSize);
    const answer = await put(`${uploadUrl}/${number}`, part, (sent) => onProgress((start + sent) / file.size));
    parts.push({ partNumber: number, etag: JSON.parse(answer).etag });
  }
  const completed = await fetch(`${uploadUrl}/complete`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ parts }),
  });
  if (!completed.ok) throw new Error(`upload not completed: HTTP ${completed.status}`);
  return fileUrl;
}

// XMLHttpRequest, not fetch: only it reports upload progress.
function put(url, blob, onSent) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("PUT", url);
    request.upload.onprogress = (event) => onSent(event.loaded);
    request.onload = () =>
      request.status < 300 ? resolve(request.responseText) : reject(new Error(`upload: HTTP ${request.status} ${request.responseText}`));
    request.onerror = () => reject(new Error("upload: the connection failed"));
    request.send(blob);
  });
}

// One line for an error body: {"detail": "..."} or the 422 list.
export function describeError(body) {
  if (!body) return "no answer";
  if (typeof body.detail === "string") return body.detail;
  if (Array.isArray(body.detail)) return body.detail.map((problem) => problem.msg).join("; ");
  return JSON.stringify(body);
}

// An independent verifier of avtrain's webhook signatures, with Node's own crypto, written as a
// receiver of the hosted service's webhooks verifies them (docs/api.md "Verifying webhooks"):
//   message   = request_id \n user_id \n timestamp \n sha256-hex(raw body)
//   signature = X-Fal-Webhook-Signature (hex), Ed25519, by any key of GET /.well-known/jwks.json
//   freshness = |now - X-Fal-Webhook-Timestamp| <= 300 s
// Usage: node webhook_verify.mjs JWKS_URL DELIVERY_DIR...; each DELIVERY_DIR holds headers.json (the
// request's headers, lower-case names) and body (the raw body). Prints one JSON line per delivery:
// {dir, valid, fresh, changed_body, changed_timestamp, other_key}, the last three being whether such a
// forgery would verify (they must not). Exits 1 on a usage or network error.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

function fail(message) {
  process.stderr.write(`webhook_verify: ${message}\n`);
  process.exit(1);
}

const [jwksUrl, ...deliveries] = process.argv.slice(2);
if (!jwksUrl || deliveries.length === 0) fail("usage: node webhook_verify.mjs JWKS_URL DELIVERY_DIR...");

const response = await fetch(jwksUrl);
if (!response.ok) fail(`GET ${jwksUrl}: HTTP ${response.status}`);
const jwks = await response.json();
const keys = jwks.keys.map((jwk) => crypto.createPublicKey({ key: jwk, format: "jwk" }));
if (keys.length === 0) fail("the JWKS has no keys");

function verifies(publicKeys, headers, body) {
  const message = [
    headers["x-fal-webhook-request-id"],
    headers["x-fal-webhook-user-id"],
    headers["x-fal-webhook-timestamp"],
    crypto.createHash("sha256").update(body).digest("hex"),
  ].join("\n");
  const signature = Buffer.from(headers["x-fal-webhook-signature"] ?? "", "hex");
  return publicKeys.some((key) => crypto.verify(null, Buffer.from(message, "utf8"), key, signature));
}

const otherKey = crypto.generateKeyPairSync("ed25519").publicKey;
for (const dir of deliveries) {
  const headers = JSON.parse(fs.readFileSync(path.join(dir, "headers.json"), "utf8"));
  const body = fs.readFileSync(path.join(dir, "body"));
  const timestamp = Number(headers["x-fal-webhook-timestamp"]);
  const result = {
    dir,
    valid: verifies(keys, headers, body),
    fresh: Number.isFinite(timestamp) && Math.abs(Date.now() / 1000 - timestamp) <= 300,
    changed_body: verifies(keys, headers, Buffer.concat([body, Buffer.from(" ")])),
    changed_timestamp: verifies(keys, { ...headers, "x-fal-webhook-timestamp": String(timestamp + 1) }, body),
    other_key: verifies([otherKey], headers, body),
  };
  process.stdout.write(JSON.stringify(result) + "\n");
}

// Verifies wochit-ingest's callbacks in Node.js with the standardwebhooks
// package, and checks that against the test vector:
//
//   npm ci && node verify.mjs ../vector.json
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { Webhook } from "standardwebhooks";

// verify checks one delivery and returns its event: a signature made with the
// secret over the exact body (the raw bytes as received, never re-encoded
// JSON), and a webhook-timestamp within 5 minutes of the clock. It throws a
// WebhookVerificationError otherwise.
export function verify(wh, rawBody, headers) {
  return wh.verify(rawBody, headers);
}

// handle is a callback endpoint for node:http: it verifies each delivery, has
// store keep the event under its webhook-id (doing nothing when that id is
// stored already: the same event can arrive more than once) and answers 204.
// It answers 5xx, never 4xx, when the event cannot be stored now: 5xx is
// retried.
//
//   http.createServer(handle(new Webhook(process.env.WOCHIT_INGEST_SECRET), store)).listen(8000);
export function handle(wh, store) {
  return (req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      let event;
      try {
        event = verify(wh, Buffer.concat(chunks), req.headers);
      } catch {
        res.writeHead(401).end("invalid signature");
        return;
      }
      try {
        await store(req.headers["webhook-id"], event); // event.type is "video.stored" or "video.failed"
      } catch {
        res.writeHead(503).end("try again later");
        return;
      }
      res.writeHead(204).end();
    });
  };
}

// atTime runs fn with the clock at unixSeconds: the package reads Date.now(),
// and the vector was signed long ago.
function atTime(unixSeconds, fn) {
  const realNow = Date.now;
  Date.now = () => unixSeconds * 1000;
  try {
    return fn();
  } finally {
    Date.now = realNow;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const v = JSON.parse(readFileSync(process.argv[2], "utf8"));
  const wh = new Webhook(v.secret);
  const headers = { "webhook-id": v.id, "webhook-timestamp": v.timestamp, "webhook-signature": v.signature };
  const sent = Number(v.timestamp);
  const tampered = v.body.replace('"size":50331648', '"size":50331649');
  let failed = false;
  const check = (what, body, now, wantValid) => {
    let valid = true;
    try {
      atTime(now, () => verify(wh, Buffer.from(body, "utf8"), headers));
    } catch {
      valid = false;
    }
    const ok = valid === wantValid;
    failed ||= !ok;
    console.log(`  ${what.padEnd(52)} ${ok ? "ok" : `FAILED: ${valid ? "verified" : "rejected"}`}`);
  };
  check("the vector verifies", v.body, sent + 2, true);
  check("a tampered body is rejected", tampered, sent, false);
  check("a stale timestamp (6 minutes old) is rejected", v.body, sent + 6 * 60, false);
  process.exit(failed ? 1 : 0);
}

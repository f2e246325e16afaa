// The TLS listener's account of clients that refuse the relay's certificate:
// logged at once, as the client's refusal, not as a handshake timeout. The
// handshake timeout is set far beyond the test's own, so a line that comes
// is the refusal. Real clients: node:tls with rejectUnauthorized and no CA
// (closes without an alert under TLS 1.3), and openssl s_client
// -verify_return_error (sends an "unknown ca" alert).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { after, before, test } from "node:test";
import tls from "node:tls";
import pino from "pino";
import { createTlsServer } from "../../src/server/tls-server.js";
import { makeTestCertificate } from "../helpers/tls-certificate.js";

interface LogLine {
  level: number;
  msg: string;
  code?: string;
}

const lines: LogLine[] = [];
let waiting: (() => void) | undefined;
const logger = pino(
  { level: "debug" },
  new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(JSON.parse(chunk.toString("utf8")) as LogLine);
      waiting?.();
      callback();
    },
  }),
);

let server: tls.Server;
let port: number;

/** The first log line from index `from` on that matches. */
async function lineMatching(pattern: RegExp, from: number): Promise<LogLine> {
  for (;;) {
    const line = lines.slice(from).find((l) => pattern.test(l.msg));
    if (line !== undefined) return line;
    await new Promise<void>((resolve) => (waiting = resolve));
  }
}

before(async () => {
  const identity = await makeTestCertificate();
  server = createTlsServer({ identity: { ...identity, fingerprint256: "", generated: true }, clientCa: undefined, handshakeTimeoutMs: 3_600_000, maxConnections: 100 }, logger, (socket) => {
    // Answers "answer" to whatever comes, once the client has ended its side.
    socket.on("data", () => undefined);
    socket.on("end", () => socket.end("answer"));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  port = (server.address() as AddressInfo).port;
});
after(() => server.close());

for (const maxVersion of ["TLSv1.2", "TLSv1.3"] as const) {
  test(`openssl s_client refusing the certificate (${maxVersion}) is logged at once with its alert`, { timeout: 60_000 }, async () => {
    const from = lines.length;
    const client = spawn("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, "-verify_return_error", maxVersion === "TLSv1.2" ? "-tls1_2" : "-tls1_3"], { stdio: ["pipe", "ignore", "ignore"] });
    client.stdin.end();
    const line = await lineMatching(/refused the relay's certificate/, from);
    await once(client, "exit");
    assert.match(line.msg, /^127\.0\.0\.1:\d+ refused the relay's certificate \(TLS alert "unknown ca"\).*server\.cert-path/);
    assert.equal(line.code, "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA");
    assert.equal(line.level, 30);
    assert.ok(!lines.slice(from).some((l) => /timeout/i.test(l.msg)));
  });
}

test("a node:tls client refusing the certificate under TLS 1.3 (no alert, it closes) is logged at once", { timeout: 60_000 }, async () => {
  const from = lines.length;
  const client = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: true, maxVersion: "TLSv1.3" });
  const [error] = (await once(client, "error")) as [NodeJS.ErrnoException];
  assert.equal(error.code, "DEPTH_ZERO_SELF_SIGNED_CERT");
  const line = await lineMatching(/closed the connection during the TLS handshake/, from);
  assert.match(line.msg, /after the relay sent its certificate: the client most likely does not trust it/);
  assert.equal(line.level, 30);
});

test("a peer that connects and closes without a handshake stays a debug line", { timeout: 60_000 }, async () => {
  const from = lines.length;
  const { connect } = await import("node:net");
  const probe = connect(port, "127.0.0.1", () => probe.end());
  const line = await lineMatching(/TLS handshake with .* failed/, from);
  assert.equal(line.level, 20);
});

test("once secure, a client may still end its side after its request and read the answer", async () => {
  const client = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false });
  await once(client, "secureConnect");
  client.end("request");
  let answer = "";
  client.on("data", (chunk: Buffer) => (answer += chunk.toString("utf8")));
  await once(client, "end");
  assert.equal(answer, "answer");
});

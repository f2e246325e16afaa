// Fair shares of the listener (server.max-connections-per-peer and
// max-handshakes-per-peer): a peer that floods the relay with sockets that
// never finish a handshake (from 127.0.0.2; all of 127.0.0.0/8 is local)
// cannot keep a client at another address (127.0.0.1) from being served.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import net from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { KmipClient } from "../../src/client/kmip-client.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";
import { createCertificateAuthority, issueClientCertificate, type CertificateAuthority } from "../helpers/tls-certs.js";

const MAX_CONNECTIONS = 16;
const LIMITS = [`max-connections = ${MAX_CONNECTIONS}`, "max-connections-per-peer = 8", "max-handshakes-per-peer = 4", "handshake-timeout = 5"];
let relay: RunningRelay;
/** The same relay settings with mutual TLS (server.client-ca-path). */
let mtlsRelay: RunningRelay;
let clientCa: CertificateAuthority;

before(async () => {
  clientCa = await createCertificateAuthority("fairness clients");
  [relay, mtlsRelay] = await Promise.all([startRelayProcess({ server: LIMITS }), startRelayProcess({ server: [...LIMITS, `client-ca-path = "${clientCa.certPath}"`] })]);
});
after(async () => {
  await relay?.cleanup();
  await mtlsRelay?.cleanup();
  await clientCa?.cleanup();
});

/** Keeps `width` silent TCP connections from `localAddress` open, opening a new one as each is closed, until stopped. */
function flood(localAddress: string, width: number, target: RunningRelay = relay): { stop(): void; opened(): number } {
  let stopped = false;
  let opened = 0;
  const sockets = new Set<net.Socket>();
  const open = () => {
    if (stopped) return;
    const socket = net.connect({ host: target.host, port: target.port, localAddress });
    opened++;
    sockets.add(socket);
    socket.on("error", () => {});
    socket.once("close", () => {
      sockets.delete(socket);
      // Re-open at once, as an attacker would; a short pause keeps the test's own CPU use sane.
      setTimeout(open, 5);
    });
  };
  for (let i = 0; i < width; i++) open();
  return {
    stop() {
      stopped = true;
      for (const socket of sockets) socket.destroy();
    },
    opened: () => opened,
  };
}

/**
 * Floods `target` with silent sockets from 127.0.0.2 while 20 clients from
 * 127.0.0.1 connect (with `tls`, e.g. a client certificate) and each sends
 * one request; asserts the flood re-opened its sockets and every client was served.
 */
async function servedDuringFlood(target: RunningRelay, tls: { cert?: string; key?: string } = {}): Promise<void> {
  const ca = await readFile(join(target.dir, "state", "tls", "cert.pem"));
  const attacker = flood("127.0.0.2", 3 * MAX_CONNECTIONS, target);
  let served = 0;
  const failures: string[] = [];
  try {
    // Let the flood take what it can.
    await sleep(500);
    for (let i = 0; i < 20; i++) {
      try {
        const client = await KmipClient.connect({ host: target.host, port: target.port, ca, ...tls, username: target.token.label, password: target.token.pin, timeoutMs: 10_000 });
        try {
          await client.discoverVersions();
          served++;
        } finally {
          await client.close();
        }
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
  } finally {
    attacker.stop();
  }
  assert.ok(attacker.opened() > 3 * MAX_CONNECTIONS, "the flood re-opened its sockets");
  assert.equal(served, 20, `served ${served} of 20; failures: ${failures.join("; ")}`);
}

test("a flood of silent sockets from 127.0.0.2 leaves every request from 127.0.0.1 served", async () => {
  await servedDuringFlood(relay);
  assert.match(relay.output(), /refusing a connection: 4 connections of 127\.0\.0\.2 are in the TLS handshake \(server\.max-handshakes-per-peer\)/);
});

test("with mutual TLS, a flood of silent sockets from 127.0.0.2 leaves every request of a client with a certificate served", async () => {
  const certificate = await issueClientCertificate(clientCa, "legitimate");
  await servedDuringFlood(mtlsRelay, { cert: certificate.cert, key: certificate.key });
});

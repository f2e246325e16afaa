// Many relays, one HSM, behind HAProxy (deploy/haproxy/): two relay
// processes on one SoftHSM token, HAProxy in front of them configured with
// deploy/haproxy/haproxy.cfg and checking the relays' /healthz (its KMIP
// check is tested on its own). A key pair made through one relay is used,
// changed, revoked and destroyed through the other, and each relay sees the
// other's changes at once; under a steady signing load, one relay is killed
// and clients that reconnect continue through the other with every
// signature correct; the killed relay restarts, rejoins and takes new
// connections again.
import assert from "node:assert/strict";
import { verify, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { KmipConnectionError, KmipResultError, type KmipClient } from "../../src/client/kmip-client.js";
import { decodeRequestMessage } from "../../src/kmip/message.js";
import { decodeTtlv } from "../../src/ttlv/decode.js";
import { CryptographicAlgorithm, HashingAlgorithm, Operation, ResultReason, RevocationReasonCode, State } from "../../src/ttlv/enums.js";
import { HAPROXY_CONFIG, passedCheck, startHaproxy, startRelayPool, type RelayPool } from "../../bench/ha-pool.js";
import { pkcs11Tool } from "../helpers/softhsm.js";
import { algorithm, createKeyPair, length, name, publicKeyOf, rejectsWith } from "../helpers/relay-client.js";

const EC_P256 = [algorithm(CryptographicAlgorithm.ECDSA), length(256)];
const ECDSA_SHA256 = { cryptographicAlgorithm: CryptographicAlgorithm.ECDSA, hashingAlgorithm: HashingAlgorithm.SHA256 };

test("the KMIP health check in haproxy.cfg sends a well-formed Discover Versions request message", async () => {
  const config = await readFile(HAPROXY_CONFIG, "utf8");
  const hex = /^\s*tcp-check send-binary ([0-9A-F]+)$/m.exec(config)?.[1];
  assert.ok(hex !== undefined, "haproxy.cfg has a tcp-check send-binary line");
  const request = decodeRequestMessage(decodeTtlv(Buffer.from(hex, "hex")));
  assert.deepEqual(request.header.protocolVersion, { major: 1, minor: 2 });
  assert.deepEqual(
    request.batchItems.map((item) => item.operation),
    [Operation.DiscoverVersions],
  );
});

test("the health port of haproxy.cfg and try-pool.sh is the [metrics] port of README and the sample config (9696)", async () => {
  const readme = await readFile(new URL("../../../README.md", import.meta.url), "utf8");
  const sample = await readFile(new URL("../../../etc/kmip2pkcs11.toml", import.meta.url), "utf8");
  const port = /^\[metrics\]\naddr = "127\.0\.0\.1:(\d+)"$/m.exec(readme)?.[1];
  assert.equal(port, "9696");
  assert.match(sample, new RegExp(`^#addr = "127\\.0\\.0\\.1:${port}"$`, "m"));
  const config = await readFile(HAPROXY_CONFIG, "utf8");
  assert.match(config, new RegExp(`port "\\$\\{KMIP2PKCS11_HEALTH_PORT-${port}\\}"`));
  const script = await readFile(new URL("../../../deploy/haproxy/try-pool.sh", import.meta.url), "utf8");
  assert.match(script, new RegExp(`\\$\\(\\(${port} \\+ i\\)\\)`));
  for (const text of [config, script, await readFile(new URL("../../../deploy/haproxy/README.md", import.meta.url), "utf8")]) {
    assert.doesNotMatch(text, /\b9100\b/, "node_exporter's port");
  }
});

let pool: RelayPool;

/** The socket's own errors, which KmipClient passes on as they are, and its KmipConnectionError. */
const SOCKET_ERRORS: ReadonlySet<string> = new Set(["ECONNRESET", "EPIPE", "ECONNREFUSED"]);
const isConnectionFailure = (error: unknown) =>
  error instanceof KmipConnectionError || SOCKET_ERRORS.has((error as NodeJS.ErrnoException).code ?? "");

before(async () => {
  pool = await startRelayPool({ relays: 2 });
});

after(async () => {
  await pool?.close();
});

/** A client through HAProxy and the index of the relay HAProxy gave it (from the runtime API's session counts). */
async function connectThroughHaproxy(): Promise<{ client: KmipClient; relay: number }> {
  const before = await pool.haproxy.servers();
  const client = await pool.connect({ timeoutMs: 10_000 });
  // The TLS handshake is done, so HAProxy has connected the session to a relay.
  const after = await pool.haproxy.servers();
  const grown = after.filter((stat, i) => stat.totalSessions > before[i]!.totalSessions);
  assert.equal(grown.length, 1, `one relay got the connection: ${JSON.stringify(after)}`);
  return { client, relay: after.indexOf(grown[0]!) };
}

describe("two relays on one token behind HAProxy", () => {
  test("a key pair made through one relay is got, signed with, renamed, revoked and destroyed through the other", async () => {
    const a = await connectThroughHaproxy();
    // leastconn: with A's connection open, the next one goes to the other relay.
    const b = await connectThroughHaproxy();
    try {
      assert.notEqual(a.relay, b.relay, "the two clients are on different relays");

      const created = await createKeyPair(a.client, EC_P256, "ha");
      const priv = created.privateKeyUniqueIdentifier;
      const pub = created.publicKeyUniqueIdentifier;

      // B sees A's new key at once, by the ids A's relay computed.
      const publicKey = publicKeyOf(await b.client.get({ uniqueIdentifier: pub }));
      for (const client of [b.client, a.client]) {
        const data = Buffer.from(`signed through relay ${client === a.client ? a.relay : b.relay}`);
        const { signatureData } = await client.sign({ uniqueIdentifier: priv, cryptographicParameters: ECDSA_SHA256, data });
        assert.equal(verify("sha256", data, publicKey, signatureData!), true);
      }

      // A change through B is what A answers next.
      await b.client.modifyAttribute({ uniqueIdentifier: priv, attribute: name("ha-renamed") });
      const names = (await a.client.getAttributes({ uniqueIdentifier: priv, attributeNames: ["Name"] })).attributes;
      assert.deepEqual(
        names.map((attribute) => attribute.value),
        [name("ha-renamed").value],
      );

      // A revocation through B stops signing through A, whose relay has the key's handle cached.
      await b.client.revoke({ uniqueIdentifier: priv, revocationReason: { revocationReasonCode: RevocationReasonCode.CessationOfOperation } });
      const state = (await a.client.getAttributes({ uniqueIdentifier: priv, attributeNames: ["State"] })).attributes[0]?.value;
      assert.equal(state, State.Deactivated);
      await rejectsWith(a.client.sign({ uniqueIdentifier: priv, cryptographicParameters: ECDSA_SHA256, data: Buffer.from("x") }), ResultReason.PermissionDenied);

      // Destroyed through B: gone for A.
      await b.client.destroy({ uniqueIdentifier: priv });
      await b.client.destroy({ uniqueIdentifier: pub });
      await rejectsWith(a.client.get({ uniqueIdentifier: pub }), ResultReason.ItemNotFound);
      await rejectsWith(a.client.sign({ uniqueIdentifier: priv, cryptographicParameters: ECDSA_SHA256, data: Buffer.from("x") }), ResultReason.ItemNotFound);
    } finally {
      await Promise.all([a.client.close(), b.client.close()]);
    }
  });

  test("HAProxy's KMIP health check (for relays without [metrics]) finds both relays up, and traffic passes", async () => {
    const haproxy = await startHaproxy({ servers: pool.servers(), caPath: pool.caPath, healthCheck: "kmip" });
    try {
      // startHaproxy waited for a passed check of each relay; the checks were KMIP exchanges over verified TLS.
      for (const relay of pool.relays) await relay.waitForOutput(/the request carries no Username and Password credential/);
      const client = await pool.connect({ port: haproxy.port });
      try {
        const { protocolVersions } = await client.discoverVersions();
        assert.ok(protocolVersions.length > 0);
      } finally {
        await client.close();
      }
    } finally {
      await haproxy.stop();
    }
  });

  test(
    "logins to the token by another process (a relay starting, pkcs11-tool) do not fail the relays' requests",
    async (t) => {
      const setup = await pool.connect();
      const { privateKeyUniqueIdentifier: priv } = await createKeyPair(setup, EC_P256);
      await setup.close();
      const failures = new Map<string, number>();
      let signed = 0;
      let stopped = false;
      const signer = async () => {
        const client = await pool.connect();
        try {
          for (let i = 0; !stopped && i < 100_000; i++) {
            try {
              await client.sign({ uniqueIdentifier: priv, cryptographicParameters: ECDSA_SHA256, data: Buffer.from(`request ${i}`) });
              signed++;
            } catch (error) {
              if (!(error instanceof KmipResultError)) throw error;
              failures.set(error.message, (failures.get(error.message) ?? 0) + 1);
            }
          }
        } finally {
          await client.close();
        }
      };
      // A client with a username no token has makes each relay read the slot list again (every 250 ms at most), as
      // real clients' typos do; without it the list is read every 2 s and the test would catch the race less often.
      const stranger = async () => {
        const client = await pool.connect({ username: "no-such-token" });
        try {
          while (!stopped) await client.discoverVersions().catch(() => new Promise((wake) => setTimeout(wake, 20)));
        } finally {
          await client.close();
        }
      };
      // leastconn puts two signers on each relay, and a stranger on each.
      const signers = [signer(), signer(), signer(), signer(), stranger(), stranger()];
      let logins = 0;
      try {
        const { token } = pool;
        for (const until = Date.now() + 8_000; logins < 40 && Date.now() < until; logins++) {
          // pkcs11-tool meets the same SoftHSM race as the relays (the token briefly missing while another
          // process logs in); it is the load here, not what is tested, so such a run is just not counted.
          await pkcs11Tool(token, ["--token-label", token.label, "--login", "--pin", token.pin, "--list-objects"]).catch((error: Error) => {
            if (!/No slot with token named/.test(error.message)) throw error;
            logins--;
          });
        }
      } finally {
        stopped = true;
        await Promise.all(signers);
      }
      t.diagnostic(`${signed} signatures succeeded during ${logins} logins by pkcs11-tool; failed: ${JSON.stringify([...failures])}`);
      assert.deepEqual([...failures], []);
    },
  );

  test("under signing load, a relay is killed, clients reconnect through the other, and the restarted relay takes load again", async (t) => {
    const setup = await pool.connect();
    let priv: string;
    let publicKey: KeyObject;
    try {
      const created = await createKeyPair(setup, EC_P256, "ha-load");
      priv = created.privateKeyUniqueIdentifier;
      publicKey = publicKeyOf(await setup.get({ uniqueIdentifier: created.publicKeyUniqueIdentifier }));
    } finally {
      await setup.close();
    }

    type Phase = "before the kill" | "after the kill" | "after the restart";
    let phase: Phase = "before the kill";
    const signed: Record<Phase, number> = { "before the kill": 0, "after the kill": 0, "after the restart": 0 };
    let lostWithConnection = 0;
    let stopped = false;
    /** What ended a signer early; the first one fails the test. */
    const failures: unknown[] = [];
    const deadline = Date.now() + 40_000;

    /**
     * One client signing back to back: each signature is checked; a request
     * whose connection fails is sent again on a new connection (through
     * HAProxy), so every request of the loop ends with a good signature.
     * Anything else (a failed batch item, a bad signature) fails the test.
     */
    const signer = async (loop: string): Promise<number> => {
      let client: KmipClient | undefined;
      let done = 0;
      try {
        for (let attempts = 0; !stopped && Date.now() < deadline && done < 100_000; ) {
          const data = Buffer.from(`${loop} request ${done}`);
          try {
            client ??= await pool.connect({ timeoutMs: 5_000 });
            const { signatureData } = await client.sign({ uniqueIdentifier: priv, cryptographicParameters: ECDSA_SHA256, data });
            assert.ok(signatureData !== undefined && verify("sha256", data, publicKey, signatureData), `${loop}: signature ${done} verifies`);
            signed[phase]++;
            done++;
            attempts = 0;
          } catch (error) {
            if (!isConnectionFailure(error)) throw error;
            assert.ok(++attempts <= 20, `${loop}: 20 reconnections in a row failed: ${String(error)}`);
            lostWithConnection++;
            client = undefined;
            await new Promise((wake) => setTimeout(wake, 50));
          }
        }
      } finally {
        await client?.close().catch(() => undefined);
      }
      return done;
    };
    /** A signer whose failure stops the others at once, so the test fails now and leaves nothing running. */
    const start = (loop: string) =>
      signer(loop).catch((error: unknown) => {
        failures.push(error);
        stopped = true;
        return 0;
      });
    const waitForSignatures = async (target: Phase, count: number) => {
      while (signed[target] < count && !stopped && Date.now() < deadline) await new Promise((wake) => setTimeout(wake, 20));
    };

    const killed = 0;
    const killedName = pool.serverName(killed);
    let killedOutput = "";
    const loops = Array.from({ length: 4 }, (_, i) => start(`signer ${i}`));
    try {
      await waitForSignatures("before the kill", 400);
      const onKilled = (await pool.haproxy.servers())[killed]!.currentSessions;
      assert.ok(onKilled > 0, "some signers are on the relay that will be killed");

      await pool.kill(killed);
      phase = "after the kill";
      await pool.haproxy.waitForServer(killedName, (stat) => stat.status.startsWith("DOWN"), "down");
      await waitForSignatures("after the kill", 400);

      killedOutput = pool.relays[killed]!.output();
      await pool.restart(killed);
      await pool.haproxy.waitForServer(killedName, passedCheck, "up again");
      phase = "after the restart";
      const rejoinedBefore = (await pool.haproxy.servers())[killed]!.totalSessions;
      // leastconn: new connections go to the rejoined relay, which holds none.
      loops.push(start("signer 4"), start("signer 5"));
      await waitForSignatures("after the restart", 400);
      const rejoined = (await pool.haproxy.servers())[killed]!;
      assert.ok(rejoined.totalSessions > rejoinedBefore && rejoined.currentSessions > 0, `the restarted relay takes connections: ${JSON.stringify(rejoined)}`);
    } finally {
      stopped = true;
      await Promise.all(loops);
    }
    if (failures.length > 0) {
      const tail = (output: string) => output.trimEnd().split("\n").slice(-20).join("\n");
      t.diagnostic(`killed relay:\n${tail(killedOutput)}`);
      for (const [i, relay] of pool.relays.entries()) t.diagnostic(`relay ${i + 1}:\n${tail(relay.output())}`);
      throw failures[0];
    }
    const perLoop = await Promise.all(loops);
    t.diagnostic(
      `successful signatures: ${signed["before the kill"]} before the kill, ${signed["after the kill"]} after it, ${signed["after the restart"]} after the restart ` +
        `(per client: ${perLoop.join(", ")}); ${lostWithConnection} requests lost with their connection and sent again`,
    );
    for (const phaseName of Object.keys(signed) as Phase[]) assert.ok(signed[phaseName] >= 400, `400 signatures ${phaseName}, within the time limit`);
    assert.ok(perLoop[4]! > 0 && perLoop[5]! > 0, "the clients that connected after the restart signed (through the restarted relay)");
    assert.ok(lostWithConnection > 0, "the kill cut off the clients on that relay");
  });
});

// Graceful shutdown on SIGTERM and SIGINT: the relay stops accepting, lets
// the requests in progress finish (bounded by server.shutdown-timeout),
// finalises the module and exits 0; a second signal ends it at once.
import assert from "node:assert/strict";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import net from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { KmipClient, KmipConnectionError } from "../../src/client/kmip-client.js";
import { CryptographicAlgorithm, NameType } from "../../src/ttlv/enums.js";
import { buildFaultyModule, FaultLabel } from "../helpers/faulty-module.js";
import { startRelayProcess, type RelayOptions, type RunningRelay } from "../helpers/relay.js";

async function withRelay(options: RelayOptions, run: (relay: RunningRelay, client: KmipClient) => Promise<void>): Promise<void> {
  const relay = await startRelayProcess({ logLevel: "debug", ...options });
  try {
    const ca = await readFile(join(relay.dir, "state", "tls", "cert.pem"), "utf8");
    const client = await KmipClient.connect({ host: relay.host, port: relay.port, ca, username: relay.token.label, password: relay.token.pin });
    try {
      await run(relay, client);
    } finally {
      await client.close();
    }
  } finally {
    await relay.cleanup();
  }
}

/** The exit code once the relay has exited (the helper's stop() would signal it again). */
async function exitCode(relay: RunningRelay): Promise<number | null> {
  if (relay.process.exitCode !== null) return relay.process.exitCode;
  const [code] = (await once(relay.process, "exit")) as [number | null];
  return code;
}

/** Resolves once the relay has received the request message number `n` (counted from 1) of the run. */
function requestReceived(relay: RunningRelay, n: number): Promise<string> {
  return relay.waitForOutput(new RegExp(`(?:request message \\(\\d+ bytes\\)[^]*?){${n}}`));
}

function ecKeyPair(label?: string) {
  return {
    commonTemplateAttribute: {
      names: [],
      attributes: [{ name: "Activation Date" as const, value: BigInt(Math.floor(Date.now() / 1000)) }, 
        { name: "Cryptographic Algorithm" as const, value: CryptographicAlgorithm.ECDSA },
        { name: "Cryptographic Length" as const, value: 256 },
      ],
    },
    ...(label === undefined
      ? {}
      : { privateKeyTemplateAttribute: { names: [], attributes: [{ name: "Name" as const, value: { nameValue: label, nameType: NameType.UninterpretedTextString } }] } }),
  };
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(`${signal}: no new connections, the request in progress is answered, the module is finalised, exit 0`, async () => {
    await withRelay({ server: ["shutdown-timeout = 60"] }, async (relay, client) => {
      // RSA key generation takes long enough (a prime search) to be in
      // progress when the signal comes, a few milliseconds after the relay
      // logged the request.
      const created = client.createKeyPair({
        commonTemplateAttribute: {
          names: [],
          attributes: [{ name: "Activation Date" as const, value: BigInt(Math.floor(Date.now() / 1000)) }, 
            { name: "Cryptographic Algorithm", value: CryptographicAlgorithm.RSA },
            { name: "Cryptographic Length", value: 2048 },
          ],
        },
      });
      await requestReceived(relay, 1);
      relay.process.kill(signal);
      await relay.waitForOutput(new RegExp(`shutting down \\(${signal}\\)`));

      const refused = net.connect({ host: relay.host, port: relay.port });
      const [error] = (await once(refused, "error")) as [NodeJS.ErrnoException];
      assert.equal(error.code, "ECONNREFUSED");

      const ids = await created;
      assert.match(ids.privateKeyUniqueIdentifier, /_priv$/);
      // The connection is closed once its answers are out.
      await assert.rejects(client.discoverVersions(), KmipConnectionError);
      assert.equal(await exitCode(relay), 0);
      assert.match(relay.output(), /PKCS#11 module finalised/);
      assert.match(relay.output(), /INFO {2}stopped/);
    });
  });
}

test("a request still running after shutdown-timeout: its connection is closed, the module process stopped, exit 0", async () => {
  const modulePath = await buildFaultyModule();
  await withRelay({ modulePath, server: ["shutdown-timeout = 1"], pkcs11: ["call-timeout = 2"] }, async (relay, client) => {
    const key = await client.createKeyPair(ecKeyPair(FaultLabel.hang));
    const hanging = client.sign({ uniqueIdentifier: key.privateKeyUniqueIdentifier, data: Buffer.from("x") });
    await requestReceived(relay, 2);
    relay.process.kill("SIGTERM");
    await assert.rejects(hanging, KmipConnectionError);
    assert.equal(await exitCode(relay), 0);
    assert.match(relay.output(), /requests still in progress after 1 s \(server\.shutdown-timeout\); closing their connections/);
    assert.match(relay.output(), /INFO {2}stopped/);
  });
});

test("a second signal during shutdown ends the relay at once", async () => {
  await withRelay({ server: ["shutdown-timeout = 60"] }, async (relay, client) => {
    const created = client.createKeyPair({
      commonTemplateAttribute: {
        names: [],
        attributes: [{ name: "Activation Date" as const, value: BigInt(Math.floor(Date.now() / 1000)) }, 
          { name: "Cryptographic Algorithm", value: CryptographicAlgorithm.RSA },
          { name: "Cryptographic Length", value: 4096 },
        ],
      },
    });
    const cutOff = assert.rejects(created, KmipConnectionError);
    await requestReceived(relay, 1);
    relay.process.kill("SIGTERM");
    await relay.waitForOutput(/shutting down \(SIGTERM\)/);
    relay.process.kill("SIGTERM");
    // 128 + SIGTERM (15), as a shell reports a process ended by the signal.
    assert.equal(await exitCode(relay), 143);
    await cutOff;
  });
});

test("a second signal while a module call hangs leaves no module process behind", async () => {
  const modulePath = await buildFaultyModule();
  await withRelay({ modulePath, server: ["shutdown-timeout = 60"], pkcs11: ["call-timeout = 60"] }, async (relay, client) => {
    const key = await client.createKeyPair(ecKeyPair(FaultLabel.hang));
    const modulePid = Number(/modulePid=(\d+)/.exec(relay.output())![1]);
    const hanging = assert.rejects(client.sign({ uniqueIdentifier: key.privateKeyUniqueIdentifier, data: Buffer.from("x") }), KmipConnectionError);
    await requestReceived(relay, 2);
    relay.process.kill("SIGTERM");
    await relay.waitForOutput(/shutting down \(SIGTERM\)/);
    relay.process.kill("SIGTERM");
    assert.equal(await exitCode(relay), 143);
    await hanging;
    // The module process, blocked inside C_SignInit, cannot notice its parent is gone: the relay kills it on exit.
    const gone = async () => {
      const status = await readFile(`/proc/${modulePid}/status`, "utf8").catch(() => "");
      return status === "" || /^State:\s+Z/m.test(status);
    };
    for (let i = 0; i < 50 && !(await gone()); i++) await new Promise((wake) => setTimeout(wake, 100));
    assert.ok(await gone(), `module process ${modulePid} still runs after the relay exited`);
  });
});

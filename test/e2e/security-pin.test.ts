// PIN hygiene and login throttling, on a relay logging at trace level:
// - a storm of 100 wrong-PIN requests before anyone logged in reaches
//   C_Login at most login-failure-limit times, then logins are refused for
//   the cool-down; afterwards the right PIN works (the token is not locked);
// - once the token is logged in, wrong PINs are refused against the digest
//   of the right one and never reach C_Login;
// - neither the right nor a wrong PIN appears anywhere in the relay's output,
//   as text, hex or base64;
// - a PIN changed on the token with pkcs11-tool while the relay runs: the
//   new PIN works at once, the old one is refused within pkcs11.pin-recheck.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { KmipClient, KmipResultError } from "../../src/client/kmip-client.js";
import { CryptographicAlgorithm, ResultReason } from "../../src/ttlv/enums.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";
import { createSoftHsmToken, pkcs11Tool, type SoftHsmToken } from "../helpers/softhsm.js";

const PIN = "pin-5e1f-83ac";
const WRONG_PINS = ["wrong-9c2d-44be", "wrong-0b7a-e31f"];
const LOGIN_FAILURE_LIMIT = 5;
const COOLDOWN_S = 2;
const AUTHENTICATION_FAILED = "authentication failed: wrong username or password, or too many failed attempts";

let token: SoftHsmToken;
let relay: RunningRelay;
let serverCa: string;

before(async () => {
  token = await createSoftHsmToken({ pin: PIN });
  relay = await startRelayProcess({
    token,
    logLevel: "trace",
    pkcs11: [`login-failure-limit = ${LOGIN_FAILURE_LIMIT}`, "login-failure-window = 60", `login-cooldown = ${COOLDOWN_S}`],
  });
  serverCa = await readFile(join(relay.dir, "state", "tls", "cert.pem"), "utf8");
});
after(async () => {
  await relay?.cleanup();
  await token?.cleanup();
});

function connect(password: string): Promise<KmipClient> {
  return KmipClient.connect({ host: relay.host, port: relay.port, ca: serverCa, username: token.label, password, timeoutMs: 30_000 });
}

/** Lines of the relay's output saying that C_Login refused a PIN. */
function refusedLogins(): number {
  return relay.output().split("\n").filter((line) => line.includes("C_Login refused the PIN")).length;
}

/** 100 requests with wrong PINs over 4 connections; each must be refused as an authentication failure. */
async function wrongPinStorm(): Promise<void> {
  const clients = await Promise.all([0, 1, 2, 3].map((i) => connect(WRONG_PINS[i % 2]!)));
  try {
    await Promise.all(
      clients.map(async (client) => {
        for (let i = 0; i < 25; i++) {
          await assert.rejects(client.discoverVersions(), (error: unknown) => {
            assert.ok(error instanceof KmipResultError, String(error));
            assert.equal(error.resultReason, ResultReason.AuthenticationNotSuccessful);
            // One text for a refused PIN, a cool-down, logged in or not: nothing tells an attacker when C_Login is called.
            assert.equal(error.resultMessage, AUTHENTICATION_FAILED);
            return true;
          });
        }
      }),
    );
  } finally {
    await Promise.all(clients.map((client) => client.close()));
  }
}

test("a wrong-PIN storm before any login reaches C_Login at most login-failure-limit times; the right PIN works after the cool-down", async () => {
  await wrongPinStorm();
  assert.ok(refusedLogins() <= LOGIN_FAILURE_LIMIT, `${refusedLogins()} C_Login calls refused a PIN`);
  await relay.waitForOutput(/client 127\.0\.0\.1 (?:is refused for another \d+ s|has 5 failed or pending logins)/);

  // The token itself is not locked: SoftHSM reports no lock in its flags.
  assert.doesNotMatch(await pkcs11Tool(token, ["--list-token-slots"]), /locked/i);

  await sleep(COOLDOWN_S * 1000);
  const client = await connect(PIN);
  try {
    await client.discoverVersions();
  } finally {
    await client.close();
  }
});

test("once logged in, wrong PINs reach C_Login only within the throttle (a PIN check of its own, for PIN changes), and the right PIN keeps working", async () => {
  const client = await connect(PIN);
  try {
    await client.discoverVersions();
    const before = refusedLogins();
    await wrongPinStorm();
    assert.ok(refusedLogins() - before <= LOGIN_FAILURE_LIMIT, `${refusedLogins() - before} wrong PINs reached C_Login`);
    // Signing proves the session is still logged in for private keys.
    const keys = await client.createKeyPair({
      commonTemplateAttribute: {
        names: [],
        attributes: [{ name: "Activation Date", value: BigInt(Math.floor(Date.now() / 1000)) }, 
          { name: "Cryptographic Algorithm", value: CryptographicAlgorithm.ECDSA },
          { name: "Cryptographic Length", value: 256 },
        ],
      },
    });
    const signed = await client.sign({ uniqueIdentifier: keys.privateKeyUniqueIdentifier, data: Buffer.from("example.") });
    assert.ok(signed.signatureData !== undefined && signed.signatureData.length > 0);
  } finally {
    await client.close();
  }
});

test("the throttle lives in the relay: a module restart resets nothing, and the right PIN works at once while its address is cooling down", async () => {
  const client = await connect(PIN);
  try {
    await client.discoverVersions();
    await wrongPinStorm();
    const before = refusedLogins();
    // Kill the idle module process; the relay restarts it, and the new one is not logged in.
    const relayPid = relay.process.pid!;
    const [modulePid] = (await readFile(`/proc/${relayPid}/task/${relayPid}/children`, "utf8")).split(/\s+/).filter(Boolean).map(Number);
    const restarts = (relay.output().match(/is serving again/g) ?? []).length;
    process.kill(modulePid!, "SIGKILL");
    await relay.waitForOutput(new RegExp(`(?:is serving again[^]*?){${restarts + 1}}`));
    await wrongPinStorm();
    // The count went on across the restart: at most one client's share (its cool-down is short here).
    assert.ok(refusedLogins() - before <= LOGIN_FAILURE_LIMIT, `${refusedLogins() - before} wrong PINs reached C_Login after the restart`);
    // The right PIN, from the same (cooling-down) address, logs the new module process in.
    await client.discoverVersions();
  } finally {
    await client.close();
  }
});

test("no PIN appears in the relay's trace-level output, in any encoding", async () => {
  const output = relay.output();
  // The request dumps are there, with the Password redacted.
  assert.match(output, /request message \(\d+ bytes\)/);
  assert.match(output, /Password \(TextString\): <redacted>/);
  assert.doesNotMatch(output, /Password \(TextString\): <redacted \d/, "not even the PIN's length");
  for (const pin of [PIN, ...WRONG_PINS]) {
    const bytes = Buffer.from(pin, "utf8");
    for (const form of [pin, bytes.toString("hex"), bytes.toString("hex").toUpperCase(), bytes.toString("base64")]) {
      assert.ok(!output.includes(form), `the relay's output contains ${JSON.stringify(form)} (PIN ${pin})`);
    }
  }
});

test("a running relay honours pkcs11-tool --change-pin: the new PIN works at once, the old one is refused once pin-recheck has passed", async (t) => {
  const RECHECK_S = 2;
  const own = await createSoftHsmToken({ label: "pin-change", pin: "old-pin-1" });
  const changing = await startRelayProcess({ token: own, pkcs11: [`pin-recheck = ${RECHECK_S}`] });
  const ca = await readFile(join(changing.dir, "state", "tls", "cert.pem"), "utf8");
  const as = (password: string) => KmipClient.connect({ host: changing.host, port: changing.port, ca, username: own.label, password, timeoutMs: 30_000 });
  /** One request with `password` that reaches the token (Locate); whether the relay accepted the PIN. */
  const accepted = async (password: string): Promise<boolean> => {
    const client = await as(password);
    try {
      await client.locate({ attributes: [] });
      return true;
    } catch (error) {
      assert.ok(error instanceof KmipResultError && error.resultReason === ResultReason.AuthenticationNotSuccessful, String(error));
      assert.equal(error.resultMessage, AUTHENTICATION_FAILED);
      return false;
    } finally {
      await client.close();
    }
  };
  const change = (from: string, to: string) => pkcs11Tool(own, ["--token-label", own.label, "--login", "--pin", from, "--change-pin", "--new-pin", to]);
  try {
    assert.ok(await accepted("old-pin-1"), "the relay logs in with the PIN the token was made with");

    // Changed, and the new PIN not used yet: the old one works until its recheck, pin-recheck after the login.
    await change("old-pin-1", "new-pin-2");
    const changed = Date.now();
    let requests = 0;
    while (await accepted("old-pin-1")) {
      requests++;
      await sleep(250);
    }
    t.diagnostic(`old PIN refused ${Date.now() - changed} ms after the change (pin-recheck = ${RECHECK_S} s), after ${requests} more requests with it`);
    await changing.waitForOutput(/no longer accepts the PIN it was logged in with/);
    assert.ok(await accepted("new-pin-2"), "the new PIN works");
    assert.equal(await accepted("old-pin-1"), false, "the old PIN stays refused");

    // Changed again: the next PIN works at once, and once it has, the one before is refused at once.
    await change("new-pin-2", "third-pin-3");
    assert.ok(await accepted("third-pin-3"), "the new PIN works at once");
    assert.equal(await accepted("new-pin-2"), false, "the PIN before is refused once the new one was used");
  } finally {
    await changing.cleanup();
    await own.cleanup();
  }
});

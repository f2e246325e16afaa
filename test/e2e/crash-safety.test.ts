// Nothing a client was told exists is lost when the module process or the
// relay dies. Two tokens, each with clients logging in, renaming (Modify
// Attribute Name), generating key pairs and destroying keys, while the
// module process is killed by the relay (a hung C_SignInit on token A past
// call-timeout) and the relay itself is SIGKILLed, at random points of that
// work. Afterwards the tokens are read directly (the in-process backend in
// this process, through pkcs11js): every key whose creation or rename was
// acknowledged is there with an acknowledged label, every acknowledged
// destroy holds, and the bystander keys nobody touched are unchanged, on both
// tokens.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import pino from "pino";
import { KmipClient } from "../../src/client/kmip-client.js";
import { openPkcs11Backend } from "../../src/hsm/pkcs11-backend.js";
import { CryptographicAlgorithm } from "../../src/ttlv/enums.js";
import { buildFaultyModule, FaultLabel } from "../helpers/faulty-module.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";
import { name } from "../helpers/relay-client.js";
import { createSoftHsmToken, SOFTHSM_MODULE_PATH, type SoftHsmToken } from "../helpers/softhsm.js";

const ROUNDS = 6;
/** Per token and round. */
const CREATES = 2;
const RENAMES = 3;
const DESTROYS = 1;
const BYSTANDERS = 3;

let tokens: SoftHsmToken;
let modulePath: string;
let relay: RunningRelay;
let port = 0;

/** What a client was told, per key id: its label (any of them when a rename failed), or destroyed. */
interface Known {
  readonly token: string;
  labels: Set<string>;
  destroyed: "no" | "yes" | "maybe";
}
const known = new Map<string, Known>();
/** Keys no one touches after they are made, and their token. */
const bystanders = new Map<string, string>();

/** A deterministic random sequence, so that a failure can be replayed; the seed is in the test name. */
const SEED = Number(process.env.CRASH_SEED ?? Date.now() % 100_000);
let state = SEED;
function random(): number {
  state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
  return state / 2 ** 31;
}

async function startRelay(): Promise<void> {
  relay = await startRelayProcess({
    token: tokens,
    modulePath,
    port,
    // Short enough that a hang is noticed within the test; writes keep a bound of their own.
    pkcs11: ["call-timeout = 0.5", "write-timeout = 5"],
  });
  port = relay.port;
}

async function connect(label: string): Promise<KmipClient> {
  const ca = await readFile(join(relay.dir, "state", "tls", "cert.pem"), "utf8");
  return KmipClient.connect({ host: relay.host, port: relay.port, ca, username: label, password: tokens.pin, timeoutMs: 30_000 });
}

async function createPair(client: KmipClient, label: string): Promise<[string, string]> {
  const created = await client.createKeyPair({
    commonTemplateAttribute: {
      names: [],
      attributes: [{ name: "Activation Date", value: BigInt(Math.floor(Date.now() / 1000)) }, 
        { name: "Cryptographic Algorithm", value: CryptographicAlgorithm.ECDSA },
        { name: "Cryptographic Length", value: 256 },
      ],
    },
    privateKeyTemplateAttribute: { names: [], attributes: [name(label)] },
    publicKeyTemplateAttribute: { names: [], attributes: [name(label)] },
  });
  return [created.privateKeyUniqueIdentifier, created.publicKeyUniqueIdentifier];
}

/** Module process ids of the running relay. */
async function modulePids(): Promise<number[]> {
  const pid = relay.process.pid!;
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, "utf8").catch(() => "");
  return children.split(/\s+/).filter(Boolean).map(Number);
}

async function exited(pid: number): Promise<void> {
  for (let waited = 0; waited < 30_000; waited += 50) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`process ${pid} did not exit`);
}

/** One token's share of a round; every outcome is recorded as the client saw it. */
async function work(label: string, round: number): Promise<void> {
  // A new connection per round: its first request logs in (C_Login after a restart).
  let client: KmipClient;
  try {
    client = await connect(label);
  } catch {
    return; // The relay was killed under us.
  }
  const mine = [...known.entries()].filter(([, key]) => key.token === label && key.destroyed === "no");
  const jobs: Promise<unknown>[] = [];
  for (let i = 0; i < CREATES; i++) {
    const keyLabel = `r${round}-c${i}`;
    jobs.push(
      createPair(client, keyLabel).then(
        (ids) => ids.forEach((id) => known.set(id, { token: label, labels: new Set([keyLabel]), destroyed: "no" })),
        () => undefined, // Not acknowledged: the relay promised nothing.
      ),
    );
  }
  const picks = mine.sort(() => random() - 0.5);
  for (const [id, key] of picks.slice(0, RENAMES)) {
    const newLabel = `r${round}-renamed`;
    jobs.push(
      client.modifyAttribute({ uniqueIdentifier: id, attribute: name(newLabel) }).then(
        () => (key.labels = new Set([newLabel])),
        () => key.labels.add(newLabel),
      ),
    );
  }
  for (const [id, key] of picks.slice(RENAMES, RENAMES + DESTROYS)) {
    jobs.push(
      client.destroy({ uniqueIdentifier: id }).then(
        () => (key.destroyed = "yes"),
        () => (key.destroyed = "maybe"),
      ),
    );
  }
  await Promise.all(jobs);
  await client.close().catch(() => undefined);
}

before(async () => {
  [tokens, modulePath] = await Promise.all([createSoftHsmToken({ tokens: 2, label: "crash" }), buildFaultyModule()]);
  await startRelay();
  for (const label of tokens.labels) {
    const client = await connect(label);
    for (let i = 0; i < BYSTANDERS; i++) {
      for (const id of await createPair(client, `bystander-${i}`)) bystanders.set(id, label);
    }
    for (let i = 0; i < RENAMES + DESTROYS; i++) {
      for (const id of await createPair(client, `initial-${i}`)) known.set(id, { token: label, labels: new Set([`initial-${i}`]), destroyed: "no" });
    }
    await client.close();
  }
});

after(async () => {
  await relay?.cleanup();
  await tokens?.cleanup();
});

test(`keys acknowledged to clients survive module and relay kills at random points (seed ${SEED})`, async () => {
  const [tokenA] = tokens.labels;
  const hangClient = await connect(tokenA!);
  const [hangKey] = await createPair(hangClient, FaultLabel.hang);
  await hangClient.close();
  let moduleKills = 0;
  let relayKills = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const load = Promise.all(tokens.labels.map((label) => work(label, round)));
    await new Promise((resolve) => setTimeout(resolve, random() * 60));
    if (round % 2 === 0) {
      // The relay kills the module: a sign that hangs in C_SignInit on token A.
      const client = await connect(tokenA!).catch(() => undefined);
      const kills = (relay.output().match(/the HSM module process \d+ failed/g) ?? []).length;
      await client?.sign({ uniqueIdentifier: hangKey!, data: Buffer.from("x") }).catch(() => undefined);
      await load;
      await client?.close().catch(() => undefined);
      await relay.waitForOutput(new RegExp(`(?:the HSM module process \\d+ failed[^]*?){${kills + 1}}`));
      await relay.waitForOutput(new RegExp(`(?:is serving again[^]*?){${kills + 1}}`));
      moduleKills++;
    } else {
      // The relay is SIGKILLed; its module process finishes what it runs, then exits.
      const pids = await modulePids();
      relay.process.kill("SIGKILL");
      await load;
      await Promise.all(pids.map(exited));
      await relay.cleanup();
      relayKills++;
      await startRelay();
    }
  }
  assert.ok(moduleKills >= 3 && relayKills >= 3);
  assert.doesNotMatch(relay.output(), /may damage/, "no kill with a write in flight");
  await relay.stop();
  for (const pid of await modulePids()) await exited(pid);

  // Read the tokens directly.
  process.env.SOFTHSM2_CONF = tokens.conf;
  const backend = await openPkcs11Backend({ libPath: SOFTHSM_MODULE_PATH }, pino({ level: "silent" }));
  try {
    for (const label of tokens.labels) {
      const { slotId } = await backend.resolveSlot(label);
      await backend.authenticate(slotId, Buffer.from(tokens.pin));
      const present = new Set(await backend.findKeys(slotId, {}));
      for (const [id, key] of known) {
        if (key.token !== label) continue;
        if (key.destroyed === "yes") assert.ok(!present.has(id), `${id} on ${label} was destroyed`);
        if (key.destroyed !== "no") continue;
        assert.ok(present.has(id), `${id} on ${label} was acknowledged and is lost`);
        const description = await backend.describeKey(slotId, id);
        assert.ok(key.labels.has(description.label ?? ""), `${id}: label ${description.label}, expected one of ${[...key.labels].join(", ")}`);
      }
      for (const [id, token] of bystanders) {
        if (token !== label) continue;
        const description = await backend.describeKey(slotId, id);
        assert.match(description.label ?? "", /^bystander-\d$/);
        assert.ok(description.usage.sign || description.usage.verify);
      }
    }
  } finally {
    await backend.close();
  }
});

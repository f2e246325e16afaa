// Nothing a client was told exists is lost when the module process or the
// relay dies in the middle of a write (doc/object-model.md#crash-safe-creation,
// src/hsm/isolated/supervisor.ts "When a module counts as hung").
//
// Two tokens behind one relay. Each round holds one kind of write -- a login
// (C_Login), a rename (C_SetAttributeValue), a key generation
// (C_GenerateKeyPair) or a destroy (C_DestroyObject) -- inside the module on
// BOTH tokens at once (the faulty module's gate, test/fixtures/faulty-pkcs11:
// the held call has or has not reached SoftHSM, as the round chooses), and
// only then brings the fault:
//   - "relay killed": the relay is SIGKILLed; its module process must finish
//     the held writes and exit by itself, not die with them;
//   - "hung read": a Sign hangs on token A (a read) for longer than
//     call-timeout while the writes are held; the relay must not kill the
//     module until they are answered, and then kills it for the read alone;
//   - "hung write": the writes stay held (after SoftHSM wrote) past
//     write-timeout; the relay kills the module and names in its log what
//     may be affected.
// Every kind meets every fault, so each kill lands inside each kind of
// write, on two tokens, every run. Afterwards the tokens are read directly
// (the in-process backend, through pkcs11js): every key whose creation or
// rename was acknowledged is there with an acknowledged label, every
// acknowledged destroy holds, the bystander keys are unchanged, no creation
// is left pending once a relay came across it, and no half pair remains.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import pino from "pino";
import { KmipClient } from "../../src/client/kmip-client.js";
import { isAlive } from "../../src/cli/daemon.js";
import { openPkcs11Backend } from "../../src/hsm/pkcs11-backend.js";
import { decodeRecord } from "../../src/operations/metadata-record.js";
import { CryptographicAlgorithm } from "../../src/ttlv/enums.js";
import { buildFaultyModule, FaultLabel } from "../helpers/faulty-module.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";
import { name } from "../helpers/relay-client.js";
import { createSoftHsmToken, SOFTHSM_MODULE_PATH, type SoftHsmToken } from "../helpers/softhsm.js";

const CALL_TIMEOUT_S = 0.5;
const WRITE_TIMEOUT_S = 3;
const BYSTANDERS = 2;
/** Keys made up front for the rename and destroy rounds, per token. */
const INITIAL = 8;

// The login comes last: the first round runs on the module process that made the keys above, which is logged in already.
const KINDS = { rename: "C_SetAttributeValue", generate: "C_GenerateKeyPair", destroy: "C_DestroyObject", login: "C_Login" } as const;
type Kind = keyof typeof KINDS;
const FAULTS = ["relay killed", "hung read", "hung write"] as const;

let tokens: SoftHsmToken;
let modulePath: string;
let gateDir: string;
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

async function startRelay(): Promise<void> {
  relay = await startRelayProcess({
    token: tokens,
    modulePath,
    port,
    // Enough threads in the module process for every held call and the hung read at once.
    env: { ...tokens.env, FAULTY_PKCS11_GATE: gateDir, UV_THREADPOOL_SIZE: "16" },
    pkcs11: [`call-timeout = ${CALL_TIMEOUT_S}`, `write-timeout = ${WRITE_TIMEOUT_S}`],
  });
  port = relay.port;
}

async function connect(label: string): Promise<KmipClient> {
  const ca = await readFile(join(relay.dir, "state", "tls", "cert.pem"), "utf8");
  return KmipClient.connect({ host: relay.host, port: relay.port, ca, username: label, password: tokens.pin, timeoutMs: 60_000 });
}

async function createPair(client: KmipClient, label: string): Promise<[string, string]> {
  const created = await client.createKeyPair({
    commonTemplateAttribute: {
      names: [],
      attributes: [
        { name: "Activation Date", value: BigInt(Math.floor(Date.now() / 1000)) },
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
    if (!isAlive(pid)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`process ${pid} did not exit`);
}

/** CK_SLOT_ID -1: the gate could not tell the call's slot (not a call of ours). */
const NO_SLOT = "18446744073709551615";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Holds `fn` in the module (see faulty.c's gate) from now on. */
async function hold(fn: string, position: "before" | "after"): Promise<void> {
  for (const file of await readdir(gateDir)) await rm(join(gateDir, file));
  await writeFile(join(gateDir, "hold"), `${fn} ${position}\n`);
}

async function release(): Promise<void> {
  await rm(join(gateDir, "hold"), { force: true });
}

/** Resolves once calls of `fn` are held in process `pid` on `slots` slots; returns their ids. */
async function held(fn: string, pid: number, slots: number): Promise<string[]> {
  for (let waited = 0; waited < 60_000; waited += 20) {
    const found = new Set(
      (await readdir(gateDir))
        .map((file) => file.split("-"))
        .filter(([marker, f, slot, process]) => marker === "in" && f === fn && process === String(pid) && slot !== NO_SLOT)
        .map(([, , slot]) => slot!),
    );
    if (found.size >= slots) return [...found];
    await sleep(20);
  }
  throw new Error(`${fn} was not held on ${slots} slot(s) in process ${pid}: ${(await readdir(gateDir)).join(", ")}\n${relay.output()}`);
}

/** Counts lines matching `pattern` in the relay's output so far. */
const count = (pattern: RegExp) => (relay.output().match(new RegExp(pattern, "g")) ?? []).length;

/** A live key of `label` not yet used in a round, or undefined. */
function pick(label: string, used: Set<string>): [string, Known] | undefined {
  const entry = [...known.entries()].find(([id, key]) => key.token === label && key.destroyed === "no" && id.endsWith("_priv") && !used.has(id));
  if (entry !== undefined) used.add(entry[0]);
  return entry;
}

/** One token's write of the round's kind on `client`; every outcome is recorded as the client saw it. */
function write(client: KmipClient, label: string, kind: Kind, round: number, used: Set<string>): Promise<unknown> {
  if (kind === "login" || kind === "generate") {
    const keyLabel = `r${round}-${kind}`;
    return createPair(client, keyLabel).then(
      (ids) => ids.forEach((id) => known.set(id, { token: label, labels: new Set([keyLabel]), destroyed: "no" })),
      () => undefined, // Not acknowledged: the relay promised nothing.
    );
  }
  const [id, key] = pick(label, used) ?? assert.fail(`no key left on ${label} for round ${round}`);
  if (kind === "rename") {
    const newLabel = `r${round}-renamed`;
    return client.modifyAttribute({ uniqueIdentifier: id, attribute: name(newLabel) }).then(
      () => (key.labels = new Set([newLabel])),
      () => key.labels.add(newLabel),
    );
  }
  return client.destroy({ uniqueIdentifier: id }).then(
    () => (key.destroyed = "yes"),
    () => (key.destroyed = "maybe"),
  );
}

before(async () => {
  [tokens, modulePath] = await Promise.all([createSoftHsmToken({ tokens: 2, label: "crash" }), buildFaultyModule()]);
  gateDir = await mkdtemp(join(tmpdir(), "kmip2pkcs11-gate-"));
  await startRelay();
  for (const label of tokens.labels) {
    const client = await connect(label);
    for (let i = 0; i < BYSTANDERS; i++) {
      for (const id of await createPair(client, `bystander-${i}`)) bystanders.set(id, label);
    }
    for (let i = 0; i < INITIAL; i++) {
      for (const id of await createPair(client, `initial-${i}`)) known.set(id, { token: label, labels: new Set([`initial-${i}`]), destroyed: "no" });
    }
    await client.close();
  }
});

after(async () => {
  await release().catch(() => undefined);
  await relay?.cleanup();
  await tokens?.cleanup();
  await rm(gateDir, { recursive: true, force: true });
});

test("a kill inside a login, a rename, a key generation and a destroy, on two tokens at once, loses nothing a client was told exists", async (t) => {
  const [tokenA] = tokens.labels;
  const hangClient = await connect(tokenA!);
  const [hangKey] = await createPair(hangClient, FaultLabel.hang);
  await hangClient.close();
  const used = new Set<string>();
  let round = 0;
  for (const fault of FAULTS) {
    for (const kind of Object.keys(KINDS) as Kind[]) {
      round++;
      const fn = KINDS[kind];
      const what = `round ${round}, ${kind} (${fn}), ${fault}`;
      // Every round starts on a new module process (after the previous
      // round's kill), whose first request per token logs in: a login round
      // holds that; the others log in first, then hold their write.
      const clients = await Promise.all(tokens.labels.map((label) => connect(label)));
      if (kind !== "login") await Promise.all(clients.map((client) => client.locate({ attributes: [], maximumItems: 1 })));
      const [pid] = await modulePids();
      await hold(fn, fault === "hung write" ? "after" : "before");
      // C_GenerateKeyPair runs on a thread of its own (pkcs11js's async
      // call): both tokens' are held at once. The other writes run on the
      // module process's main thread: one token's is held and the other
      // token's is queued behind it, sent to the module process but not
      // started (the token held alternates from round to round).
      const async = kind === "generate";
      const first = round % 2;
      const order = async ? [0, 1] : [first, 1 - first];
      const writes: Promise<unknown>[] = [write(clients[order[0]!]!, tokens.labels[order[0]!]!, kind, round, used)];
      if (async) writes.push(write(clients[order[1]!]!, tokens.labels[order[1]!]!, kind, round, used));
      const slots = await held(fn, pid!, async ? 2 : 1);
      if (!async) {
        writes.push(write(clients[order[1]!]!, tokens.labels[order[1]!]!, kind, round, used));
        await sleep(100);
      }
      // A Sign that hangs in C_SignInit on token A: a read, sent last.
      const hang = fault === "hung read" ? clients[0]!.sign({ uniqueIdentifier: hangKey!, data: Buffer.from("x") }).catch(() => undefined) : undefined;
      if (hang !== undefined) await sleep(100);
      if (fault === "relay killed") {
        relay.process.kill("SIGKILL");
        await sleep(300);
        assert.ok(isAlive(pid!), `${what}: the module process died with the relay while writes were held`);
        await release();
        await Promise.all(writes);
        await exited(pid!);
        await relay.cleanup();
        await startRelay();
      } else if (fault === "hung read") {
        const failures = count(/the HSM module process \d+ failed/);
        await sleep(CALL_TIMEOUT_S * 3000);
        assert.ok(isAlive(pid!), `${what}: the module was killed with writes in flight that were not hung`);
        assert.equal(count(/the HSM module process \d+ failed/), failures, what);
        const damages = count(/may damage/);
        await release();
        await Promise.all(writes);
        await hang;
        await relay.waitForOutput(new RegExp(`(?:the HSM module process \\d+ failed[^]*?){${failures + 1}}`), WRITE_TIMEOUT_S * 1000 + 30_000);
        await relay.waitForOutput(new RegExp(`(?:is serving again[^]*?){${failures + 1}}`));
        if (async) {
          // The hung C_SignInit holds the main thread, so the generated
          // pairs' answers cannot leave: after write-timeout the module is
          // killed, and the log says that ids no client got may be affected.
          assert.equal(count(/may damage/), damages + 1, what);
          assert.match(relay.output().split("\n").filter((l) => /may damage/.test(l)).at(-1)!, /its ids were not returned to any client/);
        } else {
          // The held writes were answered before the hung read stopped the
          // module process: it was killed for the read. Only a key pair
          // generation started after the login (C_GenerateKeyPair runs on a
          // thread of its own, its answer needs the main thread) may still
          // have been under way, and no client got its ids.
          const lines = relay.output().split("\n").filter((l) => /may damage/.test(l)).slice(damages);
          for (const line of lines) assert.match(line, /may damage: (?:slot \d+: a key pair being generated \(C_GenerateKeyPair\); its ids were not returned to any client(?:; |\s+modulePid))+/, `${what}: a kill with a write in flight: ${line}`);
        }
      } else {
        const damages = count(/may damage/);
        const failures = count(/the HSM module process \d+ failed/);
        await relay.waitForOutput(new RegExp(`(?:may damage[^]*?){${damages + 1}}`), WRITE_TIMEOUT_S * 1000 + 30_000);
        const line = relay.output().split("\n").filter((l) => /may damage/.test(l)).at(-1)!;
        // The log names what the kill may have affected, on both tokens.
        for (const slot of slots) assert.match(line, new RegExp(`slot ${slot}:`), `${what}: ${line}`);
        if (kind === "login") assert.match(line, /the token's own file \(C_Login\)/);
        if (kind === "generate") assert.match(line, /its ids were not returned to any client/);
        await release();
        await Promise.all(writes);
        await relay.waitForOutput(new RegExp(`(?:is serving again[^]*?){${failures + 1}}`));
      }
      await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
      // No module process of an earlier round is left behind.
      if (fault !== "relay killed") await exited(pid!);
    }
  }

  // A relay that comes across the creations the kills interrupted (their
  // records pending for longer than write-timeout) removes what they left.
  await sleep(WRITE_TIMEOUT_S * 1000 + 1000);
  const located = new Map<string, Set<string>>();
  for (const label of tokens.labels) {
    const client = await connect(label);
    located.set(label, new Set((await client.locate({ attributes: [] })).uniqueIdentifiers));
    await client.close();
  }
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
      // No half pair, on the token or in what Locate reported; no creation left pending.
      for (const id of present) {
        const partner = id.endsWith("_priv") ? id.replace(/_priv$/, "_pub") : id.replace(/_pub$/, "_priv");
        assert.ok(present.has(partner), `${id} on ${label} is half a pair`);
      }
      for (const id of located.get(label)!) assert.ok(present.has(id), `Locate reported ${id} on ${label}, which is not there`);
      for (const record of await backend.readMetadata(slotId)) {
        assert.equal(decodeRecord(record.label, record.value).pendingSince, undefined, `a creation left pending on ${label}: ${record.label}`);
      }
    }
  } finally {
    await backend.close();
  }
  assert.ok(!existsSync(join(gateDir, "hold")));
  const checked = [...known.values()].filter((key) => key.destroyed === "no").length;
  t.diagnostic(`${round} rounds (${FAULTS.length} faults x ${Object.keys(KINDS).length} kinds of write): ${checked} acknowledged key objects and ${bystanders.size} bystanders checked on the tokens, none lost`);
});

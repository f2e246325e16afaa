// The isolated backend against real SoftHSM through the fault-injecting module
// (test/fixtures/faulty-pkcs11): a crash, abort, exit or hang of the module
// fails the calls in flight with MODULE_FAILED, is logged, and the next calls
// succeed on a restarted child; module output is logged, never printed.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash, createPublicKey, verify as verifySignature, type KeyObject } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pino from "pino";
import type { HsmBackend } from "../../src/hsm/backend.js";
import type { SignMechanism } from "../../src/hsm/crypto-types.js";
import { HsmError } from "../../src/hsm/hsm-error.js";
import { openIsolatedBackend, type IsolatedBackendOptions } from "../../src/hsm/isolated/isolated-backend.js";
import { decodeSignResponse, encodeSignRequest } from "../../src/kmip/payloads/sign.js";
import type { OperationContext } from "../../src/operations/operation.js";
import { sign } from "../../src/operations/sign.js";
import { buildFaultyModule, FAULT_EXIT_CODE, FaultLabel, INIT_FAULT_ENV } from "../helpers/faulty-module.js";
import { createSoftHsmToken, pkcs11Tool, type SoftHsmToken } from "../helpers/softhsm.js";

/** CKM_ECDSA (PKCS#11 v2.40 section 2.3.6): signs a digest, returns r || s. */
const ECDSA: SignMechanism = { mechanism: 0x1041 };
const DATA = Buffer.from("kmip2pkcs11 isolation test");
const DIGEST = createHash("sha256").update(DATA).digest();
/** An ECDSA signature of DIGEST (P-256 keys). */
const SIGN_DIGEST = { family: "ECDSA", digest: DIGEST } as const;

interface LogRecord {
  level: number;
  msg: string;
  modulePid?: number;
  [field: string]: unknown;
}

/** A pino logger whose records are kept in `records`. */
function captureLogger(): { logger: pino.Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => records.push(JSON.parse(line) as LogRecord) });
  return { logger, records };
}

/** Resolves with the first record matching `predicate`, polling while the child works. */
async function waitForLog(records: LogRecord[], predicate: (record: LogRecord) => boolean): Promise<LogRecord> {
  for (let waited = 0; waited < 60_000; waited += 20) {
    const found = records.find(predicate);
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error("no such log record within 60 s");
}

function isModuleFailure(pattern: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof HsmError, `expected an HsmError, got ${String(error)}`);
    assert.equal(error.code, "MODULE_FAILED");
    assert.match(error.message, pattern);
    return true;
  };
}

let token: SoftHsmToken;
let faultyModule: string;

before(async () => {
  [token, faultyModule] = await Promise.all([createSoftHsmToken({ label: "isolation" }), buildFaultyModule()]);
});
after(() => token.cleanup());

function options(overrides: Partial<IsolatedBackendOptions> = {}): IsolatedBackendOptions {
  return {
    libPath: faultyModule,
    callTimeoutMs: 30_000,
    env: { SOFTHSM2_CONF: token.conf },
    restartBackoff: { initialMs: 10, maxMs: 1000 },
    ...overrides,
  };
}

/** A backend logged in to the test token, with one normal key and one key per fault label. */
async function openWithKeys(overrides: Partial<IsolatedBackendOptions> = {}) {
  const { logger, records } = captureLogger();
  const backend = await openIsolatedBackend(options(overrides), logger);
  const slotId = (await backend.resolveSlot(token.label)).slotId;
  await backend.authenticate(slotId, Buffer.from(token.pin));
  const generate = async (label?: string) =>
    (await backend.generateKeyPair(slotId, { spec: { keyType: "EC", curve: "P-256" }, privateLabel: label })).privateKeyId;
  const normalKey = await generate();
  return { backend, records, slotId, normalKey, generate };
}

/** node:crypto's form of an EC public key the backend describes. */
async function publicKeyOf(backend: HsmBackend, slotId: string, publicKeyId: string): Promise<KeyObject> {
  const { ecPoint } = await backend.describeKey(slotId, publicKeyId);
  assert.ok(ecPoint instanceof Uint8Array && ecPoint.length === 65);
  const point = Buffer.from(ecPoint);
  return createPublicKey({
    key: { kty: "EC", crv: "P-256", x: point.subarray(1, 33).toString("base64url"), y: point.subarray(33).toString("base64url") },
    format: "jwk",
  });
}

/** The relay's view of recovery: log in again (the new child has no login) and sign. */
async function assertServesAgain(backend: HsmBackend, slotId: string, keyId: string): Promise<void> {
  await backend.authenticate(slotId, Buffer.from(token.pin));
  const { signature } = await backend.sign(slotId, keyId, SIGN_DIGEST);
  assert.equal(signature.length, 64);
}

/** `backend`, recording the name of every method called on it. */
function countingCalls(backend: HsmBackend): { backend: HsmBackend; calls: string[] } {
  const calls: string[] = [];
  const counted = new Proxy(backend, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls.push(String(property));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { backend: counted, calls };
}

describe("isolated backend, the first Sign on a key", () => {
  test("is one call to the module process: the key's facts are learned within it", async () => {
    // The key is made by one module process and signed through a new one, which has never seen it.
    const maker = await openWithKeys();
    const publicKey = await publicKeyOf(maker.backend, maker.slotId, maker.normalKey.replace(/_priv$/, "_pub"));
    await maker.backend.close();
    const { logger } = captureLogger();
    const backend = await openIsolatedBackend(options(), logger);
    try {
      const slot = await backend.resolveSlot(token.label);
      await backend.authenticate(slot.slotId, Buffer.from(token.pin));
      const counted = countingCalls(backend);
      const context: OperationContext = {
        backend: counted.backend,
        slot,
        version: { major: 1, minor: 2 },
        server: { productName: "test", productVersion: "0" },
        logger,
        idPlaceholder: undefined,
      };
      // What Cascade sends: no Cryptographic Parameters, so the key decides the scheme.
      const response = decodeSignResponse(await sign.run(context, encodeSignRequest({ uniqueIdentifier: maker.normalKey, data: DATA })));
      assert.deepEqual(counted.calls, ["sign"], "one backend call, hence one IPC round trip, for the first Sign");
      assert.ok(verifySignature("sha256", DATA, { key: publicKey, dsaEncoding: "der" }, response.signatureData!));
    } finally {
      await backend.close();
    }
  });
});

describe("isolated backend, normal operation", () => {
  test("generate, describe, sign, verify with node:crypto, destroy", async () => {
    const { logger } = captureLogger();
    const backend = await openIsolatedBackend(options(), logger);
    try {
      assert.equal(backend.module.path, faultyModule);
      assert.equal(await backend.ping(), true);
      const slot = await backend.resolveSlot(token.label);
      await backend.authenticate(slot.slotId, Buffer.from(token.pin));
      assert.ok((await backend.mechanisms(slot.slotId)).includes(ECDSA.mechanism));
      assert.equal((await backend.generateRandom(slot.slotId, 32)).length, 32);

      const ids = await backend.generateKeyPair(slot.slotId, {
        spec: { keyType: "EC", curve: "P-256" },
        privateLabel: "isolated-priv",
        publicLabel: "isolated-pub",
      });
      const publicKey = await backend.describeKey(slot.slotId, ids.publicKeyId);
      assert.equal(publicKey.keyType, "EC");
      assert.equal(publicKey.curve, "P-256");
      assert.equal(publicKey.label, "isolated-pub");
      assert.deepEqual(await backend.findKeys(slot.slotId, { label: "isolated-priv" }), [ids.privateKeyId]);

      // Buffers cross the process boundary intact in both directions.
      const { signature } = await backend.sign(slot.slotId, ids.privateKeyId, SIGN_DIGEST);
      const key = await publicKeyOf(backend, slot.slotId, ids.publicKeyId);
      assert.ok(verifySignature("sha256", DATA, { key, dsaEncoding: "ieee-p1363" }, signature));
      assert.equal(await backend.verify(slot.slotId, ids.publicKeyId, ECDSA, DIGEST, signature), true);

      await backend.destroyKey(slot.slotId, ids.privateKeyId);
      await backend.destroyKey(slot.slotId, ids.publicKeyId);
      // HsmErrors thrown in the child arrive with their code.
      await assert.rejects(backend.describeKey(slot.slotId, ids.privateKeyId), (error: unknown) => {
        assert.ok(error instanceof HsmError);
        assert.equal(error.code, "ITEM_NOT_FOUND");
        return true;
      });
    } finally {
      await backend.close();
    }
  });

  test("many concurrent calls, which travel as one message each way, each get their own answer", async () => {
    const { backend, slotId, generate } = await openWithKeys();
    try {
      const privateKeyId = await generate();
      const key = await publicKeyOf(backend, slotId, privateKeyId.replace(/_priv$/, "_pub"));
      const messages = Array.from({ length: 40 }, (_, i) => Buffer.from(`message ${i}`));
      const missing = `${"00".repeat(20)}_priv`;
      const [signatures, notFound] = await Promise.all([
        Promise.all(messages.map((message) => backend.sign(slotId, privateKeyId, { family: "ECDSA", digest: createHash("sha256").update(message).digest() }))),
        backend.describeKey(slotId, missing).then(
          () => "found",
          (error: unknown) => (error instanceof HsmError ? error.code : String(error)),
        ),
      ]);
      messages.forEach((message, i) => {
        assert.ok(verifySignature("sha256", message, { key, dsaEncoding: "ieee-p1363" }, signatures[i]!.signature), `signature ${i} is of message ${i}`);
      });
      assert.equal(notFound, "ITEM_NOT_FOUND", "a failure among them reaches its own caller");
    } finally {
      await backend.close();
    }
  });

  test("close() ends the child; later calls fail at once", async () => {
    const { logger, records } = captureLogger();
    const backend = await openIsolatedBackend(options(), logger);
    await backend.close();
    const pid = records.find((record) => /closed the module/.test(record.msg))?.modulePid;
    assert.ok(pid !== undefined, "the child said it closed the module");
    assert.throws(() => process.kill(pid, 0), { code: "ESRCH" });
    await assert.rejects(backend.listSlots(), isModuleFailure(/closed/));
    assert.equal(await backend.ping(), false);
  });

  test("the child ignores the stop signals a terminal or systemd sends to the whole group", async () => {
    const { logger, records } = captureLogger();
    const backend = await openIsolatedBackend(options(), logger);
    try {
      const pid = records.find((record) => record.modulePid !== undefined)?.modulePid;
      assert.ok(pid !== undefined, "the child's log records carry its pid");
      for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.kill(pid, signal);
      assert.equal(await backend.ping(), true);
      assert.ok(!records.some((record) => record.level >= 50), "no failure logged");
    } finally {
      await backend.close();
    }
  });

  test("a module that cannot be loaded is a startup error with the child's message", async () => {
    const { logger, records } = captureLogger();
    const missing = "/nonexistent/libvendor-pkcs11.so";
    await assert.rejects(openIsolatedBackend(options({ libPath: missing }), logger), (error: Error) => {
      assert.match(error.message, /libvendor-pkcs11\.so/);
      return true;
    });
    assert.ok(!records.some((record) => /restarting/.test(record.msg)), "no restart loop");
  });

  test("a module that crashes in C_Initialize is a startup error", async () => {
    const { logger } = captureLogger();
    const crashing = options({ env: { SOFTHSM2_CONF: token.conf, [INIT_FAULT_ENV]: "segv" } });
    await assert.rejects(openIsolatedBackend(crashing, logger), isModuleFailure(/killed by SIGSEGV while loading/));
  });
});

describe("isolated backend, module faults", () => {
  let backend: HsmBackend;
  let records: LogRecord[];
  let slotId: string;
  let normalKey: string;
  let generate: (label?: string) => Promise<string>;

  before(async () => {
    ({ backend, records, slotId, normalKey, generate } = await openWithKeys());
  });
  after(() => backend.close());

  const crashes = [
    { label: FaultLabel.segv, how: /killed by SIGSEGV during sign \(C_SignInit, C_Sign\)/ },
    { label: FaultLabel.abort, how: /killed by SIGABRT during sign/ },
    { label: FaultLabel.exit, how: new RegExp(`exited with code ${FAULT_EXIT_CODE} during sign`) },
  ];
  for (const { label, how } of crashes) {
    test(`${label}: the call fails with MODULE_FAILED, the log says why, the next calls succeed`, async () => {
      const faultKey = await generate(label);
      records.length = 0;
      await assert.rejects(backend.sign(slotId, faultKey, SIGN_DIGEST), isModuleFailure(how));
      const logged = records.find((record) => record.level === 50 && how.test(record.msg));
      assert.ok(logged, `an error record matching ${how}`);
      assert.match(logged.msg, /1 call in flight failed; restarting it in \d+ ms/);
      // Arrives while the child restarts: waits for it rather than failing.
      await assertServesAgain(backend, slotId, normalKey);
      await waitForLog(records, (record) => /is serving again/.test(record.msg));
    });
  }

  test("concurrent calls in flight during a crash all fail; later ones succeed", async () => {
    const faultKey = await generate(FaultLabel.segv);
    records.length = 0;
    // Several calls on the crashing key: whichever reaches C_SignInit first
    // kills the child while the others are still in flight.
    const results = await Promise.allSettled([
      backend.sign(slotId, faultKey, SIGN_DIGEST),
      backend.sign(slotId, faultKey, SIGN_DIGEST),
      backend.sign(slotId, faultKey, SIGN_DIGEST),
      backend.describeKey(slotId, faultKey),
    ]);
    const failed = results.filter((result) => result.status === "rejected");
    for (const result of failed) isModuleFailure(/killed by SIGSEGV/)(result.reason);
    assert.ok(failed.length >= 3, "every sign call failed");
    const logged = records.find((record) => record.level === 50 && /SIGSEGV/.test(record.msg));
    assert.equal(logged?.callsFailed, failed.length);
    await Promise.all([assertServesAgain(backend, slotId, normalKey), assertServesAgain(backend, slotId, normalKey)]);
  });

  test("module stdout and stderr are logged line by line with a prefix; long lines are cut", async () => {
    const chatty = await generate(FaultLabel.stdout);
    records.length = 0;
    assert.equal((await backend.sign(slotId, chatty, SIGN_DIGEST)).signature.length, 64);
    const stdout = await waitForLog(records, (record) => record.msg === "module stdout: faulty-pkcs11: a line on stdout");
    assert.equal(stdout.level, 30);
    const stderr = await waitForLog(records, (record) => record.msg === "module stderr: faulty-pkcs11: a line on stderr");
    assert.equal(stderr.level, 40);
    const long = await waitForLog(records, (record) => record.msg.startsWith("module stdout: xxx"));
    assert.match(long.msg, /^module stdout: x{1000} \[truncated: 19000 more characters\]$/);
  });

  test("a flood of module output is rate-limited and the dropped lines are counted", async () => {
    const flooding = await generate(FaultLabel.flood);
    records.length = 0;
    await backend.sign(slotId, flooding, SIGN_DIGEST);
    const floodLines = () => records.filter((record) => record.msg.startsWith("module stdout: faulty-pkcs11: flood line")).length;
    const droppedLines = () =>
      records
        .map((record) => /^module stdout: (\d+) lines dropped/.exec(record.msg))
        .reduce((sum, match) => sum + (match === null ? 0 : Number(match[1])), 0);
    // The count of dropped lines is reported at the end of each one-second window.
    await waitForLog(records, () => floodLines() + droppedLines() === 5000);
    assert.ok(droppedLines() > 0);
  });

  test("module output never reaches the relay's own stdout", async () => {
    // A separate relay process with the isolated backend logging to stderr:
    // its stdout must stay empty while the module prints.
    const backendUrl = new URL("../../src/hsm/isolated/isolated-backend.js", import.meta.url).href;
    const script = `
      import pino from "pino";
      import { openIsolatedBackend } from ${JSON.stringify(backendUrl)};
      const backend = await openIsolatedBackend(JSON.parse(process.env.TEST_OPTIONS), pino(pino.destination(2)));
      const slot = await backend.resolveSlot(process.env.TEST_LABEL);
      await backend.authenticate(slot.slotId, Buffer.from(process.env.TEST_PIN));
      const ids = await backend.generateKeyPair(slot.slotId, { spec: { keyType: "EC", curve: "P-256" }, privateLabel: "fault:stdout" });
      await backend.sign(slot.slotId, ids.privateKeyId, { family: "ECDSA", digest: new Uint8Array(32) });
      await backend.close();
    `;
    const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], {
      cwd: repoRoot,
      env: { ...process.env, TEST_OPTIONS: JSON.stringify(options()), TEST_LABEL: token.label, TEST_PIN: token.pin },
    });
    assert.equal(stdout, "");
    assert.match(stderr, /module stdout: faulty-pkcs11: a line on stdout/);
  });
});

describe("isolated backend, credentials answered on the relay side", () => {
  /** How often the child logged the token in so far. */
  const logins = (records: LogRecord[]) => records.filter((record) => /: token logged in$/.test(record.msg)).length;
  const modulePid = (records: LogRecord[]) => records.findLast((record) => record.modulePid !== undefined)?.modulePid;
  const refused = (error: unknown) => {
    assert.ok(error instanceof HsmError, `expected an HsmError, got ${String(error)}`);
    assert.equal(error.code, "AUTH_FAILED");
    return true;
  };

  test("an accepted PIN is answered without the module process; a wrong one after it is refused by the child", async () => {
    const { backend, records, slotId } = await openWithKeys();
    try {
      const pid = modulePid(records)!;
      // A stopped child answers nothing: what resolves now was answered here.
      process.kill(pid, "SIGSTOP");
      try {
        const answeredHere = backend.authenticate(slotId, Buffer.from(token.pin)).then(() => true);
        // A guard against hanging, not a timing assertion: the answer needs no other process.
        const unanswered = new Promise<boolean>((resolve) => setTimeout(resolve, 10_000, false).unref());
        assert.ok(await Promise.race([answeredHere, unanswered]), "authenticate was answered while the child was stopped");
      } finally {
        process.kill(pid, "SIGCONT");
      }
      await assert.rejects(backend.authenticate(slotId, Buffer.from(`${token.pin}0`)), refused);
      await assert.rejects(backend.authenticate(slotId, Buffer.from("")), refused);
      assert.ok(
        records.some((record) => /PIN differs from the one that logged the token in/.test(record.msg)),
        "the child compared the wrong PIN",
      );
      await backend.authenticate(slotId, Buffer.from(token.pin));
      await assert.rejects(backend.authenticate(slotId, Buffer.from(token.pin.slice(0, -1))), refused);
      assert.equal(logins(records), 1, "one C_Login in all");
    } finally {
      await backend.close();
    }
  });

  test("after the module process restarts, the first request logs in again and a wrong PIN is refused", async () => {
    const { backend, records, slotId, normalKey, generate } = await openWithKeys();
    try {
      const crashing = await generate(FaultLabel.segv);
      await backend.authenticate(slotId, Buffer.from(token.pin));
      assert.equal(logins(records), 1);
      await assert.rejects(backend.sign(slotId, crashing, SIGN_DIGEST), isModuleFailure(/SIGSEGV/));
      await assert.rejects(backend.authenticate(slotId, Buffer.from(`${token.pin}0`)), refused);
      await backend.authenticate(slotId, Buffer.from(token.pin));
      assert.equal(logins(records), 2, "the new child logged the token in");
      assert.equal((await backend.sign(slotId, normalKey, SIGN_DIGEST)).signature.length, 64);
    } finally {
      await backend.close();
    }
  });
});

describe("isolated backend, a hanging module", () => {
  test("a read with no answer for callTimeoutMs kills the child; the next calls succeed", async () => {
    const { backend, records, slotId, normalKey, generate } = await openWithKeys({ callTimeoutMs: 2000 });
    try {
      const hangingKey = await generate(FaultLabel.hang);
      await assert.rejects(
        backend.sign(slotId, hangingKey, SIGN_DIGEST),
        isModuleFailure(/timeout: no answer for \d+ ms with a call in flight, the oldest sign \(C_SignInit, C_Sign\) after \d+ ms \(limit 2000 ms\)/),
      );
      assert.ok(records.some((record) => record.level === 50 && /timeout: .* sign/.test(record.msg)));
      // The short timeout also bounds waiting for the restart: let it finish first.
      await waitForLog(records, (record) => /is serving again/.test(record.msg));
      await assertServesAgain(backend, slotId, normalKey);
    } finally {
      await backend.close();
    }
  });
});

describe("isolated backend, writes and queues", () => {
  const killed = (records: LogRecord[]) => records.some((record) => /failed: .*restarting it/.test(record.msg));

  test("a write slower than callTimeoutMs, and the calls queued behind it, are not killed", async () => {
    const { backend, records, slotId, normalKey, generate } = await openWithKeys({ callTimeoutMs: 1000, writeTimeoutMs: 60_000 });
    try {
      const key = await generate("slow write target");
      // C_SetAttributeValue sleeps 3 s in the module, on the child's event loop: nothing else is answered meanwhile.
      const write = backend.updateKey(slotId, key, { label: FaultLabel.slow });
      const reads = Array.from({ length: 4 }, () => backend.sign(slotId, normalKey, SIGN_DIGEST));
      await write;
      for (const signature of await Promise.all(reads)) assert.equal(signature.signature.length, 64);
      assert.equal((await backend.describeKey(slotId, key)).label, FaultLabel.slow);
      assert.ok(!killed(records), "the module process was not killed");
    } finally {
      await backend.close();
    }
  });

  test("a write that hangs past writeTimeoutMs is killed, and the log names the key it may have damaged", async () => {
    const { backend, records, slotId, normalKey, generate } = await openWithKeys({ callTimeoutMs: 500, writeTimeoutMs: 2000 });
    try {
      const key = await generate("hung write target");
      await assert.rejects(backend.updateKey(slotId, key, { label: FaultLabel.hang }), isModuleFailure(/no answer for \d+ ms with a write in flight.*limit 2000 ms/));
      const named = records.find((record) => record.level === 50 && /killing it may damage/.test(record.msg));
      assert.ok(named !== undefined, "the kill was announced");
      assert.match(named.msg, new RegExp(`slot ${slotId}: key ${key} \\(C_SetAttributeValue\\)`));
      await waitForLog(records, (record) => /is serving again/.test(record.msg));
      await assertServesAgain(backend, slotId, normalKey);
    } finally {
      await backend.close();
    }
  });

  test("calls beyond a slot's queue bounds fail at once with BUSY; the others complete", async () => {
    const { backend, slotId, normalKey, generate } = await openWithKeys({ maxQueuedCalls: 3, maxQueuedWrites: 1 });
    try {
      const slowKey = await generate(FaultLabel.slow);
      const busy = (error: unknown) => {
        assert.ok(error instanceof HsmError && error.code === "BUSY", `expected BUSY, got ${String(error)}`);
        assert.match(error.message, new RegExp(`queued for slot ${slotId}`));
        return true;
      };
      const write = backend.updateKey(slotId, normalKey, { label: "renamed" });
      await assert.rejects(backend.updateKey(slotId, normalKey, { label: "renamed again" }), busy);
      const reads = [backend.sign(slotId, slowKey, SIGN_DIGEST), backend.sign(slotId, slowKey, SIGN_DIGEST)];
      await assert.rejects(backend.sign(slotId, slowKey, SIGN_DIGEST), busy);
      await write;
      await Promise.all(reads);
      // Answered calls no longer count.
      assert.equal((await backend.sign(slotId, slowKey, SIGN_DIGEST)).signature.length, 64);
    } finally {
      await backend.close();
    }
  });
});

describe("isolated backend, a PIN changed on the token", () => {
  const refused = (error: unknown) => {
    assert.ok(error instanceof HsmError && error.code === "AUTH_FAILED", `expected AUTH_FAILED, got ${String(error)}`);
    return true;
  };

  test("after pkcs11-tool --change-pin the new PIN works and the old one stops, without a restart", async () => {
    const own = await createSoftHsmToken({ label: "pin-change", pin: "old-pin-1" });
    const { logger, records } = captureLogger();
    const backend = await openIsolatedBackend(options({ env: { SOFTHSM2_CONF: own.conf }, pinRecheckMs: 0 }), logger);
    try {
      const { slotId } = await backend.resolveSlot(own.label);
      await backend.authenticate(slotId, Buffer.from("old-pin-1"));
      const { privateKeyId } = await backend.generateKeyPair(slotId, { spec: { keyType: "EC", curve: "P-256" } });
      await pkcs11Tool(own, ["--token-label", own.label, "--login", "--pin", "old-pin-1", "--change-pin", "--new-pin", "new-pin-2"]);

      // The old PIN, accepted by its digest once more, is checked again in the background and then refused.
      await backend.authenticate(slotId, Buffer.from("old-pin-1"));
      await waitForLog(records, (record) => /no longer accepts the PIN it was logged in with/.test(record.msg));
      await assert.rejects(backend.authenticate(slotId, Buffer.from("old-pin-1")), refused);
      await assert.rejects(backend.authenticate(slotId, Buffer.from("wrong-pin")), refused);

      await backend.authenticate(slotId, Buffer.from("new-pin-2"));
      assert.equal((await backend.sign(slotId, privateKeyId, SIGN_DIGEST)).signature.length, 64);
      await assert.rejects(backend.authenticate(slotId, Buffer.from("old-pin-1")), refused);
      await backend.authenticate(slotId, Buffer.from("new-pin-2"));

      // Changed again while logged in with the new one: the next one is taken when presented.
      await pkcs11Tool(own, ["--token-label", own.label, "--login", "--pin", "new-pin-2", "--change-pin", "--new-pin", "third-pin-3"]);
      await backend.authenticate(slotId, Buffer.from("third-pin-3"));
      assert.equal((await backend.sign(slotId, privateKeyId, SIGN_DIGEST)).signature.length, 64);
    } finally {
      await backend.close();
      await own.cleanup();
    }
  });
});

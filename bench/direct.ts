// The baseline: the same signatures made directly with pkcs11js, in a process
// of its own, on the same token and keys the relay uses. Per signature it does
// what the relay's HSM work is and nothing else: prepare what the mechanism
// signs from the Data (SHA-256, DigestInfo for RSA, the message for Ed25519),
// then C_SignInit + C_Sign on a session of its own.
//
// A scenario has the relay scenario's shape: `connections` loops, each making
// a "request" of `batch` signatures and starting the next when it is done.
// pkcs11js offers C_Sign in two forms, and which is faster depends on the key
// and the concurrency (see src/hsm/sign.ts): synchronous (on this thread,
// one at a time) and asynchronous (libuv's thread pool, several at once). The
// scenario runs each for half the window, and the faster one is the baseline.
import { createHash, randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import { ALGORITHMS, DATA_LENGTH, DISTINCT_MESSAGES, Window, type Algorithm, type DirectResult, type Scenario } from "./common.js";
import { serveMethods } from "./worker.js";

export interface OpenArgs {
  readonly modulePath: string;
  readonly tokenLabel: string;
  readonly pin: string;
}

export interface DirectRunArgs {
  readonly scenario: Scenario;
  /** The relay's Unique Identifier of the private key: hex CKA_ID + "_priv". */
  readonly keyId: string;
  readonly warmupMs: number;
  /** Split evenly between the synchronous and the asynchronous form. */
  readonly measureMs: number;
}

/** Sessions the relay opens per slot by default (pkcs11.max-sessions); the direct path uses as many. */
const MAX_SESSIONS = 16;
/** Room for any signature of these keys (RSA-2048: 256 bytes). */
const SIGNATURE_BUFFER = 512;
/** DER of DigestInfo for SHA-256 up to the digest (RFC 8017 section 9.2, note 1). */
const SHA256_DIGEST_INFO = Buffer.from("3031300d060960864801650304020105000420", "hex");

let p: pkcs11js.PKCS11 | undefined;
let slot: pkcs11js.Handle;
const sessions: pkcs11js.Handle[] = [];

function pkcs11(): pkcs11js.PKCS11 {
  if (p === undefined) throw new Error("open first");
  return p;
}

async function open(args: OpenArgs): Promise<void> {
  p = new pkcs11js.PKCS11();
  p.load(args.modulePath);
  // As the relay does: the module may be called from libuv's threads.
  p.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  const found = p.C_GetSlotList(true).find((s) => pkcs11().C_GetTokenInfo(s).label.trimEnd() === args.tokenLabel);
  if (found === undefined) throw new Error(`no token labelled ${args.tokenLabel}`);
  slot = found;
  for (let i = 0; i < MAX_SESSIONS; i++) sessions.push(p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION));
  p.C_Login(sessions[0]!, pkcs11js.CKU_USER, args.pin);
}

function findPrivateKey(keyId: string): pkcs11js.Handle {
  const session = sessions[0]!;
  const ckaId = Buffer.from(keyId.replace(/_priv$/, ""), "hex");
  pkcs11().C_FindObjectsInit(session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    { type: pkcs11js.CKA_ID, value: ckaId },
  ]);
  const handles = pkcs11().C_FindObjects(session, 2);
  pkcs11().C_FindObjectsFinal(session);
  if (handles.length !== 1) throw new Error(`${handles.length} private keys have the CKA_ID of ${keyId}`);
  return handles[0]!;
}

/** What the mechanism signs, as the relay prepares it (docs/compat.md "Sign"). */
function toBeSigned(algorithm: Algorithm, data: Buffer): Buffer {
  switch (algorithm.prepare) {
    case "message":
      return data;
    case "sha256":
      return createHash("sha256").update(data).digest();
    case "sha256-digest-info":
      return Buffer.concat([SHA256_DIGEST_INFO, createHash("sha256").update(data).digest()]);
  }
}

/** Sessions free for an asynchronous C_Sign, and callers waiting for one (first come, first served). */
class SessionQueue {
  private readonly idle: pkcs11js.Handle[];
  private readonly waiting: ((session: pkcs11js.Handle) => void)[] = [];

  constructor(count: number) {
    this.idle = sessions.slice(0, count);
  }

  acquire(): Promise<pkcs11js.Handle> {
    const session = this.idle.pop();
    return session !== undefined ? Promise.resolve(session) : new Promise((resolve) => this.waiting.push(resolve));
  }

  release(session: pkcs11js.Handle): void {
    const next = this.waiting.shift();
    if (next !== undefined) next(session);
    else this.idle.push(session);
  }
}

async function measure(args: DirectRunArgs, mode: "sync" | "async", measureMs: number) {
  const { scenario } = args;
  const algorithm = ALGORITHMS[scenario.algorithm];
  const key = findPrivateKey(args.keyId);
  const mechanism = { mechanism: algorithm.mechanism };
  const messages = Array.from({ length: DISTINCT_MESSAGES }, () => randomBytes(DATA_LENGTH));
  const p = pkcs11();
  const window = new Window(undefined, args.warmupMs, measureMs);

  const signSync = (session: pkcs11js.Handle, data: Buffer, output: Buffer) => {
    p.C_SignInit(session, mechanism, key);
    return p.C_Sign(session, toBeSigned(algorithm, data), output);
  };
  const queue = new SessionQueue(Math.min(MAX_SESSIONS, scenario.connections * scenario.batch));
  const signAsync = async (data: Buffer) => {
    const session = await queue.acquire();
    // pkcs11js hands raw pointers to the worker thread: both Buffers stay referenced until the call returns.
    const input = toBeSigned(algorithm, data);
    const output = Buffer.allocUnsafe(SIGNATURE_BUFFER);
    try {
      p.C_SignInit(session, mechanism, key);
      const signature = await p.C_SignAsync(session, input, output);
      return signature.length + input.length + output.length;
    } finally {
      queue.release(session);
    }
  };

  const loop = async (index: number) => {
    const session = sessions[index % MAX_SESSIONS]!;
    const output = Buffer.allocUnsafe(SIGNATURE_BUFFER);
    for (let i = index; !window.stopped; i++) {
      const started = process.hrtime.bigint();
      if (mode === "sync") {
        for (let k = 0; k < scenario.batch; k++) signSync(session, messages[(i + k) % messages.length]!, output);
      } else {
        await Promise.all(Array.from({ length: scenario.batch }, (_, k) => signAsync(messages[(i + k) % messages.length]!)));
      }
      window.record(started, scenario.batch);
      // Let the other loops and the window's timers run, as a server's event loop would.
      if (mode === "sync") await new Promise((resolve) => setImmediate(resolve));
    }
  };
  await Promise.all([window.done, ...Array.from({ length: scenario.connections }, (_, i) => loop(i))]);
  const result = window.result();
  return { ...window.summary(), cpuPerSignUs: (result.cpu.client * 1e6) / window.items };
}

async function run(args: DirectRunArgs): Promise<DirectResult> {
  const half = Math.max(1, Math.round(args.measureMs / 2));
  const sync = await measure(args, "sync", half);
  const async = await measure(args, "async", half);
  const [best, other, mode] = sync.opsPerSecond >= async.opsPerSecond ? [sync, async, "sync" as const] : [async, sync, "async" as const];
  return { ...best, mode, otherOpsPerSecond: other.opsPerSecond };
}

async function close(): Promise<void> {
  if (p === undefined) return;
  for (const session of sessions.splice(0)) p.C_CloseSession(session);
  p.C_Finalize();
  p = undefined;
}

export const directMethods = { open, run, close };
export type DirectMethods = typeof directMethods;

serveMethods(directMethods);

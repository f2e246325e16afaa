// The signature work of the baseline (direct.ts) and of the floor server
// (floor.ts), which must be the same: per signature, what the relay's HSM
// work is and nothing else. Prepare what the mechanism signs from the Data
// (SHA-256, DigestInfo for RSA, the message for Ed25519), then C_SignInit +
// C_Sign on a session of this process's own.
//
// pkcs11js offers C_Sign in two forms, and which is faster depends on the key
// and the concurrency (see src/hsm/sign.ts): synchronous (on this thread,
// one at a time) and asynchronous (libuv's thread pool, several at once).
import { createHash, randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import { ALGORITHMS, DATA_LENGTH, DISTINCT_MESSAGES, type Algorithm, type AlgorithmName } from "./common.js";

export interface OpenArgs {
  readonly modulePath: string;
  readonly tokenLabel: string;
  readonly pin: string;
}

export type SignForm = "sync" | "async";

/** Sessions the relay opens per slot by default (pkcs11.max-sessions); the direct path uses as many. */
export const MAX_SESSIONS = 16;
/** Room for any signature of these keys (RSA-2048: 256 bytes). */
const SIGNATURE_BUFFER = 512;
/** DER of DigestInfo for SHA-256 up to the digest (RFC 8017 section 9.2, note 1). */
const SHA256_DIGEST_INFO = Buffer.from("3031300d060960864801650304020105000420", "hex");

let p: pkcs11js.PKCS11 | undefined;
const sessions: pkcs11js.Handle[] = [];

function pkcs11(): pkcs11js.PKCS11 {
  if (p === undefined) throw new Error("open first");
  return p;
}

/** Loads the module, opens MAX_SESSIONS sessions on the token and logs in. */
export function openToken(args: OpenArgs): void {
  p = new pkcs11js.PKCS11();
  p.load(args.modulePath);
  // As the relay does: the module may be called from libuv's threads.
  p.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  const slot = p.C_GetSlotList(true).find((s) => pkcs11().C_GetTokenInfo(s).label.trimEnd() === args.tokenLabel);
  if (slot === undefined) throw new Error(`no token labelled ${args.tokenLabel}`);
  for (let i = 0; i < MAX_SESSIONS; i++) sessions.push(p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION));
  p.C_Login(sessions[0]!, pkcs11js.CKU_USER, args.pin);
}

export function closeToken(): void {
  if (p === undefined) return;
  for (const session of sessions.splice(0)) p.C_CloseSession(session);
  p.C_Finalize();
  p = undefined;
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

/** What the mechanism signs, as the relay prepares it (doc/compatibility.md#sign). */
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

/** The Data signed: DISTINCT_MESSAGES random messages of DATA_LENGTH bytes, as the load generator sends. */
export function dataToSign(): Buffer[] {
  return Array.from({ length: DISTINCT_MESSAGES }, () => randomBytes(DATA_LENGTH));
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

export interface Signer {
  /** Signs each of `batch` in the synchronous form on `session`, one after another. */
  signSync(session: pkcs11js.Handle, batch: readonly Buffer[]): void;
  /** Signs all of `batch` at once in the asynchronous form, each on a session from the shared queue. */
  signAsync(batch: readonly Buffer[]): Promise<void>;
}

/** `concurrency`: signatures in flight at most in the asynchronous form (bounded by MAX_SESSIONS). */
export function signer(algorithmName: AlgorithmName, keyId: string, concurrency: number): Signer {
  const algorithm = ALGORITHMS[algorithmName];
  const key = findPrivateKey(keyId);
  const mechanism = { mechanism: algorithm.mechanism };
  const p = pkcs11();
  const output = Buffer.allocUnsafe(SIGNATURE_BUFFER);
  const queue = new SessionQueue(Math.min(MAX_SESSIONS, concurrency));
  const signOneAsync = async (data: Buffer) => {
    const session = await queue.acquire();
    // pkcs11js hands raw pointers to the worker thread: both Buffers stay referenced until the call returns.
    const input = toBeSigned(algorithm, data);
    const out = Buffer.allocUnsafe(SIGNATURE_BUFFER);
    try {
      p.C_SignInit(session, mechanism, key);
      const signature = await p.C_SignAsync(session, input, out);
      return signature.length + input.length + out.length;
    } finally {
      queue.release(session);
    }
  };
  return {
    signSync(session, batch) {
      for (const data of batch) {
        p.C_SignInit(session, mechanism, key);
        p.C_Sign(session, toBeSigned(algorithm, data), output);
      }
    },
    async signAsync(batch) {
      await Promise.all(batch.map(signOneAsync));
    },
  };
}

/** The sessions of the synchronous form: loop `index` uses its own. */
export function sessionFor(index: number): pkcs11js.Handle {
  return sessions[index % MAX_SESSIONS]!;
}

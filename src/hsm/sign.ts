// C_SignInit + C_Sign and C_VerifyInit + C_Verify on one borrowed session.
//
// P-256 keys sign synchronously on the event loop, every other key on libuv's
// thread pool: a P-256 signature takes tens of microseconds, for which the
// asynchronous form costs 15-20 % more CPU, while every other key takes long
// enough to delay other connections (measured in
// bench/README.md#synchronous-or-asynchronous-c_sign). C_SignInit and
// C_VerifyInit have no asynchronous form in pkcs11js; they do no cryptography.
import pkcs11js from "pkcs11js";
import type { SignMechanism } from "./crypto-types.js";
import { HsmError } from "./hsm-error.js";
import { p11, p11Async } from "./ckr.js";
import { CKM_RSA_PKCS_PSS } from "./mechanisms.js";
import type { KeyObject } from "./objects.js";
import type { Session } from "./session-pool.js";

/**
 * Room for any signature: RSA up to 16384-bit moduli. A smaller signature
 * is cut from it; too small a buffer would leave the operation active.
 */
const SIGNATURE_BUFFER = 2048;

/**
 * Buffers an asynchronous C_Sign / C_Verify is using. pkcs11js hands raw
 * pointers to the worker thread without keeping the Buffers alive, so they
 * are held here until the call completes.
 */
const inFlight = new Set<readonly Buffer[]>();

export async function pinned<T>(buffers: readonly Buffer[], call: () => Promise<T>): Promise<T> {
  inFlight.add(buffers);
  try {
    return await call();
  } finally {
    inFlight.delete(buffers);
  }
}

export function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The pkcs11js form of a SignMechanism (CK_RSA_PKCS_PSS_PARAMS for PSS). */
export function toPkcs11Mechanism(mechanism: SignMechanism): pkcs11js.Mechanism {
  if (mechanism.pss === undefined) {
    if (mechanism.mechanism === CKM_RSA_PKCS_PSS) throw new HsmError("INVALID_ARGUMENT", "CKM_RSA_PKCS_PSS needs CK_RSA_PKCS_PSS_PARAMS");
    return { mechanism: mechanism.mechanism };
  }
  const { hashAlg, mgf, saltLength } = mechanism.pss;
  const parameter: pkcs11js.RsaPSS = { type: pkcs11js.CK_PARAMS_RSA_PSS, hashAlg, mgf, saltLen: saltLength };
  return { mechanism: mechanism.mechanism, parameter };
}

/** P-256 keys sign on the event loop (see the top of this file). `key.facts` are known. */
function signsOnLoop(key: KeyObject): boolean {
  return key.facts?.keyType === "EC" && key.facts.curve === "P-256";
}

export async function signData(p: pkcs11js.PKCS11, session: Session, key: KeyObject, mechanism: pkcs11js.Mechanism, data: Buffer): Promise<Buffer> {
  const onLoop = signsOnLoop(key);
  p11("C_SignInit", () => p.C_SignInit(session, mechanism, key.handle));
  const output = Buffer.allocUnsafe(SIGNATURE_BUFFER);
  const signature = onLoop
    ? p11("C_Sign", () => p.C_Sign(session, data, output))
    : await pinned([data, output], () => p11Async("C_Sign", () => p.C_SignAsync(session, data, output)));
  // A copy, so that the caller does not keep the whole output buffer alive.
  return Buffer.from(signature);
}

/** PKCS#11 v2.40 section 5.13, C_Verify: these two mean "does not verify". */
const NOT_VERIFIED: ReadonlySet<string> = new Set(["CKR_SIGNATURE_INVALID", "CKR_SIGNATURE_LEN_RANGE"]);

export async function verifyData(
  p: pkcs11js.PKCS11,
  session: Session,
  key: KeyObject,
  mechanism: pkcs11js.Mechanism,
  data: Buffer,
  signature: Buffer,
): Promise<boolean> {
  p11("C_VerifyInit", () => p.C_VerifyInit(session, mechanism, key.handle));
  try {
    return await pinned([data, signature], () => p11Async("C_Verify", () => p.C_VerifyAsync(session, data, signature)));
  } catch (err) {
    if (err instanceof HsmError && err.ckr !== undefined && NOT_VERIFIED.has(err.ckr)) return false;
    throw err;
  }
}

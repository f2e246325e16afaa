// A call the isolated backend's supervisor (supervisor.ts) has sent to the
// module process and not yet seen answered, and how its log lines name one:
// the PKCS#11 functions it drives, and what a write may have damaged when
// the module is killed with it in flight.
import { performance } from "node:perf_hooks";
import type { BackendMethod } from "./protocol.js";

export interface PendingCall {
  resolve(value: unknown): void;
  reject(error: Error): void;
  readonly method: BackendMethod;
  readonly args: unknown[];
  /** performance.now() when the call was sent to the child. */
  readonly startedAt: number;
  readonly write: boolean;
  /** For a write: the module process said it started it (supervisor.ts, "When a module counts as hung"). */
  started: boolean;
  /** The slot the call is about; undefined for listSlots, resolveSlot and ping. */
  readonly slotId: string | undefined;
  /** Runs when the call succeeds, in the order the child answered, before the caller resumes. */
  readonly onSuccess: ((value: unknown) => void) | undefined;
}

/** The PKCS#11 functions each method drives, to say where a failure happened. */
const PKCS11_FUNCTIONS: Record<BackendMethod, string> = {
  listSlots: "C_GetSlotList, C_GetSlotInfo, C_GetTokenInfo",
  resolveSlot: "C_GetSlotList, C_GetSlotInfo, C_GetTokenInfo",
  authenticate: "C_OpenSession, C_Login",
  adoptPin: "C_OpenSession, C_Login",
  mechanisms: "C_GetMechanismList",
  generateKeyPair: "C_GenerateKeyPair",
  importKey: "C_FindObjects, C_CreateObject",
  generateSecretKey: "C_GenerateKey",
  readSecretValue: "C_GetAttributeValue",
  wrapKey: "C_WrapKey",
  encrypt: "C_EncryptInit, C_Encrypt",
  decrypt: "C_DecryptInit, C_Decrypt",
  mac: "C_SignInit, C_Sign",
  macVerify: "C_VerifyInit, C_Verify",
  describeKey: "C_FindObjects, C_GetAttributeValue",
  digestSecretKey: "C_DigestInit, C_DigestKey, C_DigestFinal",
  findKeys: "C_FindObjects, C_GetAttributeValue",
  describeKeys: "C_FindObjects, C_GetAttributeValue",
  updateKey: "C_SetAttributeValue",
  destroyKey: "C_DestroyObject",
  readMetadata: "C_FindObjects, C_GetAttributeValue",
  writeMetadata: "C_FindObjects, C_CreateObject or C_SetAttributeValue",
  destroyMetadata: "C_FindObjects, C_DestroyObject",
  sign: "C_SignInit, C_Sign",
  verify: "C_VerifyInit, C_Verify",
  generateRandom: "C_GenerateRandom",
  seedRandom: "C_SeedRandom",
  startCipherStream: "C_EncryptInit (C_DecryptInit), C_EncryptUpdate",
  startMacStream: "C_SignInit (C_VerifyInit), C_SignUpdate",
  continueCipherStream: "C_EncryptUpdate (C_DecryptUpdate, C_SignUpdate, ...), C_EncryptFinal",
  endCipherStream: "C_EncryptFinal (C_DecryptFinal)",
  ping: "C_GetInfo",
};

export function describeCall(call: PendingCall): string {
  return `${call.method} (${PKCS11_FUNCTIONS[call.method]}) after ${Math.round(performance.now() - call.startedAt)} ms`;
}

/** What a write in flight may have left damaged, for the log line before a kill. */
export function describeWrite(call: PendingCall): string {
  const slot = `slot ${call.slotId}`;
  switch (call.method) {
    case "authenticate":
      return `${slot}: the token's own file (C_Login)`;
    case "generateKeyPair":
      return `${slot}: a key pair being generated (C_GenerateKeyPair); its ids were not returned to any client`;
    case "importKey":
      return `${slot}: a key being registered (C_CreateObject); its id was not returned to any client`;
    case "generateSecretKey":
      return `${slot}: a secret key being generated (C_GenerateKey); its id was not returned to any client`;
    case "updateKey":
      return `${slot}: key ${String(call.args[1])} (C_SetAttributeValue)`;
    case "destroyKey":
      return `${slot}: key ${String(call.args[1])} (C_DestroyObject)`;
    case "writeMetadata":
      return `${slot}: the metadata object of CKA_ID ${String(call.args[1])} (C_CreateObject or C_SetAttributeValue)`;
    case "destroyMetadata":
      return `${slot}: the metadata object of CKA_ID ${String(call.args[1])} (C_DestroyObject)`;
    default:
      return `${slot}: ${call.method}`;
  }
}

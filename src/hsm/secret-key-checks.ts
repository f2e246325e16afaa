// What the in-process backend (pkcs11-backend.ts) checks of a key before the
// token uses it with a secret-key mechanism (or RSA-OAEP): its type against
// the mechanism, the reason to give when the token refuses the mechanism,
// and whether its value may leave the HSM (the relay's export policy).
import pkcs11js from "pkcs11js";
import { readAttributes, readKeyFacts } from "./attributes.js";
import { checkKeyType, forKeyType, parseAllowedMechanisms } from "./cipher.js";
import { p11 } from "./ckr.js";
import type { CipherRequest, SecretMechanism } from "./crypto-types.js";
import { HsmError } from "./hsm-error.js";
import type { KeyFacts } from "./key-types.js";
import type { KeyObject } from "./objects.js";
import type { AttributeQuirks } from "./quirks.js";
import type { Session } from "./session-pool.js";

/** Checks the key for an Encrypt or Decrypt; returns how to make an IV on the session, and the request for the key's cipher (forKeyType). */
export function prepareCipher(p: pkcs11js.PKCS11, quirks: AttributeQuirks, session: Session, key: KeyObject, keyId: string, asked: CipherRequest, decrypting: boolean): [(length: number) => Buffer, CipherRequest] {
  key.facts ??= readKeyFacts(p, session, key.handle, key.objectClass, quirks);
  const request = forKeyType(asked, key.facts.keyType);
  const facts = checkSecret(p, quirks, session, key, keyId, request.mechanism);
  if (facts.objectClass !== "secret" && facts.objectClass !== (decrypting ? "private" : "public")) {
    throw new HsmError("INVALID_ARGUMENT", `${keyId} is a ${facts.objectClass} key; RSA-OAEP ${decrypting ? "decrypts with the private" : "encrypts with the public"} key`);
  }
  const random = (length: number): Buffer => {
    if (!Number.isInteger(length) || length < 1 || length > 128) throw new HsmError("INVALID_ARGUMENT", `IV length ${length} is not 1 to 128 bytes`);
    return p11("C_GenerateRandom", () => p.C_GenerateRandom(session, Buffer.alloc(length)));
  };
  return [random, request];
}

/** The key's facts, read once; refuses a key of the wrong type for the mechanism. */
export function checkSecret(p: pkcs11js.PKCS11, quirks: AttributeQuirks, session: Session, key: KeyObject, keyId: string, mechanism: SecretMechanism): KeyFacts {
  key.facts ??= readKeyFacts(p, session, key.handle, key.objectClass, quirks);
  checkKeyType(keyId, key.facts, mechanism);
  return key.facts;
}

/** CKA_ALLOWED_MECHANISMS, read only when the token refused a mechanism, to say so. */
export function allowedOnFailure(p: pkcs11js.PKCS11, session: Session, key: KeyObject, error: unknown): SecretMechanism[] | undefined {
  if (!(error instanceof HsmError && error.ckr === "CKR_MECHANISM_INVALID")) return undefined;
  try {
    const value = readAttributes(p, session, key.handle, [pkcs11js.CKA_ALLOWED_MECHANISMS]).get(pkcs11js.CKA_ALLOWED_MECHANISMS);
    return value === undefined || value.length === 0 ? undefined : parseAllowedMechanisms(value);
  } catch {
    return undefined;
  }
}

/** CKA_VALUE of a secret key; PERMISSION_DENIED, saying why, for one that is sensitive or not extractable. */
export function exportableValue(p: pkcs11js.PKCS11, session: Session, key: KeyObject, keyId: string): Buffer {
  if (key.objectClass !== "secret") throw new HsmError("PERMISSION_DENIED", `${keyId} is not a secret key`);
  const flags = readAttributes(p, session, key.handle, [pkcs11js.CKA_SENSITIVE, pkcs11js.CKA_EXTRACTABLE]);
  const sensitive = (flags.get(pkcs11js.CKA_SENSITIVE)?.[0] ?? 1) !== 0;
  const extractable = (flags.get(pkcs11js.CKA_EXTRACTABLE)?.[0] ?? 0) !== 0;
  if (sensitive || !extractable) throw notExportable(keyId, sensitive, extractable);
  const value = readAttributes(p, session, key.handle, [pkcs11js.CKA_VALUE]).get(pkcs11js.CKA_VALUE);
  if (value === undefined) throw notExportable(keyId, true, extractable);
  return value;
}

/** Why Get may not have a secret key's value (the relay's export policy, README "Key export"). */
function notExportable(keyId: string, sensitive: boolean, extractable: boolean): HsmError {
  const why = [sensitive ? "CKA_SENSITIVE is true" : "", extractable ? "" : "CKA_EXTRACTABLE is false"].filter((s) => s !== "").join(" and ");
  return new HsmError(
    "PERMISSION_DENIED",
    `${keyId} cannot leave the HSM: ${why} (create it with the Extractable attribute true to be able to Get it)`,
    "C_GetAttributeValue",
  );
}

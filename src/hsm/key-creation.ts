// Around making a key object (C_GenerateKeyPair, C_GenerateKey,
// C_CreateObject): its CKA_ID, random and unused or the caller's and checked
// unused (doc/compatibility.md#key-identifiers); what the token says it cannot
// generate, refused before it is asked; and what a new pair's keys are.
import { randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import { hsmErrorOf } from "./ckr.js";
import { CURVES } from "./ec.js";
import { HsmError } from "./hsm-error.js";
import type { KeyFacts, KeyPairRequest } from "./key-types.js";
import { findObjects } from "./objects.js";
import type { Session } from "./session-pool.js";

/** doc/compatibility.md#key-identifiers: a random 20-byte CKA_ID, checked unused, a few retries. */
const CKA_ID_LENGTH = 20;
const CKA_ID_ATTEMPTS = 5;

/**
 * Refuses, before C_GenerateKeyPair, what the token says it cannot do
 * (C_GetMechanismInfo, PKCS#11 v2.40 section 5.5): modules answer an RSA
 * size outside their range variously (SoftHSM: CKR_GENERAL_ERROR), so the
 * range is checked here to give the client a precise reason.
 */
export function checkKeyPairMechanism(p: pkcs11js.PKCS11, slot: pkcs11js.Handle, mechanism: number, request: KeyPairRequest): void {
  let info: pkcs11js.MechanismInfo;
  try {
    info = p.C_GetMechanismInfo(slot, mechanism);
  } catch (err) {
    const error = hsmErrorOf("C_GetMechanismInfo", err, `the token cannot generate ${request.spec.keyType} keys`);
    if (error.ckr === "CKR_MECHANISM_INVALID") throw error;
    return; // A module without C_GetMechanismInfo: let C_GenerateKeyPair decide.
  }
  const { spec } = request;
  // RSA key sizes are in bits (PKCS#11 v2.40 Current Mechanisms section 2.1.4); 0..0 means unknown.
  if (spec.keyType === "RSA" && info.maxKeySize > 0 && (spec.modulusBits < info.minKeySize || spec.modulusBits > info.maxKeySize)) {
    throw new HsmError(
      "UNSUPPORTED",
      `C_GetMechanismInfo: the token generates RSA moduli of ${info.minKeySize} to ${info.maxKeySize} bits, not ${spec.modulusBits}`,
      "C_GetMechanismInfo",
    );
  }
}

/** A CKA_ID the caller chose: refused when some key object has it already. */
export function checkedCkaId(p: pkcs11js.PKCS11, session: Session, chosen: Uint8Array): Buffer {
  const ckaId = Buffer.from(chosen);
  if (ckaId.length === 0 || ckaId.length > 128) throw new HsmError("INVALID_ARGUMENT", `a CKA_ID of ${ckaId.length} bytes cannot be used`);
  if (findObjects(p, session, [{ type: pkcs11js.CKA_ID, value: ckaId }], 1).length > 0) {
    throw new HsmError("INVALID_ARGUMENT", `C_FindObjects: CKA_ID ${ckaId.toString("hex").toUpperCase()} is in use already`, "C_FindObjects");
  }
  return ckaId;
}

/** A random CKA_ID no object on the token has yet. */
export function unusedCkaId(p: pkcs11js.PKCS11, session: Session): Buffer {
  for (let attempt = 0; attempt < CKA_ID_ATTEMPTS; attempt++) {
    const ckaId = randomBytes(CKA_ID_LENGTH);
    if (findObjects(p, session, [{ type: pkcs11js.CKA_ID, value: ckaId }], 1).length === 0) return ckaId;
  }
  throw new HsmError("PKCS11_ERROR", `C_FindObjects: no unused random CKA_ID after ${CKA_ID_ATTEMPTS} attempts`, "C_FindObjects");
}

/** What a key made from `request` is, but for its class. */
export function factsOfSpec({ spec }: KeyPairRequest): Omit<KeyFacts, "objectClass"> {
  switch (spec.keyType) {
    case "RSA":
      return { keyType: "RSA", bits: spec.modulusBits };
    case "EC":
      return { keyType: "EC", bits: CURVES[spec.curve].bits, curve: spec.curve };
    case "EdDSA":
      return { keyType: "EdDSA", bits: CURVES[spec.curve].bits, curve: spec.curve };
  }
}

// C_GenerateKeyPair templates (doc/compatibility.md#create-key-pair). Keys made by the
// original relay carry these attributes, and tools that look at the token
// expect them, so they are not to be "improved" in passing. One addition: a
// private key says outright that it cannot be extracted (CKA_EXTRACTABLE
// false, so it cannot be wrapped out of the token either) nor unwrap, derive
// or decrypt, rather than leaving that to the module's defaults (PKCS#11
// v2.40 section 4.9 leaves CKA_EXTRACTABLE, CKA_UNWRAP and CKA_DERIVE to the
// token). A module that refuses one of them gets it left out (quirks.ts).
import pkcs11js from "pkcs11js";
import { HsmError } from "./hsm-error.js";
import type { KeyPairRequest, UsageFlags } from "./key-types.js";
import { CURVES } from "./ec.js";
import { CKK_EC_EDWARDS, CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EC_KEY_PAIR_GEN, CKM_RSA_PKCS_KEY_PAIR_GEN } from "./mechanisms.js";

export interface KeyPairTemplates {
  readonly mechanism: pkcs11js.Mechanism;
  readonly publicTemplate: pkcs11js.Template;
  readonly privateTemplate: pkcs11js.Template;
}

// The constant parts, built once. pkcs11js copies attribute values into
// native memory on every call, so sharing these objects between calls is safe.
const PUBLIC_COMMON: pkcs11js.Template = [
  { type: pkcs11js.CKA_TOKEN, value: true },
  { type: pkcs11js.CKA_VERIFY, value: true },
  { type: pkcs11js.CKA_ENCRYPT, value: false },
  { type: pkcs11js.CKA_WRAP, value: false },
];
const PRIVATE_COMMON: pkcs11js.Template = [
  { type: pkcs11js.CKA_TOKEN, value: true },
  { type: pkcs11js.CKA_SIGN, value: true },
  { type: pkcs11js.CKA_DECRYPT, value: false },
  { type: pkcs11js.CKA_PRIVATE, value: true },
  { type: pkcs11js.CKA_SENSITIVE, value: true },
  { type: pkcs11js.CKA_EXTRACTABLE, value: false },
  { type: pkcs11js.CKA_UNWRAP, value: false },
  { type: pkcs11js.CKA_DERIVE, value: false },
];
/** F4 = 65537, big-endian (PKCS#11 v2.40 section 2.1.4: CKA_PUBLIC_EXPONENT is a big integer). */
const F4 = Buffer.from([0x01, 0x00, 0x01]);
const EDWARDS_KEY_TYPE: pkcs11js.Attribute = { type: pkcs11js.CKA_KEY_TYPE, value: CKK_EC_EDWARDS };
const EC_PARAMS: Readonly<Record<string, pkcs11js.Attribute>> = Object.fromEntries(
  Object.values(CURVES).map((info) => [info.curve, { type: pkcs11js.CKA_EC_PARAMS, value: info.oid }]),
);

function invalid(message: string): never {
  throw new HsmError("INVALID_ARGUMENT", message);
}

const USAGE_TYPES: Readonly<Record<keyof UsageFlags, number>> = {
  sign: pkcs11js.CKA_SIGN,
  verify: pkcs11js.CKA_VERIFY,
  encrypt: pkcs11js.CKA_ENCRYPT,
  decrypt: pkcs11js.CKA_DECRYPT,
  wrap: pkcs11js.CKA_WRAP,
  unwrap: pkcs11js.CKA_UNWRAP,
  derive: pkcs11js.CKA_DERIVE,
};
/** Flags each class may carry (PKCS#11 v2.40 sections 4.8, 4.9). */
const CLASS_USAGE: Readonly<Record<"public" | "private", readonly (keyof UsageFlags)[]>> = {
  public: ["verify", "encrypt", "wrap", "derive"],
  private: ["sign", "decrypt", "unwrap", "derive"],
};

/**
 * `template` with the usage flags of `usage` (those the class carries) set as
 * given: a flag the template has changes in place, so the order of the
 * attributes stays that of the templates above (the quirk probe in quirks.ts
 * tries them in that order, and a TPM runs out of object contexts after a few
 * dozen failed attempts); one it lacks is added only when true, since PKCS#11
 * defaults the others to false.
 */
function withUsage(template: pkcs11js.Template, usage: UsageFlags | undefined, objectClass: "public" | "private"): pkcs11js.Template {
  if (usage === undefined) return template;
  const flags = CLASS_USAGE[objectClass].filter((flag) => usage[flag] !== undefined);
  const valueOf = new Map(flags.map((flag) => [USAGE_TYPES[flag], usage[flag]!]));
  const changed = template.map((attribute) => (valueOf.has(attribute.type) ? { type: attribute.type, value: valueOf.get(attribute.type)! } : attribute));
  const present = new Set(template.map((attribute) => attribute.type));
  const added = flags.filter((flag) => usage[flag] === true && !present.has(USAGE_TYPES[flag])).map((flag) => ({ type: USAGE_TYPES[flag], value: true }));
  return [...changed, ...added];
}

/** The mechanism and both templates for a key pair whose objects share `ckaId`. */
export function keyPairTemplates(request: KeyPairRequest, ckaId: Buffer): KeyPairTemplates {
  const publicTemplate: pkcs11js.Template = [...withUsage(PUBLIC_COMMON, request.publicUsage, "public"), { type: pkcs11js.CKA_ID, value: ckaId }];
  const privateTemplate: pkcs11js.Template = [...withUsage(PRIVATE_COMMON, request.privateUsage, "private"), { type: pkcs11js.CKA_ID, value: ckaId }];
  if (request.publicLabel !== undefined) publicTemplate.push({ type: pkcs11js.CKA_LABEL, value: Buffer.from(request.publicLabel, "utf8") });
  if (request.privateLabel !== undefined) privateTemplate.push({ type: pkcs11js.CKA_LABEL, value: Buffer.from(request.privateLabel, "utf8") });

  const spec = request.spec;
  switch (spec.keyType) {
    case "RSA": {
      const bits = spec.modulusBits;
      if (!Number.isInteger(bits) || bits <= 0 || bits > 0xffffffff) invalid(`RSA modulus size ${bits} is not a positive 32-bit integer`);
      const exponent = spec.publicExponent === undefined ? F4 : Buffer.from(spec.publicExponent);
      if (exponent.length === 0) invalid("RSA public exponent is empty");
      publicTemplate.push({ type: pkcs11js.CKA_MODULUS_BITS, value: bits }, { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: exponent });
      return { mechanism: { mechanism: CKM_RSA_PKCS_KEY_PAIR_GEN }, publicTemplate, privateTemplate };
    }
    case "EC": {
      // Widened: the spec may come from outside the type system (a forwarded call).
      const curve: string = spec.curve;
      const params = EC_PARAMS[curve];
      if (params === undefined || curve === "Ed25519") return unsupported(`curve ${curve} for ECDSA`);
      publicTemplate.push(params);
      return { mechanism: { mechanism: CKM_EC_KEY_PAIR_GEN }, publicTemplate, privateTemplate };
    }
    case "EdDSA": {
      const curve: string = spec.curve;
      if (curve !== "Ed25519") return unsupported(`curve ${curve} for EdDSA`);
      // PKCS#11 v3.0 section 2.3.5: CKK_EC_EDWARDS keys, the curve in CKA_EC_PARAMS.
      publicTemplate.push(EDWARDS_KEY_TYPE, EC_PARAMS.Ed25519!);
      privateTemplate.push(EDWARDS_KEY_TYPE);
      return { mechanism: { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN }, publicTemplate, privateTemplate };
    }
    default:
      return unsupported(`key type ${String((spec as { keyType: unknown }).keyType)}`);
  }
}

function unsupported(what: string): never {
  throw new HsmError("UNSUPPORTED", `C_GenerateKeyPair: ${what} is not supported`);
}

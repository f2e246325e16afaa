// Reading key objects' attributes into a KeyDescription.
//
// Keys made by other tools may lack attributes, or a module may refuse to
// reveal some (PKCS#11 v2.40 section 5.7, C_GetAttributeValue: one invalid or
// sensitive attribute fails the whole call with CKR_ATTRIBUTE_TYPE_INVALID or
// CKR_ATTRIBUTE_SENSITIVE). So a group is read in one call and, when that
// fails for one of those reasons, attribute by attribute, treating a refused
// one as absent. Attributes a module cannot read at all are its quirks
// (quirks.ts): not asked for, and taken as absent.
import pkcs11js from "pkcs11js";
import { HsmError } from "./hsm-error.js";
import type { KeyDescription, KeyFacts, KeyType, ObjectClass } from "./key-types.js";
import { hsmErrorOf, p11 } from "./ckr.js";
import { curveOfParams, unwrapEcPoint } from "./ec.js";
import { decodeMechanismList } from "./import-templates.js";
import { parseAllowedMechanisms } from "./cipher.js";
import { CKK_AES, CKK_DES2, CKK_DES3, CKK_EC, CKK_EC_EDWARDS, CKK_GENERIC_SECRET, CKK_RSA, CKK_SHA224_HMAC, CKK_SHA256_HMAC, CKK_SHA384_HMAC, CKK_SHA512_HMAC, CKK_SHA_1_HMAC } from "./mechanisms.js";
import { mayBeAttributeRefusal, type AttributeQuirks } from "./quirks.js";
import type { Session } from "./session-pool.js";

const ABSENT: ReadonlySet<string> = new Set(["CKR_ATTRIBUTE_TYPE_INVALID", "CKR_ATTRIBUTE_SENSITIVE"]);

function isAbsent(err: unknown): boolean {
  return err instanceof HsmError && err.ckr !== undefined && ABSENT.has(err.ckr);
}

/**
 * The attributes of `types` the object has and reveals. With `quirks`, the
 * attributes the module is not asked for are left out, and one whose lone
 * read fails while others read fine may be learned as such (quirks.ts).
 */
export function readAttributes(
  p: pkcs11js.PKCS11,
  session: Session,
  handle: pkcs11js.Handle,
  types: readonly number[],
  quirks?: AttributeQuirks,
): Map<number, Buffer> {
  const asked = quirks?.readable(types) ?? types;
  const values = new Map<number, Buffer>();
  const collect = (results: pkcs11js.TemplateResult): void => {
    for (const { type, value } of results) if (value !== undefined) values.set(type, value);
  };
  if (asked.length === 0) return values;
  try {
    collect(p11("C_GetAttributeValue", () => p.C_GetAttributeValue(session, handle, asked.map((type) => ({ type })))));
    return values;
  } catch (err) {
    if (!isAbsent(err) && !(quirks !== undefined && asked.length > 1 && mayBeAttributeRefusal(err))) throw err;
  }
  const failures: [number, unknown][] = [];
  for (const type of asked) {
    try {
      collect(p11("C_GetAttributeValue", () => p.C_GetAttributeValue(session, handle, [{ type }])));
    } catch (err) {
      if (!isAbsent(err)) failures.push([type, err]);
    }
  }
  // When no attribute reads, the module or the object is what fails, not one attribute.
  const othersRead = failures.length < asked.length;
  for (const [type, err] of failures) {
    if (!(othersRead && quirks?.learnUnreadable(type, err))) throw err;
  }
  return values;
}

/**
 * CKA_START_DATE / CKA_END_DATE as "YYYYMMDD", or null when empty or absent.
 * pkcs11js decodes date attributes itself and throws a TypeError for any
 * length other than 8, including the empty value PKCS#11 uses for "no date"
 * (v2.40 section 4.7.2), so dates are read alone and that error means null.
 */
function readDate(p: pkcs11js.PKCS11, session: Session, handle: pkcs11js.Handle, type: number, quirks?: AttributeQuirks): string | null {
  if (quirks?.isSkipped(type)) return null;
  let value: Buffer | undefined;
  try {
    value = p.C_GetAttributeValue(session, handle, [{ type }])[0]?.value;
  } catch (err) {
    if (err instanceof TypeError) return null;
    const error = hsmErrorOf("C_GetAttributeValue", err);
    // Called after other attributes of the object have read fine (describeObject).
    if (isAbsent(error) || quirks?.learnUnreadable(type, error)) return null;
    throw error;
  }
  const text = value?.toString("latin1") ?? "";
  return /^\d{8}$/.test(text) ? text : null;
}

/**
 * CKA_ALLOWED_MECHANISMS (PKCS#11 v2.40 section 4.6), or undefined when the
 * key has none, an empty list, or the module does not know the attribute:
 * read alone and never an error, since only keys registered with
 * Cryptographic Parameters carry one (import-templates.ts).
 */
export function readAllowedMechanisms(p: pkcs11js.PKCS11, session: Session, handle: pkcs11js.Handle): number[] | undefined {
  let value: Buffer | undefined;
  try {
    value = p.C_GetAttributeValue(session, handle, [{ type: A.CKA_ALLOWED_MECHANISMS }])[0]?.value;
  } catch {
    return undefined;
  }
  if (value === undefined || value.length === 0) return undefined;
  return decodeMechanismList(value);
}

/** A CK_ULONG attribute value (native byte order, as the module wrote it). */
export function readUlong(value: Buffer | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (value.length === 8) return Number(value.readBigUInt64LE(0));
  if (value.length === 4) return value.readUInt32LE(0);
  return undefined;
}

/** The number of significant bits of a big-endian unsigned integer (CKA_MODULUS). */
function bitLength(bigEndian: Buffer): number {
  let i = 0;
  while (i < bigEndian.length && bigEndian[i] === 0) i++;
  if (i === bigEndian.length) return 0;
  return (bigEndian.length - i - 1) * 8 + (32 - Math.clz32(bigEndian[i]!));
}

export function keyTypeOf(ckk: number | undefined): KeyType {
  switch (ckk) {
    case CKK_RSA:
      return "RSA";
    case CKK_EC:
      return "EC";
    case CKK_EC_EDWARDS:
      return "EdDSA";
    case CKK_AES:
      return "AES";
    case CKK_DES3:
    case CKK_DES2:
      return "DES3";
    case CKK_GENERIC_SECRET:
    case CKK_SHA_1_HMAC:
    case CKK_SHA224_HMAC:
    case CKK_SHA256_HMAC:
    case CKK_SHA384_HMAC:
    case CKK_SHA512_HMAC:
      return "GenericSecret";
    default:
      return "other";
  }
}

const A = pkcs11js;
// Usage flags each class can have (PKCS#11 v2.40 sections 4.8, 4.9); those of
// the other class are reported false without asking.
const USAGE: Readonly<Record<ObjectClass, readonly number[]>> = {
  public: [A.CKA_VERIFY, A.CKA_ENCRYPT, A.CKA_WRAP, A.CKA_DERIVE],
  private: [A.CKA_SIGN, A.CKA_DECRYPT, A.CKA_UNWRAP, A.CKA_DERIVE],
  secret: [A.CKA_SIGN, A.CKA_VERIFY, A.CKA_ENCRYPT, A.CKA_DECRYPT, A.CKA_WRAP, A.CKA_UNWRAP, A.CKA_DERIVE],
};
/** What a secret key reveals of itself without its value (PKCS#11 v2.40 section 4.10). */
const SECRET = [A.CKA_VALUE_LEN, A.CKA_SENSITIVE, A.CKA_EXTRACTABLE, A.CKA_ALWAYS_SENSITIVE, A.CKA_NEVER_EXTRACTABLE, A.CKA_ALLOWED_MECHANISMS];
const secretKeyTypes: ReadonlySet<KeyType> = new Set(["AES", "DES3", "GenericSecret"]);
/** Triple DES keys have no CKA_VALUE_LEN (PKCS#11 v2.40 Current Mechanisms sections 2.20.1, 2.19.1): the key type says 168 or 112 bits of key. */
const des3Bits = (ckk: number | undefined): number => (ckk === CKK_DES2 ? 112 : 168);
// Key material: public keys reveal theirs; a private RSA key's modulus (not
// secret) gives its size; an EC private key's CKA_EC_PARAMS gives its curve.
const MATERIAL: Readonly<Record<Exclude<ObjectClass, "secret">, Readonly<Record<"RSA" | "EC", readonly number[]>>>> = {
  public: { RSA: [A.CKA_MODULUS, A.CKA_PUBLIC_EXPONENT], EC: [A.CKA_EC_PARAMS, A.CKA_EC_POINT] },
  private: { RSA: [A.CKA_MODULUS], EC: [A.CKA_EC_PARAMS] },
};

/**
 * Reads what decides what a key may do (signature.ts): its type, and its
 * size or curve. `objectClass` is what it was found by. Two reads: the type
 * says which material to read.
 */
export function readKeyFacts(p: pkcs11js.PKCS11, session: Session, handle: pkcs11js.Handle, objectClass: ObjectClass, quirks: AttributeQuirks): KeyFacts {
  const ckk = readUlong(readAttributes(p, session, handle, [A.CKA_KEY_TYPE], quirks).get(A.CKA_KEY_TYPE));
  const keyType = keyTypeOf(ckk);
  const allowed = readAllowedMechanisms(p, session, handle);
  const defaults = allowed === undefined ? {} : { allowedMechanisms: allowed };
  if (keyType === "RSA") {
    const modulus = readAttributes(p, session, handle, [A.CKA_MODULUS]).get(A.CKA_MODULUS);
    return { objectClass, keyType, bits: modulus === undefined ? 0 : bitLength(modulus), ...defaults };
  }
  if (keyType === "EC" || keyType === "EdDSA") {
    const ecParams = readAttributes(p, session, handle, [A.CKA_EC_PARAMS]).get(A.CKA_EC_PARAMS);
    const curve = ecParams === undefined ? undefined : curveOfParams(ecParams);
    return curve === undefined ? { objectClass, keyType, bits: 0, ...defaults } : { objectClass, keyType, bits: curve.bits, curve: curve.curve, ...defaults };
  }
  if (keyType === "DES3") return { objectClass, keyType, bits: des3Bits(ckk) };
  if (secretKeyTypes.has(keyType)) {
    const length = readUlong(readAttributes(p, session, handle, [A.CKA_VALUE_LEN]).get(A.CKA_VALUE_LEN));
    return { objectClass, keyType, bits: (length ?? 0) * 8 };
  }
  return { objectClass, keyType, bits: 0 };
}

/**
 * CKA_SENSITIVE, CKA_ALWAYS_SENSITIVE, CKA_EXTRACTABLE and
 * CKA_NEVER_EXTRACTABLE of a private key (KMIP 1.4 reports them as Sensitive,
 * Always Sensitive, Extractable and Never Extractable). Read apart from the
 * rest, so that a module that fails them costs only these.
 */
function readProtection(p: pkcs11js.PKCS11, session: Session, handle: pkcs11js.Handle): KeyDescription["protection"] {
  let values: Map<number, Buffer>;
  try {
    values = readAttributes(p, session, handle, [A.CKA_SENSITIVE, A.CKA_ALWAYS_SENSITIVE, A.CKA_EXTRACTABLE, A.CKA_NEVER_EXTRACTABLE]);
  } catch (err) {
    if (mayBeAttributeRefusal(err)) return {};
    throw err;
  }
  const flag = (type: number): boolean | undefined => {
    const value = values.get(type);
    return value === undefined || value.length === 0 ? undefined : value[0] !== 0;
  };
  const protection: { sensitive?: boolean; alwaysSensitive?: boolean; extractable?: boolean; neverExtractable?: boolean } = {};
  for (const [name, type] of [
    ["sensitive", A.CKA_SENSITIVE],
    ["alwaysSensitive", A.CKA_ALWAYS_SENSITIVE],
    ["extractable", A.CKA_EXTRACTABLE],
    ["neverExtractable", A.CKA_NEVER_EXTRACTABLE],
  ] as const) {
    const value = flag(type);
    if (value !== undefined) protection[name] = value;
  }
  return protection;
}

/** Reads a key object's description; `id` and `objectClass` are what it was found by. */
export function describeObject(
  p: pkcs11js.PKCS11,
  session: Session,
  handle: pkcs11js.Handle,
  id: string,
  objectClass: ObjectClass,
  quirks: AttributeQuirks,
): KeyDescription {
  const common = readAttributes(p, session, handle, [A.CKA_KEY_TYPE, A.CKA_LABEL, ...USAGE[objectClass]], quirks);
  const ckk = readUlong(common.get(A.CKA_KEY_TYPE));
  const keyType = keyTypeOf(ckk);
  const flag = (type: number): boolean => (common.get(type)?.[0] ?? 0) !== 0;
  const label = common.get(A.CKA_LABEL);
  const allowed = keyType === "RSA" || keyType === "EC" ? readAllowedMechanisms(p, session, handle) : undefined;

  const base = {
    id,
    objectClass,
    keyType,
    label: label === undefined || label.length === 0 ? null : label.toString("utf8"),
    usage: {
      sign: flag(A.CKA_SIGN),
      verify: flag(A.CKA_VERIFY),
      encrypt: flag(A.CKA_ENCRYPT),
      decrypt: flag(A.CKA_DECRYPT),
      wrap: flag(A.CKA_WRAP),
      unwrap: flag(A.CKA_UNWRAP),
      derive: flag(A.CKA_DERIVE),
    },
    startDate: readDate(p, session, handle, A.CKA_START_DATE, quirks),
    endDate: readDate(p, session, handle, A.CKA_END_DATE, quirks),
    ...(objectClass === "private" ? { protection: readProtection(p, session, handle) } : {}),
    ...(allowed === undefined ? {} : { allowedMechanisms: allowed }),
  };

  if (objectClass === "secret") {
    const secret = readAttributes(p, session, handle, SECRET, quirks);
    const allowed = secret.get(A.CKA_ALLOWED_MECHANISMS);
    const flag = (type: number): boolean | undefined => {
      const value = secret.get(type);
      return value === undefined || value.length === 0 ? undefined : value[0] !== 0;
    };
    const [alwaysSensitive, neverExtractable] = [flag(A.CKA_ALWAYS_SENSITIVE), flag(A.CKA_NEVER_EXTRACTABLE)];
    const sensitive = flag(A.CKA_SENSITIVE) ?? false;
    const extractable = flag(A.CKA_EXTRACTABLE) ?? false;
    return {
      ...base,
      bits: keyType === "DES3" ? des3Bits(ckk) : (readUlong(secret.get(A.CKA_VALUE_LEN)) ?? 0) * 8,
      sensitive,
      extractable,
      // KMIP 1.4 Sensitive, Always Sensitive, Extractable, Never Extractable (3.48-3.51), as the token keeps them.
      protection: {
        sensitive,
        extractable,
        ...(alwaysSensitive === undefined ? {} : { alwaysSensitive }),
        ...(neverExtractable === undefined ? {} : { neverExtractable }),
      },
      ...(allowed !== undefined && allowed.length > 0 && { secretMechanisms: parseAllowedMechanisms(allowed) }),
    };
  }
  if (keyType === "RSA") {
    const material = readAttributes(p, session, handle, MATERIAL[objectClass].RSA);
    const modulus = material.get(A.CKA_MODULUS);
    const bits = modulus === undefined ? 0 : bitLength(modulus);
    if (objectClass === "private") return { ...base, bits };
    return { ...base, bits, modulus, publicExponent: material.get(A.CKA_PUBLIC_EXPONENT) };
  }
  if (keyType === "EC" || keyType === "EdDSA") {
    const material = readAttributes(p, session, handle, MATERIAL[objectClass].EC);
    const ecParams = material.get(A.CKA_EC_PARAMS);
    const curve = ecParams === undefined ? undefined : curveOfParams(ecParams);
    const rawPoint = material.get(A.CKA_EC_POINT);
    const ecPoint = rawPoint === undefined ? undefined : unwrapEcPoint(rawPoint, curve);
    // A curve the relay does not name: its size from an uncompressed point 04||X||Y.
    const bits = curve?.bits ?? (ecPoint !== undefined && ecPoint[0] === 0x04 ? ((ecPoint.length - 1) / 2) * 8 : 0);
    return { ...base, bits, curve: curve?.curve, ecParams, ecPoint };
  }
  return { ...base, bits: 0 };
}

// The KMIP attributes of a token key, as Get Attributes and Get Attribute
// List report them (KMIP 1.x section 3): those the key object's PKCS#11
// attributes give, and those of its model (managed-object.ts). Every value is
// read from the token at the time of the request; the relay keeps none.
import { createHash } from "node:crypto";
import type { KeyDescription } from "../hsm/key-types.js";
import type { Attribute, CryptographicParameters, Digest, KnownAttribute } from "../kmip/attributes.js";
import type { ProtocolVersion } from "../kmip/message.js";
import { CryptographicUsageMask, HashingAlgorithm, KeyFormatType } from "../ttlv/enums.js";
import { publicKeyMaterial } from "./get.js";
import { algorithmOf, nameOfLabel, objectTypeOf, recommendedCurveOf } from "./keys.js";
import { atLeast } from "../kmip/versions.js";
import type { OperationContext } from "./operation.js";
import { secretAlgorithmOf } from "./secret-keys.js";

/** PKCS#11 usage flags and the Cryptographic Usage Mask bits (KMIP 1.x 3.19) they grant. */
const USAGE_BITS: readonly (readonly [keyof KeyDescription["usage"], number])[] = [
  ["sign", CryptographicUsageMask.Sign],
  ["verify", CryptographicUsageMask.Verify],
  ["encrypt", CryptographicUsageMask.Encrypt],
  ["decrypt", CryptographicUsageMask.Decrypt],
  ["wrap", CryptographicUsageMask.WrapKey],
  ["unwrap", CryptographicUsageMask.UnwrapKey],
  ["derive", CryptographicUsageMask.DeriveKey],
];

/** The Cryptographic Usage Mask of a key: the bits of the CKA_SIGN, CKA_VERIFY, ... flags that are true. */
export function usageMaskOf(key: Pick<KeyDescription, "usage">): number {
  let mask = 0;
  for (const [flag, bit] of USAGE_BITS) if (key.usage[flag]) mask |= bit;
  return mask;
}

/**
 * Digest (3.17) of a public key: SHA-256 over the Key Material in the format
 * Get answers without a Key Format Type. Private keys reveal no material: a
 * registered one has the Digest computed at Register (in its model), one
 * made in the token none; nor does a key the relay cannot export.
 */
/** A Digest (3.17) the relay computes: SHA-256 of `value`, with the Key Format Type it is in (none: a 1.0 request, or bytes without a format). */
export function sha256Digest(value: Uint8Array, keyFormatType: number | undefined): KnownAttribute {
  const digestValue = createHash("sha256").update(value).digest();
  return { name: "Digest", value: { hashingAlgorithm: HashingAlgorithm.SHA256, digestValue, ...(keyFormatType === undefined ? {} : { keyFormatType }) } };
}

/**
 * `key` with the token's Digest of a secret key whose model keeps none (a
 * key made in the token): C_DigestKey, asked only by the operations that
 * report the Digest, not by every read of the key.
 */
export async function withSecretDigest(context: OperationContext, key: KeyDescription, model: readonly Attribute[]): Promise<KeyDescription> {
  if (key.objectClass !== "secret" || model.some((attribute) => attribute.name === "Digest")) return key;
  const digest = await context.backend.digestSecretKey(context.slot.slotId, key.id);
  return digest === undefined ? key : { ...key, digest };
}

function digestOf(key: KeyDescription, version: ProtocolVersion): KnownAttribute | undefined {
  if (key.objectClass === "secret" && key.digest !== undefined) {
    // A secret key: the token's SHA-256 of its value (hsm/secret-digest.ts), over the Raw format.
    const keyFormatType = atLeast(version, 1, 1) ? { keyFormatType: KeyFormatType.Raw } : {};
    return { name: "Digest", value: { hashingAlgorithm: HashingAlgorithm.SHA256, digestValue: key.digest, ...keyFormatType } };
  }
  if (key.objectClass !== "public") return undefined;
  let format: number;
  let material: unknown;
  try {
    ({ format, material } = publicKeyMaterial(key, undefined));
  } catch {
    return undefined;
  }
  if (!(material instanceof Uint8Array)) return undefined;
  // The Digest's Key Format Type field is a KMIP 1.1 addition.
  return sha256Digest(material, atLeast(version, 1, 1) ? format : undefined);
}

/** A Digest the model keeps (a registered private key's, computed at Register), without the 1.1 Key Format Type for a 1.0 request. */
function storedDigest(model: readonly Attribute[], version: ProtocolVersion): KnownAttribute | undefined {
  const stored = model.find((attribute) => attribute.name === "Digest")?.value as Digest | undefined;
  if (stored === undefined) return undefined;
  const { keyFormatType, ...rest } = stored;
  return { name: "Digest", value: atLeast(version, 1, 1) && keyFormatType !== undefined ? { ...rest, keyFormatType } : rest };
}

/** The model's attributes, in the order they are reported. */
const MODEL_ORDER: readonly string[] = [
  "State",
  "Initial Date",
  "Activation Date",
  "Process Start Date",
  "Protect Stop Date",
  "Deactivation Date",
  "Compromise Occurrence Date",
  "Compromise Date",
  "Revocation Reason",
  "Link",
  "Object Group",
  "Contact Information",
  "Last Change Date",
];

/** Attributes a KMIP version before this one does not know (KMIP 1.1 to 1.4, section 3). */
const SINCE: Readonly<Record<string, readonly [number, number]>> = {
  "Original Creation Date": [1, 3],
  Sensitive: [1, 4],
  "Always Sensitive": [1, 4],
  Extractable: [1, 4],
  "Never Extractable": [1, 4],
};

/** Cryptographic Parameters fields added by KMIP 1.2 and 1.4 (3.6). */
const PARAMETERS_1_2: readonly (keyof CryptographicParameters)[] = ["digitalSignatureAlgorithm", "cryptographicAlgorithm", "randomIv", "ivLength", "tagLength", "fixedFieldLength", "invocationFieldLength", "counterLength", "initialCounterValue"];
const PARAMETERS_1_4: readonly (keyof CryptographicParameters)[] = ["saltLength", "maskGenerator", "maskGeneratorHashingAlgorithm", "pSource", "trailerField"];

/** Cryptographic Parameters without the fields the request's version does not know. */
function parametersIn(params: CryptographicParameters, version: ProtocolVersion): CryptographicParameters {
  const unknown = [...(atLeast(version, 1, 2) ? [] : PARAMETERS_1_2), ...(atLeast(version, 1, 4) ? [] : PARAMETERS_1_4)];
  return Object.fromEntries(Object.entries(params).filter(([field]) => !unknown.includes(field as keyof CryptographicParameters))) as CryptographicParameters;
}

/** Attribute Index of each instance after the first of a multi-instance attribute (KMIP 1.x 2.1.1). */
function indexed(attributes: readonly Attribute[]): Attribute[] {
  const seen = new Map<string, number>();
  return attributes.map((attribute) => {
    const index = seen.get(attribute.name) ?? 0;
    seen.set(attribute.name, index + 1);
    return index === 0 ? { ...attribute } : { ...attribute, index };
  });
}

/**
 * Sensitive, Always Sensitive, Extractable and Never Extractable (KMIP 1.4
 * 3.48-3.51) from CKA_SENSITIVE, CKA_ALWAYS_SENSITIVE, CKA_EXTRACTABLE and
 * CKA_NEVER_EXTRACTABLE. A public key is neither sensitive nor protected from
 * export (Get returns its material).
 */
function protectionOf(key: KeyDescription): KnownAttribute[] {
  const p =
    key.objectClass === "public"
      ? { sensitive: false, alwaysSensitive: false, extractable: true, neverExtractable: false }
      : key.objectClass === "secret" && key.protection === undefined
        ? { ...(key.sensitive === undefined ? {} : { sensitive: key.sensitive }), ...(key.extractable === undefined ? {} : { extractable: key.extractable }) }
        : (key.protection ?? {});
  const attributes: KnownAttribute[] = [];
  if (p.sensitive !== undefined) attributes.push({ name: "Sensitive", value: p.sensitive });
  if (p.alwaysSensitive !== undefined) attributes.push({ name: "Always Sensitive", value: p.alwaysSensitive });
  if (p.extractable !== undefined) attributes.push({ name: "Extractable", value: p.extractable });
  if (p.neverExtractable !== undefined) attributes.push({ name: "Never Extractable", value: p.neverExtractable });
  return attributes;
}

/**
 * Every attribute the relay reports for a key, in a fixed order: Unique
 * Identifier, Object Type, Cryptographic Algorithm, Cryptographic Length,
 * Cryptographic Domain Parameters (EC), Name (when it has a CKA_LABEL),
 * Cryptographic Usage Mask, the model's attributes (State, Initial Date,
 * Activation Date, ..., Last Change Date, custom attributes), Digest (public
 * keys), and in KMIP 1.4 Sensitive, Always Sensitive, Extractable and Never
 * Extractable. Attributes without a value are left out, as KMIP 1.x 4.12
 * leaves out attributes an object does not have; so are attributes the
 * request's protocol version does not know.
 */
export function keyAttributes(key: KeyDescription, model: readonly Attribute[], version: ProtocolVersion): Attribute[] {
  // A secret key registered as Secret Data or an Opaque Object keeps its Object Type in its model (register-secret.ts).
  const objectType = (model.find((attribute) => attribute.name === "Object Type")?.value as number | undefined) ?? objectTypeOf(key);
  const attributes: Attribute[] = [
    { name: "Unique Identifier", value: key.id },
    { name: "Object Type", value: objectType },
  ];
  const algorithm = key.objectClass === "secret" ? secretAlgorithmOf(key) : algorithmOf(key.keyType);
  if (algorithm !== undefined) attributes.push({ name: "Cryptographic Algorithm", value: algorithm });
  // Secret Data and Opaque Objects are bytes, not keys: no Cryptographic Length.
  const dataObject = objectType !== objectTypeOf(key);
  if (key.bits > 0 && !dataObject) attributes.push({ name: "Cryptographic Length", value: key.bits });
  const recommendedCurve = recommendedCurveOf(key.curve);
  if (recommendedCurve !== undefined) attributes.push({ name: "Cryptographic Domain Parameters", value: { recommendedCurve } });
  if (key.label !== null) attributes.push({ name: "Name", value: nameOfLabel(key.label) });
  const mask = model.find((attribute) => attribute.name === "Cryptographic Usage Mask")?.value as number | undefined;
  attributes.push({ name: "Cryptographic Usage Mask", value: mask ?? usageMaskOf(key) });
  // An RSA key's OAEP parameters, kept in its model (managed-object.ts), as the request's version knows them.
  attributes.push(...indexed(model.filter((attribute) => attribute.name === "Cryptographic Parameters").map((a) => ({ name: a.name, value: parametersIn(a.value as CryptographicParameters, version) }) as Attribute)));
  for (const name of MODEL_ORDER) attributes.push(...indexed(model.filter((attribute) => attribute.name === name)));
  const initialDate = model.find((attribute) => attribute.name === "Initial Date");
  // 1.3 3.55: the Original Creation Date of an object the server made is when it made it.
  if (initialDate !== undefined) attributes.push({ name: "Original Creation Date", value: initialDate.value as bigint });
  // y-kmip2pkcs11- attributes are the relay's own bookkeeping (register-secret.ts), not reported.
  const custom = model.filter((attribute) => attribute.name.startsWith("x-") || (attribute.name.startsWith("y-") && !attribute.name.startsWith("y-kmip2pkcs11-")));
  for (const name of new Set(custom.map((attribute) => attribute.name))) attributes.push(...indexed(custom.filter((attribute) => attribute.name === name)));
  // A Digest kept in the model (computed when the relay saw the material: Register) comes first; else the token's.
  const digest = storedDigest(model, version) ?? digestOf(key, version);
  if (digest !== undefined) attributes.push(digest);
  attributes.push(...protectionOf(key));
  return attributes.filter((attribute) => {
    const since = SINCE[attribute.name];
    return since === undefined || atLeast(version, since[0], since[1]);
  });
}

// The KMIP attributes of a token key, as Get Attributes and Get Attribute
// List report them (KMIP 1.x section 3). Every value is read from the token
// at the time of the request; the relay stores none of them.
import { createHash } from "node:crypto";
import type { KeyDescription } from "../hsm/backend.js";
import type { KnownAttribute } from "../kmip/attributes.js";
import type { ProtocolVersion } from "../kmip/message.js";
import { CryptographicUsageMask, HashingAlgorithm } from "../ttlv/enums.js";
import { publicKeyMaterial } from "./get.js";
import { algorithmOf, nameOfLabel, objectTypeOf, recommendedCurveOf } from "./keys.js";
import { dateTimeOf, type KeyLifecycle } from "./lifecycle.js";
import { atLeast } from "../kmip/versions.js";

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
 * Get answers without a Key Format Type. Private keys reveal no material, so
 * they have no Digest; nor does a key the relay cannot export.
 */
function digestOf(key: KeyDescription, version: ProtocolVersion): KnownAttribute | undefined {
  if (key.objectClass !== "public") return undefined;
  let format: number;
  let material: unknown;
  try {
    ({ format, material } = publicKeyMaterial(key, undefined));
  } catch {
    return undefined;
  }
  if (!(material instanceof Uint8Array)) return undefined;
  const digestValue = createHash("sha256").update(material).digest();
  // The Digest's Key Format Type field is a KMIP 1.1 addition.
  const keyFormatType = atLeast(version, 1, 1) ? { keyFormatType: format } : {};
  return { name: "Digest", value: { hashingAlgorithm: HashingAlgorithm.SHA256, digestValue, ...keyFormatType } };
}

/**
 * Every attribute the relay reports for a key, in a fixed order: Unique
 * Identifier, Object Type, Cryptographic Algorithm, Cryptographic Length,
 * Cryptographic Domain Parameters (EC), Name (when it has a CKA_LABEL),
 * Cryptographic Usage Mask, State, Activation Date, Deactivation Date,
 * Digest (public keys). Attributes without a value are left out, as KMIP
 * 1.x 4.12 leaves out attributes an object does not have.
 */
export function keyAttributes(key: KeyDescription, lifecycle: KeyLifecycle, version: ProtocolVersion): KnownAttribute[] {
  const attributes: KnownAttribute[] = [
    { name: "Unique Identifier", value: key.id },
    { name: "Object Type", value: objectTypeOf(key) },
  ];
  const algorithm = algorithmOf(key.keyType);
  if (algorithm !== undefined) attributes.push({ name: "Cryptographic Algorithm", value: algorithm });
  if (key.bits > 0) attributes.push({ name: "Cryptographic Length", value: key.bits });
  const recommendedCurve = recommendedCurveOf(key.curve);
  if (recommendedCurve !== undefined) attributes.push({ name: "Cryptographic Domain Parameters", value: { recommendedCurve } });
  if (key.label !== null) attributes.push({ name: "Name", value: nameOfLabel(key.label) });
  attributes.push({ name: "Cryptographic Usage Mask", value: usageMaskOf(key) }, { name: "State", value: lifecycle.state });
  if (lifecycle.activationDate !== null) attributes.push({ name: "Activation Date", value: dateTimeOf(lifecycle.activationDate) });
  if (lifecycle.deactivationDate !== null) attributes.push({ name: "Deactivation Date", value: dateTimeOf(lifecycle.deactivationDate) });
  const digest = digestOf(key, version);
  if (digest !== undefined) attributes.push(digest);
  return attributes;
}

// What several operations share about keys: the id a request names and the
// other id of its pair, the Name a client may set (CKA_LABEL), the KMIP view
// of a token key (algorithm, curve, object type), and a small cache of key
// types for signing.
import { type Curve, HsmError, type KeyDescription, type KeyType } from "../hsm/backend.js";
import { type Attribute, isAttribute, type Name } from "../kmip/attributes.js";
import { KmipError } from "../kmip/errors.js";
import { CryptographicAlgorithm, NameType, ObjectType, RecommendedCurve, ResultReason } from "../ttlv/enums.js";
import type { OperationContext } from "./operation.js";
import type { SigningKey } from "./signing.js";

/**
 * The Unique Identifier an item acts on: the one it names, else the ID
 * Placeholder an earlier item of the batch set (KMIP 1.x 2.1.1 / 6.x).
 */
export function requireId(context: OperationContext, uniqueIdentifier: string | undefined): string {
  const id = uniqueIdentifier ?? context.idPlaceholder;
  if (id === undefined) {
    throw new KmipError(ResultReason.MissingData, "the request names no Unique Identifier and no earlier batch item set the ID Placeholder");
  }
  return id;
}

/**
 * The id of the other object of the key pair: the public key of a private
 * key and the reverse. Both carry the same CKA_ID (doc/compatibility.md#key-identifiers).
 */
export function partnerId(id: string): string {
  if (id.endsWith("_priv")) return `${id.slice(0, -"_priv".length)}_pub`;
  if (id.endsWith("_pub")) return `${id.slice(0, -"_pub".length)}_priv`;
  throw new KmipError(ResultReason.ItemNotFound, `"${id}" is not a key id of this relay (hex CKA_ID followed by _pub or _priv)`);
}

/**
 * The Name a client may set on a key: its CKA_LABEL, the only attribute
 * clients change (doc/compatibility.md#modify-attribute). `verb` says what the request does ("modified").
 */
export function labelName(attribute: Attribute, verb: string): Name {
  if (!isAttribute(attribute, "Name")) {
    throw new KmipError(ResultReason.PermissionDenied, `attribute "${attribute.name}" cannot be ${verb} here; only Name (the key's CKA_LABEL) can`);
  }
  if (attribute.value.nameType !== NameType.UninterpretedTextString) {
    throw new KmipError(ResultReason.InvalidField, "only Names of type Uninterpreted Text String are supported (a CKA_LABEL is plain text)");
  }
  return attribute.value;
}

/** The Name attribute of a key with a CKA_LABEL. */
export function nameOfLabel(label: string): Name {
  return { nameValue: label, nameType: NameType.UninterpretedTextString };
}

/** The KMIP Cryptographic Algorithm of a token key. */
export function algorithmOf(keyType: KeyType): number | undefined {
  switch (keyType) {
    case "RSA":
      return CryptographicAlgorithm.RSA;
    case "EC":
      return CryptographicAlgorithm.ECDSA;
    case "EdDSA":
      return CryptographicAlgorithm.Ed25519;
    default:
      return undefined;
  }
}

const RECOMMENDED_CURVES: Readonly<Partial<Record<Curve, number>>> = {
  "P-256": RecommendedCurve.P256,
  "P-384": RecommendedCurve.P384,
  "P-521": RecommendedCurve.P521,
};

/** The KMIP Recommended Curve of an EC key on a NIST curve, else undefined. */
export function recommendedCurveOf(curve: Curve | undefined): number | undefined {
  return curve === undefined ? undefined : RECOMMENDED_CURVES[curve];
}

export function objectTypeOf(key: KeyDescription): number {
  return key.objectClass === "public" ? ObjectType.PublicKey : ObjectType.PrivateKey;
}

/**
 * Key types and sizes by slot and id, for Sign requests whose parameters do
 * not say the algorithm. Only a cache: a key's type never changes while it
 * exists, and an entry is dropped when the key turns out to be gone, so a
 * key destroyed and made again under the same id by another relay heals.
 */
export class SigningKeyCache {
  /** Slot id -> key id -> key: no string is built per lookup (every Sign item makes one). */
  private readonly slots = new Map<string, Map<string, SigningKey>>();

  /** `capacity`: keys remembered per slot; beyond it the slot's entries are dropped. */
  constructor(private readonly capacity = 10_000) {}

  /** The key when it is cached: Sign then needs no await before its backend call. */
  cached(context: OperationContext, keyId: string): SigningKey | undefined {
    return this.slots.get(context.slot.slotId)?.get(keyId);
  }

  /** The key, from the backend (describeKey) when it is not cached. */
  async get(context: OperationContext, keyId: string): Promise<SigningKey> {
    const hit = this.cached(context, keyId);
    if (hit !== undefined) return hit;
    const { slotId } = context.slot;
    const key = await context.backend.describeKey(slotId, keyId);
    const entry = { keyType: key.keyType, bits: key.bits };
    let keys = this.slots.get(slotId);
    if (keys === undefined) this.slots.set(slotId, (keys = new Map()));
    if (keys.size >= this.capacity) keys.clear();
    keys.set(keyId, entry);
    return entry;
  }

  /** Forgets a key after a failure that suggests it changed or vanished. */
  forget(context: OperationContext, keyId: string, error: unknown): void {
    if (error instanceof HsmError || error instanceof KmipError) this.slots.get(context.slot.slotId)?.delete(keyId);
  }
}

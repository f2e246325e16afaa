// What several operations share about keys: the id a request names and the
// other id of its pair, the Name a client may set (CKA_LABEL), the KMIP view
// of a token key (algorithm, curve, object type).
import type { Curve, KeyDescription, KeyType } from "../hsm/key-types.js";
import { type Attribute, attributeValues, isAttribute, type Name } from "../kmip/attributes.js";
import { KmipError } from "../kmip/errors.js";
import { CryptographicAlgorithm, NameType, ObjectType, RecommendedCurve, ResultReason } from "../ttlv/enums.js";
import type { OperationContext } from "./operation.js";

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
  if (id.endsWith("_sec")) throw new KmipError(ResultReason.PermissionDenied, `${id} is a secret key, not part of a key pair; its lifecycle cannot be changed here (Activate, Revoke)`);
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
    throw new KmipError(
      ResultReason.PermissionDenied,
      `attribute "${attribute.name}" cannot be ${verb} here; only Name (the key's CKA_LABEL), Object Group, Contact Information and x- attributes can`,
    );
  }
  if (attribute.value.nameType !== NameType.UninterpretedTextString) {
    throw new KmipError(ResultReason.InvalidField, "only Names of type Uninterpreted Text String are supported (a CKA_LABEL is plain text)");
  }
  return attribute.value;
}

/**
 * CKA_LABEL from a template's Name attributes (Create, Create Key Pair,
 * Register): Uninterpreted Text String only, and at most one, since a
 * PKCS#11 object has one label (doc/compatibility.md#create-key-pair).
 * `which` names the template in errors ("the template", "the private key template").
 */
export function templateLabel(attributes: readonly Attribute[], which = "the template"): string | undefined {
  const names = attributeValues(attributes, "Name");
  if (names.length > 1) throw new KmipError(ResultReason.InvalidField, `${which} has ${names.length} Names; a PKCS#11 object has one label`);
  const name = names[0];
  if (name === undefined) return undefined;
  if (name.nameType !== NameType.UninterpretedTextString) throw new KmipError(ResultReason.InvalidField, "only Names of type Uninterpreted Text String are supported");
  return name.nameValue;
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
    case "AES":
      return CryptographicAlgorithm.AES;
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
  if (key.objectClass === "secret") return ObjectType.SymmetricKey;
  return key.objectClass === "public" ? ObjectType.PublicKey : ObjectType.PrivateKey;
}

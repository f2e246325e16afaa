// The key objects the HSM backend (backend.ts) makes, imports, describes,
// finds and changes, and the metadata objects it keeps beside them, as plain
// data. Keys are named by their KMIP Unique Identifier (key-id.ts).
import type { SecretMechanism } from "./crypto-types.js";

/** AES is CKK_AES; DES3 is CKK_DES3; GenericSecret is CKK_GENERIC_SECRET and the CKK_SHA*_HMAC types (HMAC keys). */
export type KeyType = "RSA" | "EC" | "EdDSA" | "AES" | "DES3" | "GenericSecret" | "other";
export type Curve = "P-256" | "P-384" | "P-521" | "Ed25519";
/** CKO_PUBLIC_KEY, CKO_PRIVATE_KEY, CKO_SECRET_KEY. */
export type ObjectClass = "public" | "private" | "secret";

/** What to generate with C_GenerateKeyPair. */
export type KeyPairSpec =
  | { readonly keyType: "RSA"; readonly modulusBits: number; readonly publicExponent?: Uint8Array }
  | { readonly keyType: "EC"; readonly curve: "P-256" | "P-384" | "P-521" }
  | { readonly keyType: "EdDSA"; readonly curve: "Ed25519" };

/** Usage flags to set on a key object (true or false); an absent flag is left to the template's default. */
export type UsageFlags = Partial<KeyDescription["usage"]>;

export interface KeyPairRequest {
  readonly spec: KeyPairSpec;
  /**
   * The CKA_ID both objects get, chosen by the caller so that it can record
   * the pair before making it (doc/object-model.md#crash-safe-creation);
   * absent: a random unused one. An id some object already has is refused.
   */
  readonly ckaId?: Uint8Array;
  /** Usage flags of the private key, overriding the template's. */
  readonly privateUsage?: UsageFlags;
  /** Usage flags of the public key, overriding the template's. */
  readonly publicUsage?: UsageFlags;
  /** CKA_LABEL of the private key; absent: no label. */
  readonly privateLabel?: string;
  /** CKA_LABEL of the public key; absent: no label. */
  readonly publicLabel?: string;
}

export interface KeyPairIds {
  readonly privateKeyId: string;
  readonly publicKeyId: string;
}

/** A key object's attributes as read from the token. */
export interface KeyDescription {
  readonly id: string;
  readonly objectClass: ObjectClass;
  readonly keyType: KeyType;
  /** Modulus bits for RSA, field size for EC (256/384/521), 255 for Ed25519. */
  readonly bits: number;
  readonly curve?: Curve;
  /** CKA_LABEL, or null when the object has none (or an empty one). */
  readonly label: string | null;
  /** Usage flags as the token reports them (false when the attribute is absent). */
  readonly usage: KeyUsage;
  /** CKA_START_DATE / CKA_END_DATE as "YYYYMMDD", null when empty or absent. */
  readonly startDate: string | null;
  readonly endDate: string | null;
  /** Private keys: CKA_SENSITIVE, CKA_ALWAYS_SENSITIVE, CKA_EXTRACTABLE, CKA_NEVER_EXTRACTABLE; absent when the token does not say. */
  readonly protection?: {
    readonly sensitive?: boolean;
    readonly alwaysSensitive?: boolean;
    readonly extractable?: boolean;
    readonly neverExtractable?: boolean;
  };
  /** Public material (public keys; absent for private keys). */
  readonly modulus?: Uint8Array;
  readonly publicExponent?: Uint8Array;
  /** CKA_EC_PARAMS as the token returns it (DER OID or printable string). */
  readonly ecParams?: Uint8Array;
  /** The EC point itself, unwrapped from its DER OCTET STRING. */
  readonly ecPoint?: Uint8Array;
  /** CKA_ALLOWED_MECHANISMS, when the key has a non-empty list (import-templates.ts). */
  readonly allowedMechanisms?: readonly number[];
  /** Secret keys: CKA_SENSITIVE and CKA_EXTRACTABLE (false when absent). */
  readonly sensitive?: boolean;
  readonly extractable?: boolean;
  /** Secret keys: the mechanisms of CKA_ALLOWED_MECHANISMS the relay knows; absent when the key allows any. */
  readonly secretMechanisms?: readonly SecretMechanism[];
  /** Secret keys: SHA-256 of CKA_VALUE, computed by the token (digestSecretKey), set only by the operations that report it (key-attributes.ts withSecretDigest); absent when the module refuses. */
  readonly digest?: Uint8Array;
}

/** Usage flags of a key object (PKCS#11 v2.40 sections 4.8, 4.9). */
export interface KeyUsage {
  readonly sign: boolean;
  readonly verify: boolean;
  readonly encrypt: boolean;
  readonly decrypt: boolean;
  readonly wrap: boolean;
  readonly unwrap: boolean;
  readonly derive: boolean;
}

/**
 * Key material to import (Register), as PKCS#11 holds it: big-endian
 * unsigned integers, and the EC public point bare (04 || X || Y). An EC
 * private key carries its public point too, to find or mark its pair.
 */
export type ImportKeyMaterial =
  | { readonly keyType: "RSA"; readonly objectClass: "public"; readonly modulus: Uint8Array; readonly publicExponent: Uint8Array }
  | {
      readonly keyType: "RSA";
      readonly objectClass: "private";
      readonly modulus: Uint8Array;
      readonly publicExponent: Uint8Array;
      readonly privateExponent: Uint8Array;
      readonly prime1: Uint8Array;
      readonly prime2: Uint8Array;
      readonly exponent1: Uint8Array;
      readonly exponent2: Uint8Array;
      readonly coefficient: Uint8Array;
    }
  | { readonly keyType: "EC"; readonly objectClass: "public"; readonly curve: "P-256" | "P-384" | "P-521"; readonly ecPoint: Uint8Array }
  | { readonly keyType: "EC"; readonly objectClass: "private"; readonly curve: "P-256" | "P-384" | "P-521"; readonly value: Uint8Array; readonly ecPoint: Uint8Array };

/** What to import with C_CreateObject (KMIP Register). */
export interface KeyImportRequest {
  readonly material: ImportKeyMaterial;
  /** CKA_LABEL; absent: no label. */
  readonly label?: string;
  /** The usage flags of the object's class: each one absent or false is set false. */
  readonly usage: Partial<KeyUsage>;
  /** CKA_ALLOWED_MECHANISMS (the Cryptographic Parameters registered with the key, import-templates.ts); absent: not set. */
  readonly allowedMechanisms?: readonly number[];
  /**
   * The Unique Identifier of the other key of the pair (a Link): the new
   * object takes its CKA_ID. It must exist, be of the other class and hold
   * the same public material. Absent: a key of the other class with the same
   * public material is looked for; none, a fresh CKA_ID.
   */
  readonly partnerId?: string;
  /**
   * Only choose: return the id the key would get (its CKA_ID chosen as
   * above) and create nothing. Register asks first, so that the key's
   * metadata record is written, pending, before the key exists
   * (doc/object-model.md#register).
   */
  readonly chooseOnly?: boolean;
  /** The CKA_ID to take, as a `chooseOnly` call gave it; refused when the token already holds a key of this class with it. */
  readonly ckaId?: Uint8Array;
}

/** What to generate with C_GenerateKey (a CKO_SECRET_KEY). */
export interface SecretKeyRequest {
  /** AES: CKM_AES_KEY_GEN; DES3: CKM_DES3_KEY_GEN (always 192 bits with parity); GenericSecret: CKM_GENERIC_SECRET_KEY_GEN (HMAC keys). */
  readonly keyType: "AES" | "DES3" | "GenericSecret";
  readonly bits: number;
  /** CKA_LABEL; absent: no label. */
  readonly label?: string;
  /** CKA_ENCRYPT, CKA_DECRYPT, ...: exactly these are true, every other one false. */
  readonly usage: KeyDescription["usage"];
  /** True: CKA_SENSITIVE false and CKA_EXTRACTABLE true, so Get can read CKA_VALUE. False: the opposite. */
  readonly extractable: boolean;
  /** With extractable: CKA_SENSITIVE true as well, so the key leaves only wrapped (C_WrapKey). */
  readonly sensitive?: boolean;
  /** CKA_ALLOWED_MECHANISMS; absent: the attribute is not set (any mechanism). */
  readonly allowedMechanisms?: readonly SecretMechanism[];
  /** CKA_START_DATE as "YYYYMMDD". */
  readonly startDate?: string;
  /** The CKA_ID the key gets, chosen by the caller to record it first (doc/object-model.md#crash-safe-creation); absent: a random unused one. */
  readonly ckaId?: Uint8Array;
  /** Register: the key's value (CKA_VALUE, C_CreateObject instead of C_GenerateKey); `bits` must be its length. */
  readonly value?: Uint8Array;
}

/** Changes to a key's attributes through C_SetAttributeValue. */
export interface KeyUpdate {
  /** New CKA_LABEL; null removes it (sets it empty). */
  readonly label?: string | null;
  /** "YYYYMMDD", or null for an empty date. */
  readonly startDate?: string | null;
  readonly endDate?: string | null;
  readonly sign?: boolean;
  readonly verify?: boolean;
  /** Secret keys: CKA_ENCRYPT and CKA_DECRYPT, as the key's state allows (doc/object-model.md#states). */
  readonly encrypt?: boolean;
  readonly decrypt?: boolean;
}

/**
 * A metadata object: CKO_DATA, CKA_TOKEN and CKA_PRIVATE true, CKA_APPLICATION
 * "kmip2pkcs11" (METADATA_APPLICATION). It holds what PKCS#11 has no place for
 * of the key objects of one CKA_ID (doc/object-model.md); the backend stores
 * its value and never reads it.
 */
export interface MetadataObject {
  /** CKA_LABEL: the upper-case hex of the CKA_ID of the key objects it describes. */
  readonly label: string;
  /** CKA_VALUE, encoded by the operations layer (src/operations/managed-object.ts). */
  readonly value: Uint8Array;
}

/** CKA_APPLICATION of the relay's metadata objects. */
export const METADATA_APPLICATION = "kmip2pkcs11";

/** Which keys to find with C_FindObjects. Absent fields do not filter. */
export interface KeyFilter {
  readonly objectClass?: ObjectClass;
  readonly keyType?: KeyType;
  readonly label?: string;
  readonly bits?: number;
}

/** What the relay knows of a key object to decide what it may do: learned once, when the key is first used. */
export interface KeyFacts {
  readonly objectClass: ObjectClass;
  readonly keyType: KeyType;
  /** Modulus bits for RSA, field size for EC (256/384/521), 255 for Ed25519; 0 when unknown. */
  readonly bits: number;
  readonly curve?: Curve;
  /** CKA_ALLOWED_MECHANISMS, when the key has a non-empty list: the signature defaults it was registered with (import-templates.ts). */
  readonly allowedMechanisms?: readonly number[];
}

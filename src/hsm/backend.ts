// The HSM backend: what the relay asks of a PKCS#11 module, as async
// functions on plain data. Operations depend on this interface only, never on
// pkcs11js. Every argument and every result is structured-clone-able (strings,
// numbers, booleans, Buffers/Uint8Arrays, plain objects), so that one
// implementation can load the module in this process and another can run it
// in a supervised child process and forward the calls.
//
// Keys are named by their KMIP Unique Identifier (see key-id.ts): the
// upper-case hex of CKA_ID followed by `_pub`, `_priv` or `_sec`.

/** Identity of the loaded module, from C_GetInfo. */
export interface ModuleInfo {
  /** The path the module was loaded from. */
  readonly path: string;
  readonly manufacturer: string;
  readonly libraryDescription: string;
  /** "major.minor" */
  readonly libraryVersion: string;
  /** "major.minor" */
  readonly cryptokiVersion: string;
}

/** A slot with a token present, from C_GetSlotInfo and C_GetTokenInfo. */
export interface SlotSummary {
  /** CK_SLOT_ID as a decimal string (it may exceed 2^53). */
  readonly slotId: string;
  /** The position of the slot in C_GetSlotList(true). */
  readonly index: number;
  readonly slotDescription: string;
  readonly tokenLabel: string;
  readonly tokenSerial: string;
  readonly tokenManufacturer: string;
  readonly tokenModel: string;
  /** ulMaxSessionCount; 0 means "no limit" (CK_EFFECTIVELY_INFINITE). */
  readonly maxSessionCount: number;
  readonly maxRwSessionCount: number;
  readonly tokenInitialized: boolean;
  readonly userPinInitialized: boolean;
  readonly loginRequired: boolean;
}

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
  readonly usage: {
    readonly sign: boolean;
    readonly verify: boolean;
    readonly encrypt: boolean;
    readonly decrypt: boolean;
    readonly wrap: boolean;
    readonly unwrap: boolean;
    readonly derive: boolean;
  };
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
  /** Secret keys, describeKey only: SHA-256 of CKA_VALUE, computed by the token (C_DigestKey); absent when the module refuses. */
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

/**
 * The mechanisms the relay uses with secret keys and RSA-OAEP, by name; the
 * HSM layer (hsm/cipher.ts) turns them into CKM_* values and parameters.
 */
export type CipherMechanism = "AES-ECB" | "AES-CBC" | "AES-CBC-PAD" | "AES-CTR" | "AES-GCM" | "DES3-ECB" | "DES3-CBC" | "DES3-CBC-PAD" | "RSA-OAEP";
export type MacAlgorithm = "HMAC-SHA1" | "HMAC-SHA256" | "HMAC-SHA384" | "HMAC-SHA512" | "AES-CMAC";
export type SecretMechanism = CipherMechanism | MacAlgorithm;
/** C_WrapKey mechanisms (wrap.ts): CKM_AES_KEY_WRAP (RFC 3394) and CKM_AES_KEY_WRAP_PAD (RFC 5649). */
export type WrapMechanism = "AES-KEY-WRAP" | "AES-KEY-WRAP-PAD";

/** Whether a mechanism encrypts (rather than makes a MAC). */
export function isCipherMechanism(name: SecretMechanism): name is CipherMechanism {
  return !name.startsWith("HMAC-") && name !== "AES-CMAC";
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

/** One Encrypt or Decrypt, its mechanism chosen by the caller. */
export interface CipherRequest {
  readonly mechanism: CipherMechanism;
  readonly data: Uint8Array;
  /** CBC: the IV; CTR: the initial counter block; GCM: the IV. */
  readonly iv?: Uint8Array;
  /** Encrypt only: the backend makes an IV of this many bytes with C_GenerateRandom and returns it. */
  readonly randomIvLength?: number;
  /** CTR: bits of the counter block that are the counter (default 128). */
  readonly counterBits?: number;
  /** GCM: additional authenticated data. */
  readonly aad?: Uint8Array;
  /** GCM: the tag length in bytes (default 16). */
  readonly tagLength?: number;
  /** GCM decrypt: the tag to check. */
  readonly tag?: Uint8Array;
  /** RSA-OAEP: the hash of OAEP (default sha1), of MGF1 (default oaepHash), and the label (PKCS#11 source data). */
  readonly oaepHash?: "sha1" | HashName;
  readonly oaepMgfHash?: "sha1" | HashName;
  readonly oaepLabel?: Uint8Array;
}

/** A later part of a stream: the output (GCM Encrypt's last part: and the tag); a MAC stream's last part: the MAC as data; a MAC Verify's: whether it verified. */
export interface StreamResult extends CipherResult {
  readonly valid?: boolean;
}

/** The first step of a stream (startCipherStream). */
export interface CipherStreamStep extends CipherResult {
  /** The backend's id of the stream, for continueCipherStream and endCipherStream. */
  readonly stream: string;
}

export interface CipherResult {
  readonly data: Uint8Array;
  /** The IV the backend made (randomIvLength). */
  readonly iv?: Uint8Array;
  /** GCM encrypt: the tag, apart from the ciphertext. */
  readonly tag?: Uint8Array;
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

export type SignatureFamily = "RSA-PKCS1" | "RSA-PSS" | "ECDSA" | "EdDSA";
export type HashName = "sha1" | "sha256" | "sha384" | "sha512";

/**
 * A value a request named that the relay cannot use, with the reason to give.
 * It is refused only where it matters for the key (signature.ts): a padding
 * is refused for an RSA signature, not for an ECDSA one.
 */
export interface Refused {
  readonly refused: string;
}

/**
 * The signature a request asks for, before the key is known; the key's facts
 * decide the rest (signature.ts). Absent fields: the key's default.
 */
export interface SignatureRequest {
  /** The family the request names. */
  readonly family?: SignatureFamily | Refused;
  /** For a PKCS#1 v1.5 RSA signature: PSS padding instead, or a padding the relay cannot use. */
  readonly padding?: "PSS" | Refused;
  /** The hash the request names. */
  readonly hash?: HashName | Refused;
  /** RSA-PSS: a mask generator other than MGF1. */
  readonly maskGenerator?: Refused;
  /** RSA-PSS: the MGF1 hash; absent: the signature's hash. */
  readonly maskGeneratorHash?: HashName | Refused;
  /** RSA-PSS: absent: the length of the hash. */
  readonly saltLength?: number;
  /**
   * The request carried no Cryptographic Parameters: the key's own apply
   * where it has them (KMIP 1.x 4.31, 4.32), kept in CKA_ALLOWED_MECHANISMS.
   */
  readonly keyDefaults?: boolean;
  /** What is signed: exactly one of the message and its digest (computed by the client). */
  readonly data?: Uint8Array;
  readonly digest?: Uint8Array;
}

/** A signature and the family it is of (ECDSA signatures are r || s). */
export interface Signature {
  readonly signature: Uint8Array;
  readonly family: SignatureFamily;
}

/** A signing mechanism: a CKM_* value and, for RSA-PSS, its parameters. */
export interface SignMechanism {
  /** CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_ECDSA, CKM_EDDSA (0x1057), ... */
  readonly mechanism: number;
  /** CK_RSA_PKCS_PSS_PARAMS, for CKM_RSA_PKCS_PSS. */
  readonly pss?: { readonly hashAlg: number; readonly mgf: number; readonly saltLength: number };
}

/** Why a backend call failed, independent of KMIP. */
export type HsmErrorCode =
  /** The username names no slot or token. */
  | "SLOT_NOT_FOUND"
  /** The username selects a slot whose token is not initialised (CKR_TOKEN_NOT_RECOGNIZED): no PIN mends it. */
  | "TOKEN_NOT_INITIALISED"
  /** The PIN was refused (C_Login said so, or it differs from the PIN that logged the token in). */
  | "AUTH_FAILED"
  /** Logins on this slot are refused for a while after repeated failures. */
  | "LOGIN_COOLDOWN"
  /** The token has locked the PIN. */
  | "PIN_LOCKED"
  /** No object with that id, or the id is not of the key-id scheme. */
  | "ITEM_NOT_FOUND"
  /** The key exists but may not do this (CKA_SIGN false, ...). */
  | "PERMISSION_DENIED"
  /** An algorithm, size, curve or mechanism the module does not offer. */
  | "UNSUPPORTED"
  /** Arguments the module refused (bad sizes, bad data length, ...). */
  | "INVALID_ARGUMENT"
  /** The data did not decrypt with the key (a GCM tag that does not verify, bad padding). */
  | "CRYPTO_FAILED"
  /** Too many calls are waiting for this slot's module; try again later. */
  | "BUSY"
  /** The module process crashed or a call timed out. */
  | "MODULE_FAILED"
  /** Any other PKCS#11 failure. */
  | "PKCS11_ERROR";

/** A backend failure. `message` names the PKCS#11 function and CKR code. */
export class HsmError extends Error {
  override readonly name = "HsmError";
  constructor(
    readonly code: HsmErrorCode,
    message: string,
    /** The PKCS#11 function that failed, e.g. "C_Sign". */
    readonly fn?: string,
    /** The CKR name, e.g. "CKR_PIN_INCORRECT". */
    readonly ckr?: string,
  ) {
    super(message);
  }
}

export interface HsmBackend {
  /** The loaded module's identity. */
  readonly module: ModuleInfo;

  /** Slots with a token present. */
  listSlots(): Promise<SlotSummary[]>;

  /**
   * The slot a KMIP username selects (compat rule): first a token whose label,
   * trailing spaces trimmed, equals it; then a slot whose id equals it; then
   * the slot at that index. Throws SLOT_NOT_FOUND.
   */
  resolveSlot(username: string): Promise<SlotSummary>;

  /**
   * Authenticates a request for a slot: logs the token in on first use, and
   * afterwards compares the PIN with the one that did (salted digest,
   * constant time) without calling C_Login again. Throws AUTH_FAILED,
   * LOGIN_COOLDOWN or PIN_LOCKED.
   *
   * `pin` is the PIN's UTF-8 bytes: the caller zeroes them once the promise
   * settles, so a backend copies what it needs later and keeps no string of
   * it (only C_Login itself, which pkcs11js takes as a string, sees one).
   */
  authenticate(slotId: string, pin: Uint8Array): Promise<void>;

  /** Mechanisms the token offers (C_GetMechanismList), as CKM_* numbers. */
  mechanisms(slotId: string): Promise<number[]>;

  generateKeyPair(slotId: string, request: KeyPairRequest): Promise<KeyPairIds>;

  /**
   * C_CreateObject of a key a client brings (Register); returns the new
   * object's id. Its CKA_ID is its pair's when there is one (the request's
   * partner, or a key of the other class with the same public material),
   * else fresh. Throws INVALID_ARGUMENT for a partner that is not of this
   * pair, UNSUPPORTED for what the module cannot hold.
   */
  importKey(slotId: string, request: KeyImportRequest): Promise<string>;

  /** Throws ITEM_NOT_FOUND when no single object matches the id. */
  describeKey(slotId: string, keyId: string): Promise<KeyDescription>;

  /** C_GenerateKey: a secret key; returns its id. */
  generateSecretKey(slotId: string, request: SecretKeyRequest): Promise<string>;

  /**
   * CKA_VALUE of a secret key. Throws PERMISSION_DENIED, saying why, for a
   * key that is sensitive or not extractable.
   */
  readSecretValue(slotId: string, keyId: string): Promise<Uint8Array>;

  /**
   * C_WrapKey: a secret key encrypted inside the token with an AES key of
   * the same token (wrap.ts). Throws PERMISSION_DENIED for a key that is not
   * extractable or a wrapping key without CKA_WRAP, INVALID_ARGUMENT for a
   * wrapping key or length the mechanism cannot take.
   */
  wrapKey(slotId: string, keyId: string, wrappingKeyId: string, mechanism: WrapMechanism): Promise<Uint8Array>;

  /**
   * C_EncryptInit + C_Encrypt. Throws PERMISSION_DENIED for a key whose
   * CKA_ENCRYPT is false or whose CKA_ALLOWED_MECHANISMS refuse the
   * mechanism, INVALID_ARGUMENT for a key of another type or bad lengths.
   */
  encrypt(slotId: string, keyId: string, request: CipherRequest): Promise<CipherResult>;

  /** C_DecryptInit + C_Decrypt; GCM: a tag that does not verify is INVALID_ARGUMENT (CKR_ENCRYPTED_DATA_INVALID). */
  decrypt(slotId: string, keyId: string, request: CipherRequest): Promise<CipherResult>;

  /** C_SignInit + C_Sign with an HMAC or CMAC mechanism. */
  mac(slotId: string, keyId: string, algorithm: MacAlgorithm, data: Uint8Array): Promise<Uint8Array>;

  /** C_VerifyInit + C_Verify; false for CKR_SIGNATURE_INVALID/LEN_RANGE. */
  macVerify(slotId: string, keyId: string, algorithm: MacAlgorithm, data: Uint8Array, mac: Uint8Array): Promise<boolean>;

  /** Ids of the keys matching the filter, in token order. */
  findKeys(slotId: string, filter: KeyFilter): Promise<string[]>;

  /** The keys findKeys finds, described: one search, each object read once (not one search per key). */
  describeKeys(slotId: string, filter: KeyFilter): Promise<KeyDescription[]>;

  updateKey(slotId: string, keyId: string, update: KeyUpdate): Promise<void>;

  destroyKey(slotId: string, keyId: string): Promise<void>;

  /**
   * The metadata objects with this CKA_LABEL, or all of the relay's when
   * `label` is absent: one search, each object read once. A label may have
   * more than one (see writeMetadata).
   */
  readMetadata(slotId: string, label?: string): Promise<MetadataObject[]>;

  /**
   * Replaces the metadata objects `label` with one of this value (created
   * first, the old ones destroyed after: a crash between leaves both).
   */
  writeMetadata(slotId: string, label: string, value: Uint8Array): Promise<void>;

  /** Destroys the metadata objects `label`; none is no error. */
  destroyMetadata(slotId: string, label: string): Promise<void>;

  /**
   * C_SignInit + C_Sign with the mechanism the request and the key select,
   * on the bytes that mechanism signs (signature.ts). The key's facts are
   * learned in the same call when it is first used, so a first signature
   * costs no more calls than any other. Throws PERMISSION_DENIED for a key
   * that may not sign, INVALID_ARGUMENT for a request the key cannot do.
   */
  sign(slotId: string, keyId: string, request: SignatureRequest): Promise<Signature>;

  /** C_VerifyInit + C_Verify; false for CKR_SIGNATURE_INVALID/LEN_RANGE. */
  verify(slotId: string, keyId: string, mechanism: SignMechanism, data: Uint8Array, signature: Uint8Array): Promise<boolean>;

  /** C_GenerateRandom. */
  generateRandom(slotId: string, length: number): Promise<Uint8Array>;

  /** C_SeedRandom (RNG Seed); UNSUPPORTED when the token takes no seed. A backend without it takes no seed. */
  seedRandom?(slotId: string, seed: Uint8Array): Promise<void>;

  /**
   * Streaming Encrypt or Decrypt (KMIP 1.3; doc/architecture.md#streaming):
   * C_EncryptInit (C_DecryptInit) + C_EncryptUpdate on a session the stream
   * keeps until it ends. Returns the stream's id and the first output.
   * BUSY when the slot has as many streams as it may (half its sessions).
   * A backend without these methods does not stream.
   */
  startCipherStream?(slotId: string, keyId: string, request: CipherRequest, decrypting: boolean): Promise<CipherStreamStep>;

  /** Streaming MAC or MAC Verify (KMIP 1.3): C_SignInit (C_VerifyInit) + C_SignUpdate on a session kept for the stream, as startCipherStream. */
  startMacStream?(slotId: string, keyId: string, algorithm: MacAlgorithm, data: Uint8Array, verifying: boolean): Promise<CipherStreamStep>;

  /**
   * The next part of a stream: C_EncryptUpdate (C_SignUpdate, ...), and with
   * `final` C_EncryptFinal, which ends the stream. `extra`: a GCM Decrypt's
   * tag, a MAC Verify's MAC, with the last part. A MAC stream's last part
   * answers the MAC as its data, a MAC Verify's whether it verified.
   * ITEM_NOT_FOUND for a stream that is unknown, ended or expired. A failure
   * ends the stream.
   */
  continueCipherStream?(slotId: string, stream: string, data: Uint8Array, final: boolean, extra?: Uint8Array): Promise<StreamResult>;

  /** Ends a stream without its final part (the client went away); unknown streams are no error. */
  endCipherStream?(slotId: string, stream: string): Promise<void>;

  /** Whether the module answers (C_GetInfo or a cheap call); for health checks. */
  ping(): Promise<boolean>;

  /** Closes sessions and calls C_Finalize. */
  close(): Promise<void>;

  /**
   * After this process switched user and group ([daemon] identity): the
   * processes the backend started before, as root, switch too. Only a
   * backend that runs the module in other processes has it.
   */
  followCredentials?(): void;
}

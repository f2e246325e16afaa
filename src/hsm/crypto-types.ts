// The mechanisms of secret keys, key wrapping and signatures as the HSM
// backend (backend.ts) takes them by name, and its cipher, stream and
// signature requests and results, as plain data.

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

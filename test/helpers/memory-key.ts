// One key object of the in-memory token (test/helpers/memory-backend.ts) and
// the cryptography done with it, in node:crypto: new key pairs, the key
// objects of imported material, AES and RSA-OAEP encryption, HMAC and the
// stand-in signatures, each refused as the PKCS#11 backend refuses it.
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  type CipherGCM,
  type CipherGCMOptions,
  type DecipherGCM,
  type CipherGCMTypes,
  type KeyObject,
} from "node:crypto";
import type { CipherRequest, CipherResult, MacAlgorithm, SecretMechanism, SignMechanism } from "../../src/hsm/crypto-types.js";
import { HsmError } from "../../src/hsm/hsm-error.js";
import type { Curve, KeyDescription, KeyImportRequest, KeyPairRequest, KeyType, ObjectClass } from "../../src/hsm/key-types.js";
import { CURVES } from "../../src/hsm/ec.js";
import { CKM_ECDSA } from "../../src/hsm/mechanisms.js";

export type Usage = { -readonly [K in keyof KeyDescription["usage"]]: boolean };

/** One key object in memory. */
export interface MemoryKey {
  id: string;
  objectClass: ObjectClass;
  keyType: KeyType;
  bits: number;
  curve?: Curve;
  label: string | null;
  usage: Usage;
  startDate: string | null;
  endDate: string | null;
  /** The pair's private key, for signing; absent for a public key registered alone. */
  readonly privateKey?: KeyObject;
  /** The pair's public key, for verifying and the stand-in signatures. */
  readonly publicKey: KeyObject;
  /** CKA_ALLOWED_MECHANISMS of a registered key. */
  allowedMechanisms?: readonly number[];
  /** Secret keys: CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_ALLOWED_MECHANISMS (privateKey holds the value). */
  sensitive?: boolean;
  extractable?: boolean;
  secretMechanisms?: readonly SecretMechanism[];
}

export const NO_USAGE: Usage = { sign: false, verify: false, encrypt: false, decrypt: false, wrap: false, unwrap: false, derive: false };

/** A new key pair made by node:crypto, with what the token records of it. */
export function newPair(spec: KeyPairRequest["spec"]): { pair: { privateKey: KeyObject; publicKey: KeyObject }; keyType: KeyType; bits: number; curve: Curve | undefined } {
  let pair: { privateKey: KeyObject; publicKey: KeyObject };
  let keyType: KeyType;
  let bits: number;
  let curve: Curve | undefined;
  switch (spec.keyType) {
    case "RSA":
      pair = generateKeyPairSync("rsa", { modulusLength: spec.modulusBits, publicExponent: 65537 });
      [keyType, bits] = ["RSA", spec.modulusBits];
      break;
    case "EC":
      pair = generateKeyPairSync("ec", { namedCurve: spec.curve });
      [keyType, bits, curve] = ["EC", CURVES[spec.curve].bits, spec.curve];
      break;
    case "EdDSA":
      pair = generateKeyPairSync("ed25519");
      [keyType, bits, curve] = ["EdDSA", 255, "Ed25519"];
      break;
  }
  return { pair, keyType, bits, curve };
}

/** The node:crypto keys of imported key material: the public key, and the private key with a private key's material. */
export function keyObjects(material: KeyImportRequest["material"]): { privateKey: KeyObject | undefined; publicKey: KeyObject } {
  const b = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");
  let privateKey: KeyObject | undefined;
  let publicKey: KeyObject;
  if (material.keyType === "RSA") {
    const n = b(material.modulus);
    const e = b(material.publicExponent);
    publicKey = createPublicKey({ key: { kty: "RSA", n, e }, format: "jwk" });
    if (material.objectClass === "private") {
      const { privateExponent: d, prime1: p, prime2: q, exponent1: dp, exponent2: dq, coefficient: qi } = material;
      privateKey = createPrivateKey({ key: { kty: "RSA", n, e, d: b(d), p: b(p), q: b(q), dp: b(dp), dq: b(dq), qi: b(qi) }, format: "jwk" });
    }
  } else {
    const size = (material.ecPoint.length - 1) / 2;
    const x = b(material.ecPoint.subarray(1, 1 + size));
    const y = b(material.ecPoint.subarray(1 + size));
    publicKey = createPublicKey({ key: { kty: "EC", crv: material.curve, x, y }, format: "jwk" });
    if (material.objectClass === "private") privateKey = createPrivateKey({ key: { kty: "EC", crv: material.curve, x, y, d: b(material.value) }, format: "jwk" });
  }
  return { privateKey, publicKey };
}

/** Whether a secret key may do `flag` with `mechanism`, refused as the PKCS#11 backend refuses it. */
export function checkSecret(key: MemoryKey, keyId: string, mechanism: SecretMechanism, flag: "sign" | "verify" | "encrypt" | "decrypt", fn: string): void {
  const wanted = mechanism.startsWith("HMAC-") ? "GenericSecret" : "AES";
  if (key.keyType !== wanted) throw new HsmError("INVALID_ARGUMENT", `${mechanism} needs an ${wanted} key; ${keyId} is an ${key.keyType} key`);
  if (!key.usage[flag]) {
    throw new HsmError("PERMISSION_DENIED", `${keyId} may not ${flag}: its CKA_${flag.toUpperCase()} is false`, fn, "CKR_KEY_FUNCTION_NOT_PERMITTED");
  }
  if (key.secretMechanisms !== undefined && !key.secretMechanisms.includes(mechanism)) {
    throw new HsmError("PERMISSION_DENIED", `${keyId} allows only ${key.secretMechanisms.join(", ")} (its Cryptographic Parameters, CKA_ALLOWED_MECHANISMS), not ${mechanism}`, fn, "CKR_MECHANISM_INVALID");
  }
}

/** Encrypt or Decrypt with `key` (found by the caller), refused as the PKCS#11 backend refuses it. */
export function cipherWith(key: MemoryKey, keyId: string, request: CipherRequest, decrypting: boolean): CipherResult {
  const fn = decrypting ? "C_DecryptInit" : "C_EncryptInit";
  const flag = decrypting ? "decrypt" : "encrypt";
  if (request.mechanism === "RSA-OAEP") {
    if (key.keyType !== "RSA") throw new HsmError("INVALID_ARGUMENT", `RSA-OAEP needs an RSA key; ${keyId} is not one`);
    if (key.objectClass !== (decrypting ? "private" : "public")) throw new HsmError("INVALID_ARGUMENT", `${keyId} is a ${key.objectClass} key`);
    const options = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: request.oaepHash ?? "sha1", ...(request.oaepLabel !== undefined && { oaepLabel: Buffer.from(request.oaepLabel) }) };
    try {
      return { data: decrypting ? privateDecrypt({ key: secretValue(key), ...options }, request.data) : publicEncrypt({ key: key.publicKey, ...options }, request.data) };
    } catch {
      throw new HsmError("INVALID_ARGUMENT", `${decrypting ? "C_Decrypt: CKR_ENCRYPTED_DATA_INVALID" : "C_Encrypt: CKR_DATA_LEN_RANGE"}`, fn);
    }
  }
  checkSecret(key, keyId, request.mechanism, flag, fn);
  const mode = request.mechanism.slice(4).toLowerCase().replace("-pad", "");
  let iv = request.iv === undefined ? undefined : Buffer.from(request.iv);
  let made: Buffer | undefined;
  if (request.randomIvLength !== undefined) iv = made = randomBytes(request.randomIvLength);
  if (mode !== "ecb" && iv === undefined) throw new HsmError("INVALID_ARGUMENT", `${request.mechanism} needs an IV/Counter/Nonce (or Random IV)`);
  if ((mode === "cbc" || mode === "ctr") && iv!.length !== 16) throw new HsmError("INVALID_ARGUMENT", `${request.mechanism} needs a 16-byte IV/Counter/Nonce, not ${iv!.length} bytes`);
  const algorithm = `aes-${key.bits}-${mode}`;
  const tagLength = request.tagLength ?? 16;
  const gcm = mode === "gcm" ? { authTagLength: tagLength } : {};
  try {
    if (decrypting) {
      const decipher = createDecipheriv(algorithm as CipherGCMTypes, secretValue(key), mode === "ecb" ? null : iv!, gcm as CipherGCMOptions) as DecipherGCM;
      decipher.setAutoPadding(request.mechanism === "AES-CBC-PAD");
      if (mode === "gcm") {
        if (request.tag === undefined) throw new HsmError("INVALID_ARGUMENT", "AES-GCM Decrypt needs the Authenticated Encryption Tag");
        if (request.aad !== undefined) decipher.setAAD(request.aad);
        decipher.setAuthTag(request.tag);
      }
      return { data: Buffer.concat([decipher.update(request.data), decipher.final()]) };
    }
    const c = createCipheriv(algorithm as CipherGCMTypes, secretValue(key), mode === "ecb" ? null : iv!, gcm as CipherGCMOptions) as CipherGCM;
    c.setAutoPadding(request.mechanism === "AES-CBC-PAD");
    if (mode === "gcm" && request.aad !== undefined) c.setAAD(request.aad);
    const data = Buffer.concat([c.update(request.data), c.final()]);
    return { data, ...(mode === "gcm" && { tag: c.getAuthTag() }), ...(made !== undefined && { iv: made }) };
  } catch (error) {
    if (error instanceof HsmError) throw error;
    const ckr = decrypting ? "CKR_ENCRYPTED_DATA_INVALID" : "CKR_DATA_LEN_RANGE";
    throw new HsmError(decrypting ? "CRYPTO_FAILED" : "INVALID_ARGUMENT", `${decrypting ? "C_Decrypt" : "C_Encrypt"}: ${ckr}`, decrypting ? "C_Decrypt" : "C_Encrypt", ckr);
  }
}

const HMAC_HASHES: Readonly<Record<string, string>> = { "HMAC-SHA1": "sha1", "HMAC-SHA256": "sha256", "HMAC-SHA384": "sha384", "HMAC-SHA512": "sha512" };

/** A secret key's value, or a private key's (kept in privateKey); a public key registered alone has none. */
export function secretValue(key: MemoryKey): KeyObject {
  if (key.privateKey === undefined) throw new HsmError("INVALID_ARGUMENT", `${key.id} holds no secret or private material`);
  return key.privateKey;
}

/** node:crypto has no AES-CMAC: this token lacks CKM_AES_CMAC, as a module may. */
export function hmac(key: MemoryKey, algorithm: MacAlgorithm, data: Uint8Array): Buffer {
  const hash = HMAC_HASHES[algorithm];
  if (hash === undefined) throw new HsmError("UNSUPPORTED", `C_SignInit: CKR_MECHANISM_INVALID (the memory token has no ${algorithm})`, "C_SignInit", "CKR_MECHANISM_INVALID");
  return createHmac(hash, secretValue(key)).update(data).digest();
}

/** The stand-in ECDSA / RSA-PSS signature: a digest keyed by the pair's private key, as long as a real one. */
export function standIn(key: MemoryKey, mechanism: SignMechanism, data: Uint8Array): Buffer {
  const length = mechanism.mechanism === CKM_ECDSA ? 2 * Math.ceil(key.bits / 8) : key.bits / 8;
  const secret = key.publicKey.export({ format: "der", type: "spki" });
  const out = Buffer.alloc(length);
  for (let offset = 0, counter = 0; offset < length; counter++) {
    offset += createHash("sha256").update(secret).update(String(counter)).update(data).digest().copy(out, offset);
  }
  return out;
}

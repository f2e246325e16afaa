// Secret keys and the mechanisms used with them: the C_GenerateKey template,
// CKA_ALLOWED_MECHANISMS, and C_Encrypt / C_Decrypt / C_Sign (MAC) with the
// parameters each mechanism takes (PKCS#11 v2.40 Current Mechanisms sections
// 2.1.8 RSA-OAEP, 2.14 AES, 2.15 GCM/CTR, 2.19 AES CMAC, 2.20 Triple DES,
// 2.25-2.28 HMAC).
//
// The key's type is checked against the mechanism before the token sees it,
// so that a wrong key type is named as such rather than as a CKR code; what
// the key may do (CKA_ENCRYPT, CKA_SIGN, ..., CKA_ALLOWED_MECHANISMS) the
// token enforces, and its refusal is turned into a reason a person can act on.
import { endianness } from "node:os";
import pkcs11js from "pkcs11js";
import type { CipherMechanism, CipherRequest, CipherResult, MacAlgorithm, SecretMechanism } from "./crypto-types.js";
import { HsmError } from "./hsm-error.js";
import type { KeyFacts, SecretKeyRequest } from "./key-types.js";
import { hsmErrorOf, p11, p11Async } from "./ckr.js";
import { CKG_MGF1_SHA256, CKG_MGF1_SHA384, CKG_MGF1_SHA512, CKK_AES, CKK_DES2, CKK_DES3, CKK_GENERIC_SECRET, CKM_SHA256, CKM_SHA384, CKM_SHA512 } from "./mechanisms.js";
import type { KeyObject } from "./objects.js";
import { pinned } from "./sign.js";
import type { Session } from "./session-pool.js";

const A = pkcs11js;

/** CKM_* of each mechanism the relay names. */
export const CKM_OF: Readonly<Record<SecretMechanism, number>> = {
  "AES-ECB": A.CKM_AES_ECB,
  "AES-CBC": A.CKM_AES_CBC,
  "AES-CBC-PAD": A.CKM_AES_CBC_PAD,
  "AES-CTR": A.CKM_AES_CTR,
  "AES-GCM": A.CKM_AES_GCM,
  "DES3-ECB": A.CKM_DES3_ECB,
  "DES3-CBC": A.CKM_DES3_CBC,
  "DES3-CBC-PAD": A.CKM_DES3_CBC_PAD,
  "RSA-OAEP": A.CKM_RSA_PKCS_OAEP,
  "HMAC-SHA1": A.CKM_SHA_1_HMAC,
  "HMAC-SHA256": A.CKM_SHA256_HMAC,
  "HMAC-SHA384": A.CKM_SHA384_HMAC,
  "HMAC-SHA512": A.CKM_SHA512_HMAC,
  "AES-CMAC": A.CKM_AES_CMAC,
};
const MECHANISM_OF_CKM: ReadonlyMap<number, SecretMechanism> = new Map(Object.entries(CKM_OF).map(([name, ckm]) => [ckm, name as SecretMechanism]));

/** The key type each mechanism needs. */
function keyTypeFor(mechanism: SecretMechanism): KeyFacts["keyType"] {
  if (mechanism === "RSA-OAEP") return "RSA";
  if (mechanism.startsWith("DES3-")) return "DES3";
  return mechanism.startsWith("HMAC-") ? "GenericSecret" : "AES";
}

/** OAEP hash and MGF1 (PKCS#11 v2.40 section 2.1.8, CK_RSA_PKCS_OAEP_PARAMS). */
const OAEP_HASHES = {
  sha1: { hashAlg: A.CKM_SHA_1, mgf: A.CKG_MGF1_SHA1 },
  sha256: { hashAlg: CKM_SHA256, mgf: CKG_MGF1_SHA256 },
  sha384: { hashAlg: CKM_SHA384, mgf: CKG_MGF1_SHA384 },
  sha512: { hashAlg: CKM_SHA512, mgf: CKG_MGF1_SHA512 },
} as const;
/** CKZ_DATA_SPECIFIED: the OAEP label is in pSourceData. */
const CKZ_DATA_SPECIFIED = 1;

/** sizeof(CK_ULONG) on this platform: 8 on the 64-bit Unix systems the relay runs on, 4 elsewhere. */
const ULONG_SIZE = process.arch.endsWith("64") ? 8 : 4;
const LITTLE_ENDIAN = endianness() === "LE";

function ulong(value: number): Buffer {
  const out = Buffer.alloc(ULONG_SIZE);
  if (ULONG_SIZE === 8) {
    if (LITTLE_ENDIAN) out.writeBigUInt64LE(BigInt(value));
    else out.writeBigUInt64BE(BigInt(value));
  } else if (LITTLE_ENDIAN) out.writeUInt32LE(value);
  else out.writeUInt32BE(value);
  return out;
}

/** CKA_ALLOWED_MECHANISMS (PKCS#11 v2.40 section 4.6): an array of CK_MECHANISM_TYPE. */
export function allowedMechanismsValue(mechanisms: readonly SecretMechanism[]): Buffer {
  return Buffer.concat(mechanisms.map((mechanism) => ulong(CKM_OF[mechanism])));
}

/** The mechanisms of a CKA_ALLOWED_MECHANISMS value that the relay knows (others are left out). */
export function parseAllowedMechanisms(value: Buffer): SecretMechanism[] {
  const size = value.length % 8 === 0 && ULONG_SIZE === 8 ? 8 : 4;
  const out: SecretMechanism[] = [];
  for (let offset = 0; offset + size <= value.length; offset += size) {
    const ckm = size === 8 ? Number(LITTLE_ENDIAN ? value.readBigUInt64LE(offset) : value.readBigUInt64BE(offset)) : LITTLE_ENDIAN ? value.readUInt32LE(offset) : value.readUInt32BE(offset);
    const name = MECHANISM_OF_CKM.get(ckm);
    if (name !== undefined) out.push(name);
  }
  return out;
}

/** The C_GenerateKey mechanism and template of a secret key with `ckaId`; with a value, the C_CreateObject template. */
export function secretKeyTemplate(request: SecretKeyRequest, ckaId: Buffer): { mechanism: pkcs11js.Mechanism; template: pkcs11js.Template } {
  const { bits, usage } = request;
  if (!Number.isInteger(bits) || bits <= 0 || bits % 8 !== 0) throw new HsmError("INVALID_ARGUMENT", `C_GenerateKey: key length ${bits} is not a positive multiple of 8 bits`);
  const aes = request.keyType === "AES";
  const des3 = request.keyType === "DES3";
  // Triple DES with three keys is 192 bits with parity (CKK_DES3), with two 128 (CKK_DES2).
  if (des3 && bits !== 192 && bits !== 128) throw new HsmError("INVALID_ARGUMENT", `C_GenerateKey: Triple DES keys are 192 or 128 bits with parity, not ${bits}`);
  const des2 = des3 && bits === 128;
  if (request.value !== undefined && request.value.length * 8 !== bits) throw new HsmError("INVALID_ARGUMENT", `C_CreateObject: a value of ${request.value.length} bytes is not ${bits} bits`);
  if (aes && bits !== 128 && bits !== 192 && bits !== 256) throw new HsmError("INVALID_ARGUMENT", `C_GenerateKey: AES keys are 128, 192 or 256 bits, not ${bits}`);
  const template: pkcs11js.Template = [
    { type: A.CKA_CLASS, value: A.CKO_SECRET_KEY },
    { type: A.CKA_KEY_TYPE, value: aes ? CKK_AES : des2 ? CKK_DES2 : des3 ? CKK_DES3 : CKK_GENERIC_SECRET },
    { type: A.CKA_TOKEN, value: true },
    { type: A.CKA_PRIVATE, value: true },
    { type: A.CKA_ID, value: ckaId },
    ...(request.value !== undefined ? [{ type: A.CKA_VALUE, value: Buffer.from(request.value) }] : des3 ? [] : [{ type: A.CKA_VALUE_LEN, value: bits / 8 }]),
    { type: A.CKA_ENCRYPT, value: usage.encrypt },
    { type: A.CKA_DECRYPT, value: usage.decrypt },
    { type: A.CKA_WRAP, value: usage.wrap },
    { type: A.CKA_UNWRAP, value: usage.unwrap },
    { type: A.CKA_SIGN, value: usage.sign },
    { type: A.CKA_VERIFY, value: usage.verify },
    { type: A.CKA_DERIVE, value: usage.derive },
    { type: A.CKA_SENSITIVE, value: request.sensitive ?? !request.extractable },
    { type: A.CKA_EXTRACTABLE, value: request.extractable },
  ];
  if (request.label !== undefined) template.push({ type: A.CKA_LABEL, value: Buffer.from(request.label, "utf8") });
  if (request.allowedMechanisms !== undefined && request.allowedMechanisms.length > 0) {
    template.push({ type: A.CKA_ALLOWED_MECHANISMS, value: allowedMechanismsValue(request.allowedMechanisms) });
  }
  if (request.startDate !== undefined) template.push({ type: A.CKA_START_DATE, value: Buffer.from(request.startDate, "latin1") });
  return { mechanism: { mechanism: aes ? A.CKM_AES_KEY_GEN : des2 ? A.CKM_DES2_KEY_GEN : des3 ? A.CKM_DES3_KEY_GEN : A.CKM_GENERIC_SECRET_KEY_GEN }, template };
}

const invalid = (message: string): HsmError => new HsmError("INVALID_ARGUMENT", message);

/** A Block Cipher Mode names the mode, the key the cipher: ECB and CBC named without an algorithm are Triple DES's with a DES3 key. */
const DES3_OF: Readonly<Partial<Record<CipherMechanism, CipherMechanism>>> = { "AES-ECB": "DES3-ECB", "AES-CBC": "DES3-CBC", "AES-CBC-PAD": "DES3-CBC-PAD" };

/** `request` with the mechanism of that mode for the key's cipher. */
export function forKeyType(request: CipherRequest, keyType: KeyFacts["keyType"]): CipherRequest {
  const des3 = keyType === "DES3" ? DES3_OF[request.mechanism] : undefined;
  if (des3 === undefined) return request;
  // The default random IV is a block: 16 bytes for AES, 8 for Triple DES.
  return { ...request, mechanism: des3, ...(request.randomIvLength === 16 && { randomIvLength: 8 }) };
}

/** Refuses a key of the wrong type for `mechanism`, naming both. */
export function checkKeyType(keyId: string, facts: KeyFacts, mechanism: SecretMechanism): void {
  const wanted = keyTypeFor(mechanism);
  if (facts.keyType === wanted) {
    if (mechanism === "RSA-OAEP" && facts.objectClass === "secret") throw invalid(`${mechanism} needs an RSA key; ${keyId} is a secret key`);
    return;
  }
  const what = facts.keyType === "GenericSecret" ? "an HMAC (generic secret)" : facts.keyType === "other" ? "an unknown" : `an ${facts.keyType}`;
  const needs = wanted === "GenericSecret" ? "an HMAC (generic secret)" : `an ${wanted}`;
  throw invalid(`${mechanism} needs ${needs} key; ${keyId} is ${what} key`);
}

/** The pkcs11js mechanism for one Encrypt or Decrypt; `iv` is the IV to use (given or made). */
export function cipherMechanism(request: CipherRequest, iv: Buffer | undefined): pkcs11js.Mechanism {
  const ckm = CKM_OF[request.mechanism];
  const needIv = (bytes?: number): Buffer => {
    if (iv === undefined) throw invalid(`${request.mechanism} needs an IV/Counter/Nonce (or Random IV)`);
    if (bytes !== undefined && iv.length !== bytes) throw invalid(`${request.mechanism} needs a ${bytes}-byte IV/Counter/Nonce, not ${iv.length} bytes`);
    return iv;
  };
  switch (request.mechanism) {
    case "AES-ECB":
    case "DES3-ECB":
      if (iv !== undefined) throw invalid(`${request.mechanism} takes no IV/Counter/Nonce`);
      return { mechanism: ckm };
    case "AES-CBC":
    case "AES-CBC-PAD":
      return { mechanism: ckm, parameter: needIv(16) };
    case "DES3-CBC":
    case "DES3-CBC-PAD":
      return { mechanism: ckm, parameter: needIv(8) };
    case "AES-CTR": {
      // CK_AES_CTR_PARAMS { CK_ULONG ulCounterBits; CK_BYTE cb[16]; }: pkcs11js has no form for it, so it goes as bytes.
      const counterBits = request.counterBits ?? 128;
      if (!Number.isInteger(counterBits) || counterBits < 1 || counterBits > 128) throw invalid(`AES-CTR counter length ${counterBits} is not 1 to 128 bits`);
      return { mechanism: ckm, parameter: Buffer.concat([ulong(counterBits), needIv(16)]) };
    }
    case "AES-GCM": {
      const tagLength = request.tagLength ?? 16;
      // NIST SP 800-38D section 5.2.1.2: tags of 12 to 16 bytes (and 4 and 8 for special uses, which PKCS#11 modules refuse).
      if (!Number.isInteger(tagLength) || tagLength < 12 || tagLength > 16) throw invalid(`AES-GCM tag length ${tagLength} bytes is not 12 to 16`);
      const gcmIv = needIv();
      if (gcmIv.length < 1 || gcmIv.length > 128) throw invalid(`AES-GCM IV of ${gcmIv.length} bytes is not 1 to 128 bytes (12 recommended)`);
      const parameter: pkcs11js.AesGCM = { type: A.CK_PARAMS_AES_GCM, iv: gcmIv, ivBits: gcmIv.length * 8, tagBits: tagLength * 8 };
      if (request.aad !== undefined && request.aad.length > 0) parameter.aad = Buffer.from(request.aad);
      return { mechanism: ckm, parameter };
    }
    case "RSA-OAEP": {
      if (iv !== undefined) throw invalid("RSA-OAEP takes no IV/Counter/Nonce");
      const hash = OAEP_HASHES[request.oaepHash ?? "sha1"];
      const mgfHash = OAEP_HASHES[request.oaepMgfHash ?? request.oaepHash ?? "sha1"];
      if (hash === undefined || mgfHash === undefined) throw invalid(`RSA-OAEP hash ${String(request.oaepHash)} (MGF1 ${String(request.oaepMgfHash)}) is not supported`);
      const parameter: pkcs11js.RsaOAEP = { type: A.CK_PARAMS_RSA_OAEP, hashAlg: hash.hashAlg, mgf: mgfHash.mgf, source: CKZ_DATA_SPECIFIED };
      if (request.oaepLabel !== undefined && request.oaepLabel.length > 0) parameter.sourceData = Buffer.from(request.oaepLabel);
      return { mechanism: ckm, parameter };
    }
    default:
      throw new HsmError("UNSUPPORTED", `mechanism ${String(request.mechanism)} is not supported`);
  }
}

/** Data up to this size is ciphered on the event loop; larger data, and RSA, on libuv's thread pool. */
const ON_LOOP_BYTES = 16_384;

/** Why the token refused a key for `what` (encrypt, decrypt, MAC), in terms a client can act on. */
export function refusal(keyId: string, what: "encrypt" | "decrypt" | "mac" | "verify", mechanism: SecretMechanism, error: unknown, allowed?: readonly SecretMechanism[]): unknown {
  if (!(error instanceof HsmError)) return error;
  if (error.ckr === "CKR_KEY_FUNCTION_NOT_PERMITTED") {
    const flag = { encrypt: "CKA_ENCRYPT", decrypt: "CKA_DECRYPT", mac: "CKA_SIGN", verify: "CKA_VERIFY" }[what];
    const usage = { encrypt: "Encrypt", decrypt: "Decrypt", mac: "MAC Generate", verify: "MAC Verify" }[what];
    return new HsmError("PERMISSION_DENIED", `${keyId} may not ${what === "mac" ? "compute a MAC" : what}: its ${flag} is false (the Cryptographic Usage Mask lacks ${usage})`, error.fn, error.ckr);
  }
  if (error.ckr === "CKR_MECHANISM_INVALID" && allowed !== undefined && !allowed.includes(mechanism)) {
    return new HsmError("PERMISSION_DENIED", `${keyId} allows only ${allowed.join(", ")} (its Cryptographic Parameters, CKA_ALLOWED_MECHANISMS), not ${mechanism}`, error.fn, error.ckr);
  }
  // SoftHSM 2.6 does OAEP with SHA-1 and MGF1-SHA-1 and no label only, and says CKR_ARGUMENTS_BAD to anything else.
  if (mechanism === "RSA-OAEP" && (error.ckr === "CKR_ARGUMENTS_BAD" || error.ckr === "CKR_MECHANISM_PARAM_INVALID") && error.fn?.endsWith("Init") === true) {
    return new HsmError("UNSUPPORTED", `${error.message}: the token refuses these OAEP parameters (hash, MGF1 hash or label); SoftHSM 2.6 does SHA-1 without a label only`, error.fn, error.ckr);
  }
  if (error.ckr === "CKR_DATA_LEN_RANGE" || error.ckr === "CKR_ENCRYPTED_DATA_LEN_RANGE") {
    const block =
      mechanism === "AES-ECB" || mechanism === "AES-CBC"
        ? ": without padding the data must be a multiple of 16 bytes"
        : mechanism === "DES3-ECB" || mechanism === "DES3-CBC"
          ? ": without padding the data must be a multiple of 8 bytes"
          : mechanism === "RSA-OAEP" ? ": too long for the key and hash" : "";
    return new HsmError("INVALID_ARGUMENT", `${error.message}${block}`, error.fn, error.ckr);
  }
  // SoftHSM answers a GCM tag that does not verify, and an OAEP block that does not decode, with CKR_GENERAL_ERROR.
  const undecodable = (mechanism === "AES-GCM" || mechanism === "RSA-OAEP") && error.ckr === "CKR_GENERAL_ERROR" && (error.fn === "C_Decrypt" || error.fn === "C_DecryptFinal");
  if (what === "decrypt" && (error.ckr === "CKR_ENCRYPTED_DATA_INVALID" || undecodable)) {
    const why =
      mechanism === "AES-GCM"
        ? "the tag does not verify"
        : mechanism === "RSA-OAEP"
          ? "not this key's ciphertext, or another OAEP hash or label than the request's; none named means SHA-1 without a label"
          : "bad padding or length";
    return new HsmError("CRYPTO_FAILED", `${error.message}: the data does not decrypt with this key (${why})`, error.fn, error.ckr);
  }
  return error;
}

async function run(
  p: pkcs11js.PKCS11,
  session: Session,
  key: KeyObject,
  mechanism: pkcs11js.Mechanism,
  decrypting: boolean,
  input: Buffer,
  outputLength: number,
  onLoop: boolean,
): Promise<Buffer> {
  const [init, call] = decrypting ? (["C_DecryptInit", "C_Decrypt"] as const) : (["C_EncryptInit", "C_Encrypt"] as const);
  p11(init, () => (decrypting ? p.C_DecryptInit(session, mechanism, key.handle) : p.C_EncryptInit(session, mechanism, key.handle)));
  const output = Buffer.allocUnsafe(outputLength);
  try {
    // No data (a GCM tag over nothing, a CBC-PAD block of padding): C_Encrypt takes no empty buffer (CKR_ARGUMENTS_BAD), C_EncryptFinal gives the same output.
    if (!decrypting && input.length === 0) return Buffer.from(p11("C_EncryptFinal", () => p.C_EncryptFinal(session, output)));
    const result = onLoop
      ? p11(call, () => (decrypting ? p.C_Decrypt(session, input, output) : p.C_Encrypt(session, input, output)))
      : await pinned([input, output], () => p11Async(call, () => (decrypting ? p.C_DecryptAsync(session, input, output) : p.C_EncryptAsync(session, input, output))));
    return Buffer.from(result);
  } catch (error) {
    // An operation a refused call left active would refuse the session's next C_EncryptInit (CKR_OPERATION_ACTIVE): end it.
    try {
      if (decrypting) p.C_DecryptFinal(session, Buffer.allocUnsafe(outputLength));
      else p.C_EncryptFinal(session, Buffer.allocUnsafe(outputLength));
    } catch {
      // none was active
    }
    throw error;
  }
}

/** The mechanism with its IV: the request's, or one made (`random`) when it asks for one (`made`, to return). */
export function initialMechanism(request: CipherRequest, decrypting: boolean, random: (length: number) => Buffer): { mechanism: pkcs11js.Mechanism; made?: Buffer } {
  if (request.randomIvLength === undefined) return { mechanism: cipherMechanism(request, request.iv === undefined ? undefined : Buffer.from(request.iv)) };
  if (decrypting) throw invalid("Random IV applies to Encrypt only: Decrypt needs the IV/Counter/Nonce Encrypt returned");
  if (request.iv !== undefined) throw invalid("the request has both Random IV and an IV/Counter/Nonce");
  if (request.mechanism === "AES-ECB" || request.mechanism === "DES3-ECB" || request.mechanism === "RSA-OAEP") throw invalid(`${request.mechanism} takes no IV`);
  const made = random(request.randomIvLength);
  return { mechanism: cipherMechanism(request, made), made };
}

/**
 * One Encrypt or Decrypt. GCM: PKCS#11 appends the tag to the ciphertext
 * (v2.40 Current Mechanisms section 2.12.3), KMIP carries it apart
 * (Authenticated Encryption Tag), so it is cut off here and put back for
 * C_Decrypt. `random` makes an IV (C_GenerateRandom) when the request asks for one.
 */
export async function cipher(
  p: pkcs11js.PKCS11,
  session: Session,
  key: KeyObject,
  request: CipherRequest,
  decrypting: boolean,
  random: (length: number) => Buffer,
): Promise<CipherResult> {
  const { mechanism, made } = initialMechanism(request, decrypting, random);
  let input: Buffer = Buffer.from(request.data);
  const tagLength = request.mechanism === "AES-GCM" ? (request.tagLength ?? 16) : 0;
  if (decrypting && request.mechanism === "AES-GCM") {
    if (request.tag === undefined) throw invalid("AES-GCM Decrypt needs the Authenticated Encryption Tag");
    if (request.tag.length !== tagLength) throw invalid(`the Authenticated Encryption Tag is ${request.tag.length} bytes; the tag length is ${tagLength}`);
    input = Buffer.concat([input, request.tag]);
  }
  const rsa = request.mechanism === "RSA-OAEP";
  const outputLength = input.length + 32 + (rsa ? 1024 : 0);
  const output = await run(p, session, key, mechanism, decrypting, input, outputLength, !rsa && input.length <= ON_LOOP_BYTES);
  if (!decrypting && tagLength > 0) {
    const split = output.length - tagLength;
    return { data: output.subarray(0, split), tag: output.subarray(split), ...(made !== undefined && { iv: made }) };
  }
  return { data: output, ...(made !== undefined && { iv: made }) };
}

/** C_SignInit + C_Sign (or C_VerifyInit + C_Verify) with an HMAC or CMAC mechanism. */
export function macMechanism(algorithm: MacAlgorithm): pkcs11js.Mechanism {
  const ckm = CKM_OF[algorithm];
  if (ckm === undefined) throw new HsmError("UNSUPPORTED", `MAC algorithm ${String(algorithm)} is not supported`);
  return { mechanism: ckm };
}

export function computeMac(p: pkcs11js.PKCS11, session: Session, key: KeyObject, algorithm: MacAlgorithm, data: Buffer): Buffer {
  p11("C_SignInit", () => p.C_SignInit(session, macMechanism(algorithm), key.handle));
  return Buffer.from(p11("C_Sign", () => p.C_Sign(session, data, Buffer.allocUnsafe(64))));
}

/** PKCS#11 v2.40 section 5.13, C_Verify: these two mean "does not verify". */
const NOT_VERIFIED: ReadonlySet<string> = new Set(["CKR_SIGNATURE_INVALID", "CKR_SIGNATURE_LEN_RANGE"]);

export function verifyMac(p: pkcs11js.PKCS11, session: Session, key: KeyObject, algorithm: MacAlgorithm, data: Buffer, mac: Buffer): boolean {
  p11("C_VerifyInit", () => p.C_VerifyInit(session, macMechanism(algorithm), key.handle));
  try {
    return p.C_Verify(session, data, mac);
  } catch (err) {
    const error = hsmErrorOf("C_Verify", err);
    if (error.ckr !== undefined && NOT_VERIFIED.has(error.ckr)) return false;
    throw error;
  }
}

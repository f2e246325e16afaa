// Turning the Cryptographic Parameters (KMIP 1.x 3.6) of an Encrypt, Decrypt,
// MAC or MAC Verify request into the mechanism the HSM layer runs. When the
// request names no mode or algorithm, the key's own Cryptographic Parameters
// apply (4.29: "if not specified, the Cryptographic Parameters attribute of
// the key"), which the relay keeps as CKA_ALLOWED_MECHANISMS (secret-keys.ts)
// and, for an RSA key's OAEP hash, MGF1 hash and label, which PKCS#11 has no
// place for, in the key's metadata (doc/object-model.md#attributes): the key
// is read only then, once per key (key-mechanism-cache.ts), so a request
// that names its mechanism costs one call to the token.
import { type CipherMechanism, type CipherRequest, type HashName, isCipherMechanism, type MacAlgorithm, type SecretMechanism } from "../hsm/crypto-types.js";
import type { CryptographicParameters } from "../kmip/attributes.js";
import { KmipError } from "../kmip/errors.js";
import { BlockCipherMode, CryptographicAlgorithm, HashingAlgorithm, PaddingMethod, ResultReason } from "../ttlv/enums.js";
import type { OperationContext } from "./operation.js";
import { aesMechanism, des3Mechanism } from "./secret-keys.js";
import { keyMechanisms, rememberOfKey } from "../hsm/key-mechanism-cache.js";
import { stored, storedModel } from "./managed-object.js";

const invalid = (message: string) => new KmipError(ResultReason.InvalidField, message);

const OAEP_HASHES: ReadonlyMap<number, "sha1" | HashName> = new Map([
  [HashingAlgorithm.SHA1, "sha1"],
  [HashingAlgorithm.SHA256, "sha256"],
  [HashingAlgorithm.SHA384, "sha384"],
  [HashingAlgorithm.SHA512, "sha512"],
]);

const MACS: ReadonlyMap<number, MacAlgorithm> = new Map([
  [CryptographicAlgorithm.HMACSHA1, "HMAC-SHA1"],
  [CryptographicAlgorithm.HMACSHA256, "HMAC-SHA256"],
  [CryptographicAlgorithm.HMACSHA384, "HMAC-SHA384"],
  [CryptographicAlgorithm.HMACSHA512, "HMAC-SHA512"],
]);

/** The mechanism the parameters name by themselves, or undefined when they leave it to the key. */
function namedCipher(params: CryptographicParameters | undefined): CipherMechanism | undefined {
  if (params === undefined) return undefined;
  const algorithm = params.cryptographicAlgorithm;
  if (algorithm === CryptographicAlgorithm.RSA || params.paddingMethod === PaddingMethod.OAEP) {
    if (params.paddingMethod !== undefined && params.paddingMethod !== PaddingMethod.OAEP) {
      throw invalid(`RSA encryption is supported with OAEP padding only, not Padding Method ${params.paddingMethod}`);
    }
    return "RSA-OAEP";
  }
  if (algorithm === CryptographicAlgorithm.TripleDES) return des3Mechanism(params.blockCipherMode, params.paddingMethod) as CipherMechanism | undefined;
  if (algorithm !== undefined && algorithm !== CryptographicAlgorithm.AES) {
    throw invalid(`Cryptographic Algorithm ${algorithm} cannot encrypt here (AES, Triple DES, or RSA with OAEP)`);
  }
  const mechanism = aesMechanism(params.blockCipherMode, params.paddingMethod);
  if (mechanism === "AES-CMAC") throw invalid("CMAC is a MAC, not a cipher: use the MAC operation");
  return mechanism as CipherMechanism | undefined;
}

/** The one mechanism of `kind` the key allows, or undefined. */
function keyDefault(allowed: readonly SecretMechanism[] | undefined, cipher: boolean): SecretMechanism | undefined {
  const candidates = (allowed ?? []).filter((m) => isCipherMechanism(m) === cipher);
  return candidates.length === 1 ? candidates[0] : undefined;
}

/** What the request leaves to the key, read from the token once per key (src/hsm/key-mechanism-cache.ts). */
async function keyMechanism(context: OperationContext, id: string, cipher: boolean): Promise<SecretMechanism> {
  const key = await keyMechanisms(context.backend, context.slot.slotId, id);
  if (cipher && key.keyType === "RSA") return "RSA-OAEP";
  const found = keyDefault(key.secretMechanisms, cipher);
  if (found !== undefined) return found;
  throw new KmipError(
    ResultReason.MissingData,
    cipher
      ? `the request names no Block Cipher Mode and ${id} has no Cryptographic Parameters naming one; send Cryptographic Parameters`
      : `the request names no MAC algorithm and ${id} has none of its own; send Cryptographic Parameters with a Cryptographic Algorithm (HMAC-SHA256, ...)`,
  );
}

/** The OAEP parameters a key keeps in its model (managed-object.ts), read once per key; undefined: none (OAEP SHA-1 without a label). */
async function keyOaepParameters(context: OperationContext, id: string): Promise<CryptographicParameters | undefined> {
  return rememberOfKey(context.backend, context.slot.slotId, id, "oaep", async () => stored(await storedModel(context, id), "Cryptographic Parameters"));
}

/** The hash, MGF1 hash and label of OAEP parameters; `whose` tells the client where refused parameters came from. */
function oaepOf(params: CryptographicParameters, whose: string): { oaepHash: "sha1" | HashName; oaepMgfHash?: "sha1" | HashName; oaepLabel?: Uint8Array } {
  const hash = params.hashingAlgorithm;
  const oaepHash = hash === undefined ? "sha1" : OAEP_HASHES.get(hash);
  if (oaepHash === undefined) throw invalid(`Hashing Algorithm ${hash}${whose} is not supported for OAEP (SHA-1, SHA-256, SHA-384, SHA-512)`);
  const mgf = params.maskGeneratorHashingAlgorithm;
  const oaepMgfHash = mgf === undefined ? undefined : OAEP_HASHES.get(mgf);
  if (mgf !== undefined && oaepMgfHash === undefined) throw invalid(`Mask Generator Hashing Algorithm ${mgf}${whose} is not supported for OAEP (SHA-1, SHA-256, SHA-384, SHA-512)`);
  return { oaepHash, ...(oaepMgfHash !== undefined && oaepMgfHash !== oaepHash && { oaepMgfHash }), ...(params.pSource !== undefined && { oaepLabel: params.pSource }) };
}

/** Default IV lengths in bytes: a block for CBC and CTR, 96 bits for GCM (NIST SP 800-38D section 5.2.1.1). */
const DEFAULT_IV_LENGTH: Readonly<Partial<Record<CipherMechanism, number>>> = { "AES-CBC": 16, "AES-CBC-PAD": 16, "AES-CTR": 16, "AES-GCM": 12, "DES3-CBC": 8, "DES3-CBC-PAD": 8 };

/** The parts of an Encrypt or Decrypt request that become a CipherRequest. */
export interface CipherFields {
  readonly cryptographicParameters?: CryptographicParameters;
  readonly data?: Uint8Array;
  readonly ivCounterNonce?: Uint8Array;
  readonly authenticatedEncryptionAdditionalData?: Uint8Array;
  readonly authenticatedEncryptionTag?: Uint8Array;
}

/** Whether the request asks for AES-ECB with PKCS#5 padding, which the relay adds (Encrypt) and removes (ecbUnpad) around CKM_AES_ECB. */
export function ecbPadded(params: CryptographicParameters | undefined): boolean {
  return params?.blockCipherMode === BlockCipherMode.ECB && params.paddingMethod === PaddingMethod.Pkcs5;
}

/** PKCS#5 padding (RFC 8018 section 6.1.1) to the AES block. */
function ecbPad(data: Uint8Array): Buffer {
  const count = 16 - (data.length % 16);
  return Buffer.concat([data, Buffer.alloc(count, count)]);
}

/** The plaintext without its PKCS#5 padding; bad padding does not decrypt (Invalid Field, as the token's own padding check). */
export function ecbUnpad(data: Uint8Array): Uint8Array {
  const count = data[data.length - 1] ?? 0;
  const padding = data.subarray(data.length - count);
  if (data.length % 16 !== 0 || count < 1 || count > 16 || padding.some((byte) => byte !== count)) {
    throw invalid("the data does not decrypt with this key: its PKCS#5 padding is wrong");
  }
  return data.subarray(0, data.length - count);
}

export async function cipherRequest(context: OperationContext, id: string, fields: CipherFields, decrypting: boolean): Promise<CipherRequest> {
  const params = fields.cryptographicParameters;
  if (fields.data === undefined) throw new KmipError(ResultReason.MissingData, `${decrypting ? "Decrypt" : "Encrypt"} needs Data`);
  const named = namedCipher(params);
  const mechanism = named ?? ((await keyMechanism(context, id, true)) as CipherMechanism);
  const gcm = mechanism === "AES-GCM";
  if (!gcm && (fields.authenticatedEncryptionAdditionalData !== undefined || fields.authenticatedEncryptionTag !== undefined)) {
    throw invalid(`Authenticated Encryption Additional Data and Tag belong to GCM, not ${mechanism}`);
  }
  const needsIv = mechanism !== "AES-ECB" && mechanism !== "DES3-ECB" && mechanism !== "RSA-OAEP";
  // The key's own mode with no IV given: the token makes one, as Random IV would (its Cryptographic Parameters apply, 4.29).
  const randomIv = !decrypting && (params?.randomIv === true || (named === undefined && needsIv && fields.ivCounterNonce === undefined));
  // IV Length (bits) sizes a Random IV only; a given IV/Counter/Nonce is its own length (OpenBao's seal sends IV Length 12 with a 12-byte IV).
  if (randomIv && params?.ivLength !== undefined && params.ivLength % 8 !== 0) throw invalid(`IV Length ${params.ivLength} is not a whole number of bytes (it is in bits)`);
  if (randomIv && fields.ivCounterNonce !== undefined) throw invalid("the request has both Random IV true and an IV/Counter/Nonce");
  if (needsIv && !randomIv && fields.ivCounterNonce === undefined) {
    // A Decrypt without its IV is Invalid Message, as the OASIS block-cipher test cases answer it (CS-BC-M-11/12/13-14).
    if (decrypting) throw new KmipError(ResultReason.InvalidMessage, `${mechanism} needs the IV/Counter/Nonce the data was encrypted with`);
    throw new KmipError(ResultReason.MissingData, `${mechanism} needs an IV/Counter/Nonce, or Random IV true in the Cryptographic Parameters`);
  }
  if (params?.initialCounterValue !== undefined || params?.fixedFieldLength !== undefined || params?.invocationFieldLength !== undefined) {
    throw new KmipError(ResultReason.FeatureNotSupported, "Initial Counter Value, Fixed Field Length and Invocation Field Length are not supported: send the whole IV/Counter/Nonce");
  }
  let oaep: { oaepHash: "sha1" | HashName; oaepMgfHash?: "sha1" | HashName; oaepLabel?: Uint8Array } | undefined;
  if (mechanism === "RSA-OAEP") {
    // A request that leaves the mechanism to the key takes the key's own OAEP parameters where it names none (4.29, 4.30).
    const own = named === undefined ? await keyOaepParameters(context, id) : undefined;
    oaep = oaepOf({ ...own, ...params }, own === undefined ? "" : ` (${id} was registered with it)`);
  }
  return {
    mechanism,
    data: !decrypting && ecbPadded(params) ? ecbPad(fields.data) : fields.data,
    ...(fields.ivCounterNonce !== undefined && { iv: fields.ivCounterNonce }),
    ...(randomIv && { randomIvLength: params?.ivLength !== undefined ? params.ivLength / 8 : DEFAULT_IV_LENGTH[mechanism]! }),
    ...(mechanism === "AES-CTR" && params?.counterLength !== undefined && { counterBits: params.counterLength }),
    ...(gcm && fields.authenticatedEncryptionAdditionalData !== undefined && { aad: fields.authenticatedEncryptionAdditionalData }),
    ...(gcm && params?.tagLength !== undefined && { tagLength: params.tagLength }),
    ...(gcm && fields.authenticatedEncryptionTag !== undefined && { tag: fields.authenticatedEncryptionTag, tagLength: params?.tagLength ?? fields.authenticatedEncryptionTag.length }),
    ...oaep,
  };
}

/** The MAC algorithm a MAC or MAC Verify request asks for, else the key's own. */
export async function macAlgorithm(context: OperationContext, id: string, params: CryptographicParameters | undefined): Promise<MacAlgorithm> {
  const algorithm = params?.cryptographicAlgorithm;
  if (algorithm !== undefined) {
    const mac = MACS.get(algorithm);
    if (mac !== undefined) return mac;
    if (algorithm === CryptographicAlgorithm.AES && (params?.blockCipherMode === undefined || params.blockCipherMode === BlockCipherMode.Cmac)) return "AES-CMAC";
    throw invalid(`Cryptographic Algorithm ${algorithm} is not a MAC here (HMAC-SHA1/256/384/512, or AES with Block Cipher Mode CMAC)`);
  }
  if (params?.blockCipherMode === BlockCipherMode.Cmac) return "AES-CMAC";
  if (params?.blockCipherMode !== undefined) throw invalid(`Block Cipher Mode ${params.blockCipherMode} is not a MAC (CMAC)`);
  return (await keyMechanism(context, id, false)) as MacAlgorithm;
}

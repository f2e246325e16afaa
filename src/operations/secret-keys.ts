// Symmetric Keys (KMIP 1.x 2.2.2) as PKCS#11 secret keys (CKO_SECRET_KEY):
// what a Create template asks for, in the HSM layer's terms, and the KMIP
// view of a secret key (its Cryptographic Algorithm).
//
// - Cryptographic Algorithm AES makes a CKK_AES key (128, 192 or 256 bits);
//   Triple DES a CKK_DES3 key (168 bits, 192 with parity) or, for 112 bits,
//   a CKK_DES2 key (two keys, 128 bits with parity);
//   HMAC-SHA1/256/384/512 a CKK_GENERIC_SECRET key whose
//   CKA_ALLOWED_MECHANISMS name that one HMAC, so the token itself keeps
//   the algorithm and refuses any other use.
// - Cryptographic Usage Mask sets CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP,
//   CKA_UNWRAP, CKA_SIGN (Sign, MAC Generate), CKA_VERIFY (Verify, MAC
//   Verify) and CKA_DERIVE: exactly the flags granted are true, all others
//   false. A bit without a PKCS#11 flag is refused rather than dropped.
// - Cryptographic Parameters (a Block Cipher Mode and Padding Method) become
//   CKA_ALLOWED_MECHANISMS: Encrypt and Decrypt without parameters use that
//   mechanism, and the token refuses the key any other.
// - Extractable (KMIP 1.4 3.48) true makes CKA_SENSITIVE false and
//   CKA_EXTRACTABLE true, so Get can read the value; otherwise the key is
//   CKA_SENSITIVE true, CKA_EXTRACTABLE false and never leaves the token.
//   The token's [tokens] key-export policy may change the default or refuse
//   export (key-export.ts, README "Key export").
// - Name becomes CKA_LABEL.
// - Activation Date, Deactivation Date, Object Group, Contact Information and
//   x- attributes go to the key's model (managed-object.ts): a key is
//   Pre-Active, its CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN and CKA_VERIFY false,
//   until it is activated (secret-usage.ts).
import type { MacAlgorithm, SecretMechanism } from "../hsm/crypto-types.js";
import type { KeyDescription, SecretKeyRequest } from "../hsm/key-types.js";
import { type Attribute, attributeValue, attributeValues, type CryptographicParameters } from "../kmip/attributes.js";
import { KmipError } from "../kmip/errors.js";
import { maskNames } from "../ttlv/names.js";
import { BlockCipherMode, CryptographicAlgorithm, CryptographicUsageMask, PaddingMethod, ResultReason } from "../ttlv/enums.js";
import { Tag } from "../ttlv/tags.js";
import { createExport, type TokenKeyExport } from "./key-export.js";
import { templateLabel } from "./keys.js";

const invalid = (message: string) => new KmipError(ResultReason.InvalidField, message);

/** HMAC algorithms: the KMIP value, the relay's name and the default key length (the hash's output, RFC 2104 section 3). */
const HMACS: ReadonlyMap<number, { name: MacAlgorithm; bits: number }> = new Map([
  [CryptographicAlgorithm.HMACSHA1, { name: "HMAC-SHA1", bits: 160 }],
  [CryptographicAlgorithm.HMACSHA256, { name: "HMAC-SHA256", bits: 256 }],
  [CryptographicAlgorithm.HMACSHA384, { name: "HMAC-SHA384", bits: 384 }],
  [CryptographicAlgorithm.HMACSHA512, { name: "HMAC-SHA512", bits: 512 }],
]);
const ALGORITHM_OF_HMAC: ReadonlyMap<SecretMechanism, number> = new Map([...HMACS].map(([value, { name }]) => [name, value]));

/** Usage Mask bits and the PKCS#11 flag each sets (PKCS#11 v2.40 section 4.10). */
const USAGE_FLAGS: readonly (readonly [number, keyof SecretKeyRequest["usage"]])[] = [
  [CryptographicUsageMask.Encrypt, "encrypt"],
  [CryptographicUsageMask.Decrypt, "decrypt"],
  [CryptographicUsageMask.WrapKey, "wrap"],
  [CryptographicUsageMask.UnwrapKey, "unwrap"],
  [CryptographicUsageMask.Sign, "sign"],
  [CryptographicUsageMask.MacGenerate, "sign"],
  [CryptographicUsageMask.Verify, "verify"],
  [CryptographicUsageMask.MacVerify, "verify"],
  [CryptographicUsageMask.DeriveKey, "derive"],
];
/** Export (KMIP 1.x 3.19) has no usage flag: whether a key may leave is CKA_EXTRACTABLE, decided with Extractable (key-export.ts). */
const MAPPED_BITS = USAGE_FLAGS.reduce<number>((mask, [bit]) => mask | bit, CryptographicUsageMask.Export);

/** The attributes Create takes for a Symmetric Key; any other is refused by name. */
const CREATE_ATTRIBUTES: ReadonlySet<string> = new Set([
  "Cryptographic Algorithm",
  "Cryptographic Length",
  "Cryptographic Usage Mask",
  "Cryptographic Parameters",
  "Name",
  "Extractable",
  "Sensitive",
  // Kept in the key's model (managed-object.ts):
  "Activation Date",
  "Deactivation Date",
  "Object Group",
  "Contact Information",
]);

/** The usage flags of a Cryptographic Usage Mask; bits without a PKCS#11 flag are refused. */
export function usageOfMask(mask: number): SecretKeyRequest["usage"] {
  const unmapped = mask & ~MAPPED_BITS;
  if (unmapped !== 0) {
    throw invalid(`Cryptographic Usage Mask ${maskNames(Tag.CryptographicUsageMask, unmapped)?.join(", ") ?? unmapped} has no PKCS#11 counterpart for a secret key`);
  }
  const usage = { sign: false, verify: false, encrypt: false, decrypt: false, wrap: false, unwrap: false, derive: false };
  for (const [bit, flag] of USAGE_FLAGS) if ((mask & bit) !== 0) usage[flag] = true;
  return usage;
}

/** The cipher mechanism a Block Cipher Mode and Padding Method name, for an AES key. */
export function aesMechanism(mode: number | undefined, padding: number | undefined): SecretMechanism | undefined {
  const unpadded = padding === undefined || padding === PaddingMethod.None;
  switch (mode) {
    case undefined:
      return undefined;
    case BlockCipherMode.ECB:
      // PKCS#11 has no padded ECB: PKCS#5 padding is added and removed by the relay (ciphers.ts).
      if (!unpadded && padding !== PaddingMethod.Pkcs5) throw invalid(`Padding Method ${padding} is not supported with ECB (PKCS5 or None)`);
      return "AES-ECB";
    case BlockCipherMode.CBC:
      if (padding === PaddingMethod.Pkcs5) return "AES-CBC-PAD";
      if (!unpadded) throw invalid(`Padding Method ${padding} is not supported with CBC (PKCS5 or None)`);
      return "AES-CBC";
    case BlockCipherMode.CTR:
    case BlockCipherMode.GCM:
      if (!unpadded) throw invalid("CTR and GCM take no padding");
      return mode === BlockCipherMode.CTR ? "AES-CTR" : "AES-GCM";
    case BlockCipherMode.Cmac:
      return "AES-CMAC";
    default:
      throw invalid(`Block Cipher Mode ${mode} is not supported (ECB, CBC, CTR, GCM; CMAC for MAC)`);
  }
}

/** Triple DES modes (PKCS#11 v2.40 Current Mechanisms section 2.20): ECB and CBC, CBC with PKCS#5 padding. */
const DES3_MODES: ReadonlyMap<SecretMechanism, SecretMechanism> = new Map([
  ["AES-ECB", "DES3-ECB"],
  ["AES-CBC", "DES3-CBC"],
  ["AES-CBC-PAD", "DES3-CBC-PAD"],
]);

/** The cipher mechanism a Block Cipher Mode and Padding Method name, for a Triple DES key. */
export function des3Mechanism(mode: number | undefined, padding: number | undefined): SecretMechanism | undefined {
  if (mode === BlockCipherMode.ECB && padding === PaddingMethod.Pkcs5) throw invalid("Triple DES in ECB mode takes no padding here (use CBC with PKCS5)");
  const aes = aesMechanism(mode, padding);
  if (aes === undefined) return undefined;
  const des3 = DES3_MODES.get(aes);
  if (des3 === undefined) throw invalid(`Block Cipher Mode ${mode} is not supported with Triple DES (ECB, CBC)`);
  return des3;
}

/** CKA_ALLOWED_MECHANISMS from the Cryptographic Parameters of a Create template. */
function allowedOf(algorithm: "AES" | "DES3" | MacAlgorithm, params: readonly CryptographicParameters[]): SecretMechanism[] | undefined {
  if (algorithm !== "AES" && algorithm !== "DES3") return [algorithm];
  const mode = algorithm === "AES" ? aesMechanism : des3Mechanism;
  const mechanisms = params.map((p) => mode(p.blockCipherMode, p.paddingMethod)).filter((m): m is SecretMechanism => m !== undefined);
  return mechanisms.length === 0 ? undefined : [...new Set(mechanisms)];
}

/** The C_GenerateKey request for a Create of a Symmetric Key with these attributes. */
export function secretKeyRequest(attributes: readonly Attribute[], keyExport?: TokenKeyExport): SecretKeyRequest {
  for (const attribute of attributes) {
    if (!CREATE_ATTRIBUTES.has(attribute.name) && !attribute.name.startsWith("x-")) {
      throw new KmipError(
        ResultReason.InvalidField,
        `attribute "${attribute.name}" cannot be kept on a secret key here; Create takes ${[...CREATE_ATTRIBUTES].join(", ")} and x- attributes`,
      );
    }
  }
  const algorithm = attributeValue(attributes, "Cryptographic Algorithm");
  const length = attributeValue(attributes, "Cryptographic Length");
  let keyType: SecretKeyRequest["keyType"];
  let name: "AES" | "DES3" | MacAlgorithm;
  let bits: number;
  if (algorithm === CryptographicAlgorithm.AES) {
    if (length === undefined) throw new KmipError(ResultReason.MissingData, "an AES key needs a Cryptographic Length (128, 192 or 256)");
    if (length !== 128 && length !== 192 && length !== 256) throw invalid(`AES Cryptographic Length ${length} is not supported (128, 192 or 256)`);
    [keyType, name, bits] = ["AES", "AES", length];
  } else if (algorithm === CryptographicAlgorithm.TripleDES) {
    // Bits of key (168: three keys, 112: two); some clients count the parity bits (192, 128).
    const keyBits = length === 192 ? 168 : length === 128 ? 112 : (length ?? 168);
    if (keyBits !== 168 && keyBits !== 112) throw invalid(`Triple DES Cryptographic Length ${length} is not supported (168: three keys, 112: two)`);
    [keyType, name, bits] = ["DES3", "DES3", keyBits === 168 ? 192 : 128];
  } else {
    const hmac = algorithm === undefined ? undefined : HMACS.get(algorithm);
    if (hmac === undefined) {
      if (algorithm === undefined) throw new KmipError(ResultReason.MissingData, "Create needs a Cryptographic Algorithm (AES, Triple DES or HMAC-SHA1/256/384/512)");
      throw invalid(`Cryptographic Algorithm ${algorithm} cannot make a symmetric key here (AES, Triple DES or HMAC-SHA1/256/384/512)`);
    }
    bits = length ?? hmac.bits;
    // RFC 2104 section 3: keys shorter than the hash output weaken the MAC; PKCS#11 modules refuse them (CKR_KEY_SIZE_RANGE).
    if (bits < hmac.bits || bits % 8 !== 0 || bits > 4096) throw invalid(`${hmac.name} Cryptographic Length ${bits} is not supported (a multiple of 8 from ${hmac.bits} to 4096)`);
    [keyType, name] = ["GenericSecret", hmac.name];
  }
  const mask = attributeValue(attributes, "Cryptographic Usage Mask");
  if (mask === undefined) throw new KmipError(ResultReason.MissingData, "Create needs a Cryptographic Usage Mask: it decides what the key may do (CKA_ENCRYPT, CKA_SIGN, ...)");
  const label = templateLabel(attributes);
  const { extractable, sensitive } = createExport(attributes, keyExport);
  const allowedMechanisms = allowedOf(name, attributeValues(attributes, "Cryptographic Parameters"));
  return {
    keyType,
    bits,
    usage: usageOfMask(mask),
    extractable,
    ...(extractable && sensitive && { sensitive }),
    ...(label !== undefined && { label }),
    ...(allowedMechanisms !== undefined && { allowedMechanisms }),
  };
}

/** The KMIP Cryptographic Algorithm of a secret key: AES, Triple DES, or the HMAC its CKA_ALLOWED_MECHANISMS names. */
export function secretAlgorithmOf(key: Pick<KeyDescription, "keyType" | "secretMechanisms">): number | undefined {
  if (key.keyType === "AES") return CryptographicAlgorithm.AES;
  if (key.keyType === "DES3") return CryptographicAlgorithm.TripleDES;
  if (key.keyType !== "GenericSecret") return undefined;
  const hmacs = (key.secretMechanisms ?? []).map((m) => ALGORITHM_OF_HMAC.get(m)).filter((a) => a !== undefined);
  return hmacs.length === 1 ? hmacs[0] : undefined;
}

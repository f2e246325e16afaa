// C_CreateObject templates for keys a client brings (KMIP Register). The
// object is what C_GenerateKeyPair would have made (templates.ts): on the
// token, a private key private, sensitive and never extractable (PKCS#11
// v2.40 section 4.9: CKA_SENSITIVE and CKA_EXTRACTABLE, so the material
// cannot leave the token again), and every usage flag of its class set
// explicitly, true only where the request grants it.
//
// CKA_ALLOWED_MECHANISMS (PKCS#11 v2.40 section 4.6) carries the
// Cryptographic Parameters a key was registered with, the one place a token
// keeps them for every relay: the raw mechanism the relay signs with and the
// hash-specific one that names the hash (CKM_RSA_PKCS_PSS and
// CKM_SHA256_RSA_PKCS_PSS for PSS with SHA-256). The token enforces the list,
// so such a key signs only in its family; signature.ts reads the list back as
// the key's defaults (defaultsOfMechanisms).
import { createHash } from "node:crypto";
import pkcs11js from "pkcs11js";
import type { HashName, SignatureFamily } from "./crypto-types.js";
import { HsmError } from "./hsm-error.js";
import type { ImportKeyMaterial, KeyImportRequest, KeyUsage } from "./key-types.js";
import { CURVES } from "./ec.js";
import {
  CKK_EC,
  CKK_RSA,
  CKM_ECDSA,
  CKM_ECDSA_SHA1,
  CKM_ECDSA_SHA256,
  CKM_ECDSA_SHA384,
  CKM_ECDSA_SHA512,
  CKM_RSA_PKCS,
  CKM_RSA_PKCS_PSS,
  CKM_SHA1_RSA_PKCS,
  CKM_SHA1_RSA_PKCS_PSS,
  CKM_SHA256_RSA_PKCS,
  CKM_SHA256_RSA_PKCS_PSS,
  CKM_SHA384_RSA_PKCS,
  CKM_SHA384_RSA_PKCS_PSS,
  CKM_SHA512_RSA_PKCS,
  CKM_SHA512_RSA_PKCS_PSS,
} from "./mechanisms.js";

const A = pkcs11js;

/** The usage flags of each class (PKCS#11 v2.40 sections 4.8, 4.9), in template order. */
const USAGE_FLAGS = {
  public: [
    ["verify", A.CKA_VERIFY],
    ["encrypt", A.CKA_ENCRYPT],
    ["wrap", A.CKA_WRAP],
    ["derive", A.CKA_DERIVE],
  ],
  private: [
    ["sign", A.CKA_SIGN],
    ["decrypt", A.CKA_DECRYPT],
    ["unwrap", A.CKA_UNWRAP],
    ["derive", A.CKA_DERIVE],
  ],
} as const satisfies Record<string, readonly (readonly [keyof KeyUsage, number])[]>;

/** Raw and hash-specific mechanism per signature family and hash (PKCS#11 v2.40 Current Mechanisms 2.1, 2.3). */
const MECHANISMS: Readonly<Record<Exclude<SignatureFamily, "EdDSA">, { raw: number; hashed: Readonly<Record<HashName, number>> }>> = {
  "RSA-PKCS1": { raw: CKM_RSA_PKCS, hashed: { sha1: CKM_SHA1_RSA_PKCS, sha256: CKM_SHA256_RSA_PKCS, sha384: CKM_SHA384_RSA_PKCS, sha512: CKM_SHA512_RSA_PKCS } },
  "RSA-PSS": {
    raw: CKM_RSA_PKCS_PSS,
    hashed: { sha1: CKM_SHA1_RSA_PKCS_PSS, sha256: CKM_SHA256_RSA_PKCS_PSS, sha384: CKM_SHA384_RSA_PKCS_PSS, sha512: CKM_SHA512_RSA_PKCS_PSS },
  },
  ECDSA: { raw: CKM_ECDSA, hashed: { sha1: CKM_ECDSA_SHA1, sha256: CKM_ECDSA_SHA256, sha384: CKM_ECDSA_SHA384, sha512: CKM_ECDSA_SHA512 } },
};

/** CKA_ALLOWED_MECHANISMS for a key registered with these signature defaults. */
export function allowedMechanismsOf(family: Exclude<SignatureFamily, "EdDSA">, hash: HashName | undefined): number[] {
  const { raw, hashed } = MECHANISMS[family];
  return hash === undefined ? [raw] : [raw, hashed[hash]];
}

/** The signature defaults a CKA_ALLOWED_MECHANISMS list records (allowedMechanismsOf), or undefined when it records none. */
export function defaultsOfMechanisms(mechanisms: readonly number[] | undefined): { family: SignatureFamily; hash?: HashName } | undefined {
  if (mechanisms === undefined || mechanisms.length === 0 || mechanisms.length > 2) return undefined;
  for (const [family, { raw, hashed }] of Object.entries(MECHANISMS) as [Exclude<SignatureFamily, "EdDSA">, (typeof MECHANISMS)["ECDSA"]][]) {
    if (!mechanisms.includes(raw)) continue;
    const other = mechanisms.find((m) => m !== raw);
    if (other === undefined) return { family };
    const hash = (Object.keys(hashed) as HashName[]).find((name) => hashed[name] === other);
    return hash === undefined ? undefined : { family, hash };
  }
  return undefined;
}

/** CK_MECHANISM_TYPE[] as the module reads it: native-endian CK_ULONGs (64-bit on the platforms the relay runs on). */
export function encodeMechanismList(mechanisms: readonly number[]): Buffer {
  const out = Buffer.alloc(8 * mechanisms.length);
  mechanisms.forEach((m, i) => out.writeBigUInt64LE(BigInt(m), 8 * i));
  return out;
}

export function decodeMechanismList(value: Buffer): number[] | undefined {
  if (value.length % 8 !== 0) return undefined;
  const out: number[] = [];
  for (let i = 0; i < value.length; i += 8) out.push(Number(value.readBigUInt64LE(i)));
  return out;
}

/** A DER OCTET STRING around `bytes` (CKA_EC_POINT, PKCS#11 v2.40 section 2.3.3). */
export function derOctetString(bytes: Uint8Array): Buffer {
  const n = bytes.length;
  const header = n < 0x80 ? [0x04, n] : n < 0x100 ? [0x04, 0x81, n] : [0x04, 0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from(header), bytes]);
}

/**
 * The CKA_ID an EC private key registered alone takes: the SHA-1 of its
 * public point. PKCS#11 keeps no public point on an EC private key, so this
 * is how a public key registered later finds the private key of its pair.
 */
export function ecPairCkaId(ecPoint: Uint8Array): Buffer {
  return createHash("sha1").update(ecPoint).digest();
}

/** The public part of the material: what a partner object of the pair must have. */
export function publicPartOf(material: ImportKeyMaterial): { modulus?: Buffer; ecPoint?: Buffer } {
  if (material.keyType === "RSA") return { modulus: Buffer.from(material.modulus) };
  return { ecPoint: Buffer.from(material.ecPoint) };
}

/** The C_CreateObject template of the key `request` describes, with CKA_ID `ckaId`. */
export function importTemplate(request: KeyImportRequest, ckaId: Buffer): pkcs11js.Template {
  const { material } = request;
  const objectClass = material.objectClass;
  const template: pkcs11js.Template = [
    { type: A.CKA_CLASS, value: objectClass === "private" ? A.CKO_PRIVATE_KEY : A.CKO_PUBLIC_KEY },
    { type: A.CKA_TOKEN, value: true },
    { type: A.CKA_ID, value: ckaId },
  ];
  if (objectClass === "private") {
    template.push({ type: A.CKA_PRIVATE, value: true }, { type: A.CKA_SENSITIVE, value: true }, { type: A.CKA_EXTRACTABLE, value: false });
  }
  if (request.label !== undefined) template.push({ type: A.CKA_LABEL, value: Buffer.from(request.label, "utf8") });
  for (const [name, type] of USAGE_FLAGS[objectClass]) template.push({ type, value: request.usage[name] === true });
  if (request.allowedMechanisms !== undefined) {
    template.push({ type: A.CKA_ALLOWED_MECHANISMS, value: encodeMechanismList(request.allowedMechanisms) });
  }
  const big = (bytes: Uint8Array) => Buffer.from(bytes);
  switch (material.keyType) {
    case "RSA":
      template.push({ type: A.CKA_KEY_TYPE, value: CKK_RSA }, { type: A.CKA_MODULUS, value: big(material.modulus) }, { type: A.CKA_PUBLIC_EXPONENT, value: big(material.publicExponent) });
      if (material.objectClass === "private") {
        template.push(
          { type: A.CKA_PRIVATE_EXPONENT, value: big(material.privateExponent) },
          { type: A.CKA_PRIME_1, value: big(material.prime1) },
          { type: A.CKA_PRIME_2, value: big(material.prime2) },
          { type: A.CKA_EXPONENT_1, value: big(material.exponent1) },
          { type: A.CKA_EXPONENT_2, value: big(material.exponent2) },
          { type: A.CKA_COEFFICIENT, value: big(material.coefficient) },
        );
      }
      return template;
    case "EC": {
      // Widened: the request may come from outside the type system (a forwarded call).
      const curve: string = material.curve;
      if (!(curve === "P-256" || curve === "P-384" || curve === "P-521")) {
        throw new HsmError("UNSUPPORTED", `C_CreateObject: curve ${curve} is not supported for ECDSA keys`, "C_CreateObject");
      }
      template.push({ type: A.CKA_KEY_TYPE, value: CKK_EC }, { type: A.CKA_EC_PARAMS, value: CURVES[curve].oid });
      if (material.objectClass === "private") template.push({ type: A.CKA_VALUE, value: big(material.value) });
      else template.push({ type: A.CKA_EC_POINT, value: derOctetString(material.ecPoint) });
      return template;
    }
    default:
      throw new HsmError("UNSUPPORTED", `C_CreateObject: key type ${String((material as { keyType: unknown }).keyType)} is not supported`, "C_CreateObject");
  }
}

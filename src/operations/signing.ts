// Choosing and preparing a signature: from the request's Cryptographic
// Parameters (KMIP 1.x 3.6) and the key's type to a PKCS#11 mechanism and the
// exact bytes it signs. Shared by Sign and Signature Verify.
//
// The relay hashes the data itself (doc/compatibility.md#sign) and asks the token for the raw
// mechanisms (CKM_RSA_PKCS on a DigestInfo, CKM_RSA_PKCS_PSS and CKM_ECDSA on
// a digest, CKM_EDDSA on the message), so one mechanism per key type serves
// every hash, and Digested Data (1.4) needs no special case.
import { hash as digestOf } from "node:crypto";
import type { KeyType, SignMechanism } from "../hsm/backend.js";
import {
  CKG_MGF1_SHA256,
  CKG_MGF1_SHA384,
  CKG_MGF1_SHA512,
  CKM_ECDSA,
  CKM_EDDSA,
  CKM_RSA_PKCS,
  CKM_RSA_PKCS_PSS,
  CKM_SHA256,
  CKM_SHA384,
  CKM_SHA512,
} from "../hsm/mechanisms.js";
import type { CryptographicParameters } from "../kmip/attributes.js";
import { KmipError } from "../kmip/errors.js";
import type { ProtocolVersion } from "../kmip/message.js";
import {
  CryptographicAlgorithm,
  DigitalSignatureAlgorithm,
  HashingAlgorithm,
  MaskGenerator,
  PaddingMethod,
  ResultReason,
} from "../ttlv/enums.js";
import { atLeast } from "../kmip/versions.js";

export type SignatureFamily = "RSA-PKCS1" | "RSA-PSS" | "ECDSA" | "EdDSA";
export type HashName = "sha256" | "sha384" | "sha512";

export interface SignatureScheme {
  readonly family: SignatureFamily;
  /** The digest signed (absent for EdDSA, which signs the message itself). */
  readonly hash?: HashName;
  readonly mechanism: SignMechanism;
}

interface HashInfo {
  readonly name: HashName;
  readonly kmip: number;
  readonly length: number;
  readonly ckm: number;
  readonly mgf: number;
  /** DER of DigestInfo (RFC 8017 section 9.2, note 1) up to the digest itself. */
  readonly digestInfoPrefix: Buffer;
}

const HASHES: readonly HashInfo[] = [
  { name: "sha256", kmip: HashingAlgorithm.SHA256, length: 32, ckm: CKM_SHA256, mgf: CKG_MGF1_SHA256, digestInfoPrefix: Buffer.from("3031300d060960864801650304020105000420", "hex") },
  { name: "sha384", kmip: HashingAlgorithm.SHA384, length: 48, ckm: CKM_SHA384, mgf: CKG_MGF1_SHA384, digestInfoPrefix: Buffer.from("3041300d060960864801650304020205000430", "hex") },
  { name: "sha512", kmip: HashingAlgorithm.SHA512, length: 64, ckm: CKM_SHA512, mgf: CKG_MGF1_SHA512, digestInfoPrefix: Buffer.from("3051300d060960864801650304020305000440", "hex") },
];

const hashByKmip = new Map(HASHES.map((h) => [h.kmip, h]));
const hashByName = new Map(HASHES.map((h) => [h.name, h]));

/** Digital Signature Algorithm values (1.2+) the relay implements: family and hash. */
const DIGITAL_SIGNATURE_ALGORITHMS = new Map<number, { family: SignatureFamily; hash?: HashName }>([
  [DigitalSignatureAlgorithm.SHA256WithRSAEncryption, { family: "RSA-PKCS1", hash: "sha256" }],
  [DigitalSignatureAlgorithm.SHA384WithRSAEncryption, { family: "RSA-PKCS1", hash: "sha384" }],
  [DigitalSignatureAlgorithm.SHA512WithRSAEncryption, { family: "RSA-PKCS1", hash: "sha512" }],
  [DigitalSignatureAlgorithm.RsassaPSS, { family: "RSA-PSS" }],
  [DigitalSignatureAlgorithm.ECDSAWithSHA256, { family: "ECDSA", hash: "sha256" }],
  [DigitalSignatureAlgorithm.ECDSAWithSHA384, { family: "ECDSA", hash: "sha384" }],
  [DigitalSignatureAlgorithm.ECDSAWithSHA512, { family: "ECDSA", hash: "sha512" }],
]);

/** The key a signature is made with, as far as the scheme depends on it. */
export interface SigningKey {
  readonly keyType: KeyType;
  readonly bits: number;
}

function invalid(message: string): KmipError {
  return new KmipError(ResultReason.InvalidField, message);
}

function familyOfKey(keyType: KeyType): SignatureFamily {
  switch (keyType) {
    case "RSA":
      return "RSA-PKCS1";
    case "EC":
      return "ECDSA";
    case "EdDSA":
      return "EdDSA";
    default:
      throw new KmipError(ResultReason.CryptographicFailure, "the key is of a type the relay cannot sign with (RSA, EC and Ed25519 keys only)");
  }
}

/** The hash a key signs with when the request names none: SHA-256, or the curve's size for P-384 and P-521 (RFC 5656 section 6.2.1). */
function defaultHash(family: SignatureFamily, key: SigningKey): HashName {
  if (family === "ECDSA") {
    if (key.bits > 384) return "sha512";
    if (key.bits > 256) return "sha384";
  }
  return "sha256";
}

/**
 * The signature scheme a request asks for, checked against the key. The key
 * is always consulted: the parameters may name a scheme the key cannot do,
 * and a module need not refuse that cleanly (SoftHSM 2.6 crashes on
 * C_SignInit with CKM_RSA_PKCS_PSS and an EC key).
 */
export function chooseScheme(params: CryptographicParameters | undefined, key: SigningKey): SignatureScheme {
  const dsa = params?.digitalSignatureAlgorithm;
  const named = dsa === undefined ? undefined : DIGITAL_SIGNATURE_ALGORITHMS.get(dsa);
  if (dsa !== undefined && named === undefined) {
    throw invalid(`Digital Signature Algorithm ${dsa} is not supported (RSA PKCS#1 v1.5 or PSS, or ECDSA, with SHA-256/384/512)`);
  }

  const keyFamily = familyOfKey(key.keyType);
  let family = named?.family ?? familyOfAlgorithm(params?.cryptographicAlgorithm, params?.paddingMethod) ?? keyFamily;
  const compatible = keyFamily === family || (keyFamily === "RSA-PKCS1" && family === "RSA-PSS");
  if (!compatible) throw invalid(`a ${describeFamily(family)} signature was asked for, but the key is an ${key.keyType} key`);
  if (family === "RSA-PKCS1" && params?.paddingMethod !== undefined && params.paddingMethod !== PaddingMethod.Pkcs1v15) {
    if (params.paddingMethod === PaddingMethod.PSS) family = "RSA-PSS";
    else throw invalid(`Padding Method ${params.paddingMethod} is not supported for RSA signatures (PKCS1 v1.5 or PSS)`);
  }

  if (family === "EdDSA") {
    if (params?.hashingAlgorithm !== undefined) throw invalid("Ed25519 signs the message itself: the request must not name a Hashing Algorithm");
    return { family, mechanism: { mechanism: CKM_EDDSA } };
  }

  const hashName = named?.hash ?? hashFromKmip(params?.hashingAlgorithm) ?? defaultHash(family, key);
  if (named?.hash !== undefined && params?.hashingAlgorithm !== undefined && hashFromKmip(params.hashingAlgorithm) !== named.hash) {
    throw invalid("the Hashing Algorithm contradicts the Digital Signature Algorithm");
  }
  const hash = hashByName.get(hashName)!;
  switch (family) {
    case "RSA-PKCS1":
      return { family, hash: hashName, mechanism: { mechanism: CKM_RSA_PKCS } };
    case "ECDSA":
      return { family, hash: hashName, mechanism: { mechanism: CKM_ECDSA } };
    case "RSA-PSS": {
      if (params?.maskGenerator !== undefined && params.maskGenerator !== MaskGenerator.MGF1) throw invalid("only the MGF1 Mask Generator is supported");
      const mgfHash = params?.maskGeneratorHashingAlgorithm === undefined ? hash : hashByKmip.get(params.maskGeneratorHashingAlgorithm);
      if (mgfHash === undefined) throw invalid(`Mask Generator Hashing Algorithm ${params?.maskGeneratorHashingAlgorithm} is not supported (SHA-256/384/512)`);
      const saltLength = params?.saltLength ?? hash.length;
      return { family, hash: hashName, mechanism: { mechanism: CKM_RSA_PKCS_PSS, pss: { hashAlg: hash.ckm, mgf: mgfHash.mgf, saltLength } } };
    }
  }
}

function familyOfAlgorithm(algorithm: number | undefined, padding: number | undefined): SignatureFamily | undefined {
  switch (algorithm) {
    case undefined:
      return undefined;
    case CryptographicAlgorithm.RSA:
      return padding === PaddingMethod.PSS ? "RSA-PSS" : "RSA-PKCS1";
    case CryptographicAlgorithm.ECDSA:
    case CryptographicAlgorithm.EC:
      return "ECDSA";
    case CryptographicAlgorithm.Ed25519:
      return "EdDSA";
    default:
      throw invalid(`Cryptographic Algorithm ${algorithm} cannot sign here (RSA, ECDSA, EC or Ed25519)`);
  }
}

function hashFromKmip(value: number | undefined): HashName | undefined {
  if (value === undefined) return undefined;
  const hash = hashByKmip.get(value);
  if (hash === undefined) throw invalid(`Hashing Algorithm ${value} is not supported for signatures (SHA-256, SHA-384 or SHA-512)`);
  return hash.name;
}

function describeFamily(family: SignatureFamily): string {
  return { "RSA-PKCS1": "RSA", "RSA-PSS": "RSA-PSS", ECDSA: "ECDSA", EdDSA: "Ed25519" }[family];
}

/**
 * What the mechanism signs: the DigestInfo (RSA PKCS#1 v1.5), the digest
 * (RSA-PSS, ECDSA) or the message (EdDSA). `digested` is the 1.4 Digested
 * Data, already hashed by the client.
 */
export function toBeSigned(scheme: SignatureScheme, data: Uint8Array | undefined, digested: Uint8Array | undefined): Uint8Array {
  if ((data === undefined) === (digested === undefined)) {
    throw new KmipError(ResultReason.InvalidField, data === undefined ? "the request carries neither Data nor Digested Data" : "the request carries both Data and Digested Data");
  }
  if (scheme.hash === undefined) {
    if (data === undefined) throw invalid("Ed25519 signs the message itself: send Data, not Digested Data");
    return data;
  }
  const hash = hashByName.get(scheme.hash)!;
  let digest: Uint8Array;
  if (digested !== undefined) {
    if (digested.length !== hash.length) throw invalid(`Digested Data is ${digested.length} bytes; a ${scheme.hash.toUpperCase()} digest is ${hash.length}`);
    digest = digested;
  } else {
    // The one-shot form: no Hash object per item (every Sign item passes here).
    digest = digestOf(scheme.hash, data!, "buffer");
  }
  return scheme.family === "RSA-PKCS1" ? Buffer.concat([hash.digestInfoPrefix, digest]) : digest;
}

/**
 * Fields of Sign and Signature Verify requests the relay refuses. Streaming
 * (1.3 Correlation Value, Init and Final Indicator) would keep a PKCS#11
 * operation open across requests, tying a session to one client: the whole
 * Data goes in one request. Digested Data is a KMIP 1.4 field.
 */
export function checkSigningFields(
  request: { correlationValue?: unknown; initIndicator?: unknown; finalIndicator?: unknown; digestedData?: unknown },
  version: ProtocolVersion,
  operation: string,
): void {
  if (request.correlationValue !== undefined || request.initIndicator !== undefined || request.finalIndicator !== undefined) {
    throw new KmipError(
      ResultReason.FeatureNotSupported,
      `streaming ${operation} (Correlation Value, Init/Final Indicator) is not supported: send the whole Data in one request`,
    );
  }
  if (request.digestedData !== undefined && !atLeast(version, 1, 4)) {
    throw invalid(`Digested Data is a KMIP 1.4 field; this request is KMIP ${version.major}.${version.minor} (send Data, or use 1.4)`);
  }
}

/**
 * ECDSA signatures travel as DER SEQUENCE { r INTEGER, s INTEGER } (RFC 3279
 * section 2.2.3); PKCS#11 gives r || s. Written into one buffer: every ECDSA
 * Sign item passes here.
 */
export function ecdsaRawToDer(raw: Uint8Array): Buffer {
  const half = raw.length / 2;
  const r = integerBody(raw.subarray(0, half));
  const s = integerBody(raw.subarray(half));
  const content = 4 + r.pad + r.body.length + s.pad + s.body.length;
  // r and s are INTEGERs of at most 67 bytes (P-521), each with a one-byte
  // length; the SEQUENCE's content, at most 138 bytes, has a one-byte length,
  // or 0x81 and one byte from 128 on (X.690 section 8.1.3).
  const header = content < 0x80 ? 2 : 3;
  const out = Buffer.allocUnsafe(header + content);
  out[0] = 0x30;
  if (header === 3) out[1] = 0x81;
  out[header - 1] = content;
  writeInteger(out, writeInteger(out, header, r), s);
  return out;
}

/** The r || s form PKCS#11 verifies, from a DER signature, for a key of `bits`. */
export function ecdsaDerToRaw(der: Uint8Array, bits: number): Buffer {
  const size = Math.ceil(bits / 8);
  const fail = () => invalid("the ECDSA signature is not a DER SEQUENCE of two INTEGERs");
  let offset = 0;
  const readLength = (): number => {
    const first = der[offset++];
    if (first === undefined) throw fail();
    if (first < 0x80) return first;
    const count = first & 0x7f;
    if (count === 0 || count > 2) throw fail();
    let length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (der[offset++] ?? 0);
    return length;
  };
  if (der[offset++] !== 0x30) throw fail();
  if (readLength() !== der.length - offset) throw fail();
  const out = Buffer.alloc(size * 2);
  for (let i = 0; i < 2; i++) {
    if (der[offset++] !== 0x02) throw fail();
    const length = readLength();
    let value = der.subarray(offset, offset + length);
    offset += length;
    while (value.length > 0 && value[0] === 0) value = value.subarray(1);
    if (value.length > size || offset > der.length) throw fail();
    out.set(value, size * (i + 1) - value.length);
  }
  if (offset !== der.length) throw fail();
  return out;
}

/** An unsigned big-endian integer as DER INTEGER contents: leading zeros dropped, a 0x00 pad when the top bit is set. */
function integerBody(bytes: Uint8Array): { pad: number; body: Uint8Array } {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const body = bytes.subarray(start);
  return { pad: body[0]! >= 0x80 ? 1 : 0, body };
}

/** Writes an INTEGER of integerBody at `offset`; returns the offset after it. */
function writeInteger(out: Buffer, offset: number, { pad, body }: { pad: number; body: Uint8Array }): number {
  out[offset] = 0x02;
  out[offset + 1] = pad + body.length;
  if (pad === 1) out[offset + 2] = 0;
  out.set(body, offset + 2 + pad);
  return offset + 2 + pad + body.length;
}

// Turning a Sign or Signature Verify request's Cryptographic Parameters (KMIP
// 1.x 3.6) and Data or Digested Data into the SignatureRequest the HSM layer
// resolves against the key (hsm/signature.ts decides what the key may do).
// The relay hashes the data itself; Digested Data (1.4) is a digest the
// client computed. Values the relay does not support travel as refusals,
// raised only where the key makes them matter (a Padding Method means
// nothing to an ECDSA key).
import type { HashName, Refused, SignatureFamily, SignatureRequest } from "../hsm/crypto-types.js";
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

const HASHES = new Map<number, HashName>([
  [HashingAlgorithm.SHA1, "sha1"],
  [HashingAlgorithm.SHA256, "sha256"],
  [HashingAlgorithm.SHA384, "sha384"],
  [HashingAlgorithm.SHA512, "sha512"],
]);

/** Digital Signature Algorithm values (1.2+) the relay implements: family and hash. */
const DIGITAL_SIGNATURE_ALGORITHMS = new Map<number, { family: SignatureFamily; hash?: HashName }>([
  [DigitalSignatureAlgorithm.SHA1WithRSAEncryption, { family: "RSA-PKCS1", hash: "sha1" }],
  [DigitalSignatureAlgorithm.SHA256WithRSAEncryption, { family: "RSA-PKCS1", hash: "sha256" }],
  [DigitalSignatureAlgorithm.SHA384WithRSAEncryption, { family: "RSA-PKCS1", hash: "sha384" }],
  [DigitalSignatureAlgorithm.SHA512WithRSAEncryption, { family: "RSA-PKCS1", hash: "sha512" }],
  [DigitalSignatureAlgorithm.RsassaPSS, { family: "RSA-PSS" }],
  [DigitalSignatureAlgorithm.ECDSAWithSHA1, { family: "ECDSA", hash: "sha1" }],
  [DigitalSignatureAlgorithm.ECDSAWithSHA256, { family: "ECDSA", hash: "sha256" }],
  [DigitalSignatureAlgorithm.ECDSAWithSHA384, { family: "ECDSA", hash: "sha384" }],
  [DigitalSignatureAlgorithm.ECDSAWithSHA512, { family: "ECDSA", hash: "sha512" }],
]);

function invalid(message: string): KmipError {
  return new KmipError(ResultReason.InvalidField, message);
}

const refused = (reason: string): Refused => ({ refused: reason });

/** The signature a request asks for, in the HSM layer's terms; `data` and `digested` as the request carries them. */
export function signatureRequest(
  params: CryptographicParameters | undefined,
  data: Uint8Array | undefined,
  digested: Uint8Array | undefined,
): SignatureRequest {
  const dsa = params?.digitalSignatureAlgorithm;
  const named = dsa === undefined ? undefined : DIGITAL_SIGNATURE_ALGORITHMS.get(dsa);
  const family =
    dsa !== undefined && named === undefined
      ? refused(`Digital Signature Algorithm ${dsa} is not supported (RSA PKCS#1 v1.5 or PSS, or ECDSA, with SHA-1/256/384/512)`)
      : (named?.family ?? familyOfAlgorithm(params?.cryptographicAlgorithm, params?.paddingMethod));

  const paddingMethod = params?.paddingMethod;
  const padding =
    paddingMethod === undefined || paddingMethod === PaddingMethod.Pkcs1v15
      ? undefined
      : paddingMethod === PaddingMethod.PSS
        ? "PSS"
        : refused(`Padding Method ${paddingMethod} is not supported for RSA signatures (PKCS1 v1.5 or PSS)`);

  const fieldHash = hashOf(params?.hashingAlgorithm, (value) => `Hashing Algorithm ${value} is not supported for signatures (SHA-1, SHA-256, SHA-384 or SHA-512)`);
  let hash = fieldHash;
  if (named?.hash !== undefined) {
    if (fieldHash === undefined) hash = named.hash;
    else if (typeof fieldHash === "string" && fieldHash !== named.hash) hash = refused("the Hashing Algorithm contradicts the Digital Signature Algorithm");
  }

  const maskGenerator = params?.maskGenerator;
  return {
    ...(family !== undefined && { family }),
    ...(padding !== undefined && { padding }),
    ...(hash !== undefined && { hash }),
    ...(maskGenerator !== undefined && maskGenerator !== MaskGenerator.MGF1 && { maskGenerator: refused("only the MGF1 Mask Generator is supported") }),
    ...(params?.maskGeneratorHashingAlgorithm !== undefined && {
      maskGeneratorHash: hashOf(params.maskGeneratorHashingAlgorithm, (value) => `Mask Generator Hashing Algorithm ${value} is not supported (SHA-1/256/384/512)`)!,
    }),
    ...(params?.saltLength !== undefined && { saltLength: params.saltLength }),
    ...(params === undefined && { keyDefaults: true }),
    ...(data !== undefined && { data }),
    ...(digested !== undefined && { digest: digested }),
  };
}

function familyOfAlgorithm(algorithm: number | undefined, padding: number | undefined): SignatureFamily | Refused | undefined {
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
      return refused(`Cryptographic Algorithm ${algorithm} cannot sign here (RSA, ECDSA, EC or Ed25519)`);
  }
}

function hashOf(value: number | undefined, unsupported: (value: number) => string): HashName | Refused | undefined {
  if (value === undefined) return undefined;
  return HASHES.get(value) ?? refused(unsupported(value));
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

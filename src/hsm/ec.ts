// Elliptic-curve parameters as PKCS#11 holds them: CKA_EC_PARAMS is the DER
// of an ECParameters choice (here always a namedCurve OID, or for Edwards
// curves the PrintableString form PKCS#11 v3.0 section 2.3.5 also allows),
// and CKA_EC_POINT is the point wrapped in a DER OCTET STRING (section 2.3.3;
// some modules return it bare).
import type { Curve } from "./key-types.js";

interface CurveInfo {
  readonly curve: Curve;
  /** Field size in bits, as KeyDescription.bits reports it. */
  readonly bits: number;
  /** DER OBJECT IDENTIFIER of the named curve. */
  readonly oid: Buffer;
  /** Length of the bare public point: uncompressed 04||X||Y, or the Edwards encoding. */
  readonly pointLength: number;
}

const der = (hex: string): Buffer => Buffer.from(hex.replace(/ /g, ""), "hex");

export const CURVES: Readonly<Record<Curve, CurveInfo>> = {
  // RFC 5480 section 2.1.1.1 (secp256r1, secp384r1, secp521r1), RFC 8410 section 3 (id-Ed25519).
  "P-256": { curve: "P-256", bits: 256, oid: der("06 08 2A 86 48 CE 3D 03 01 07"), pointLength: 65 },
  "P-384": { curve: "P-384", bits: 384, oid: der("06 05 2B 81 04 00 22"), pointLength: 97 },
  "P-521": { curve: "P-521", bits: 521, oid: der("06 05 2B 81 04 00 23"), pointLength: 133 },
  Ed25519: { curve: "Ed25519", bits: 255, oid: der("06 03 2B 65 70"), pointLength: 32 },
};

/** PrintableString "edwards25519", the other CKA_EC_PARAMS form SoftHSM reports for Ed25519 private keys. */
const EDWARDS25519_NAME = Buffer.concat([der("13 0C"), Buffer.from("edwards25519", "latin1")]).toString("hex");

/** The curve CKA_EC_PARAMS names, or undefined for a curve the relay does not know. */
export function curveOfParams(params: Uint8Array): CurveInfo | undefined {
  const hex = Buffer.from(params).toString("hex");
  if (hex === EDWARDS25519_NAME) return CURVES.Ed25519;
  return Object.values(CURVES).find((info) => info.oid.toString("hex") === hex);
}

/**
 * Reads a DER length at `offset`; returns [length, offset of the content], or
 * undefined when malformed (X.690 section 8.1.3).
 */
function derLength(bytes: Uint8Array, offset: number): [number, number] | undefined {
  const first = bytes[offset];
  if (first === undefined) return undefined;
  if (first < 0x80) return [first, offset + 1];
  const count = first & 0x7f;
  if (count === 0 || count > 4 || offset + 1 + count > bytes.length) return undefined;
  let length = 0;
  for (let i = 0; i < count; i++) length = length * 256 + bytes[offset + 1 + i]!;
  return [length, offset + 1 + count];
}

/**
 * The bare point from CKA_EC_POINT. A value as long as the bare point of its
 * curve is taken as bare (a DER OCTET STRING around it is always longer);
 * otherwise it must be exactly one OCTET STRING. One malformed wrapping is
 * tolerated: tpm2-pkcs11 1.9 writes the length of a P-521 point (133) in a
 * single byte, 04 85 04 ..., which DER would read as the start of a 5-byte
 * long-form length (X.690 section 8.1.3.5).
 */
export function unwrapEcPoint(value: Uint8Array, curve: CurveInfo | undefined): Uint8Array | undefined {
  if (curve !== undefined && value.length === curve.pointLength) return value;
  if (curve !== undefined && value.length === curve.pointLength + 2 && value[0] === 0x04 && value[1] === curve.pointLength) return value.subarray(2);
  if (value[0] !== 0x04) return undefined;
  const parsed = derLength(value, 1);
  if (parsed === undefined || parsed[1] + parsed[0] !== value.length) return undefined;
  return value.subarray(parsed[1]);
}

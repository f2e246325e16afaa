// The key material of a Register request (KMIP 1.x 2.1.3 Key Block, 2.1.7
// Transparent Key Structures, 9.1.3.2.3 Key Format Type) turned into what the
// token imports. DER is parsed by node:crypto (OpenSSL), never by hand: PKCS#1
// RSAPublicKey / RSAPrivateKey, PKCS#8, SEC 1 ECPrivateKey and X.509
// SubjectPublicKeyInfo, then exported as a JWK for its components. A private
// key is checked to be whole before it goes to the token (a test signature
// with it verifies with its own public part), so that a key with a wrong
// CRT component is refused here rather than signing garbage later.
import { createECDH, ECDH, createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject, sign, verify } from "node:crypto";
import type { ImportKeyMaterial, ObjectClass } from "../hsm/key-types.js";
import { KmipError } from "../kmip/errors.js";
import type { KeyBlock, KeyMaterial } from "../kmip/objects.js";
import { KeyFormatType, RecommendedCurve, ResultReason } from "../ttlv/enums.js";
import { ItemType, type StructureItem } from "../ttlv/item.js";
import { Tag } from "../ttlv/tags.js";

export type EcCurve = "P-256" | "P-384" | "P-521";

/** What the material is: for the template's Cryptographic Algorithm / Length checks. */
export interface ParsedKey {
  readonly material: ImportKeyMaterial;
  /** Modulus bits (RSA) or field size (EC). */
  readonly bits: number;
}

const CURVE_BITS: Readonly<Record<EcCurve, number>> = { "P-256": 256, "P-384": 384, "P-521": 521 };
/** OpenSSL's names, for createECDH. */
const ECDH_NAMES: Readonly<Record<EcCurve, string>> = { "P-256": "prime256v1", "P-384": "secp384r1", "P-521": "secp521r1" };
const BY_RECOMMENDED_CURVE: ReadonlyMap<number, EcCurve> = new Map([
  [RecommendedCurve.P256, "P-256"],
  [RecommendedCurve.P384, "P-384"],
  [RecommendedCurve.P521, "P-521"],
]);

/** Key Format Types by name, for messages. */
const FORMAT_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(KeyFormatType).map(([name, value]) => [value, name]));

function invalid(message: string): KmipError {
  return new KmipError(ResultReason.InvalidField, message);
}

function formatName(format: number): string {
  return FORMAT_NAMES.get(format) ?? `0x${format.toString(16)}`;
}

const b64 = (text: string | undefined): Buffer => Buffer.from(text ?? "", "base64url");
const fromB64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64url");

/** A big-endian unsigned integer from a Big Integer (no sign byte, at least one byte). */
function bigEndian(value: bigint, what: string): Buffer {
  if (value <= 0n) throw invalid(`${what} must be a positive integer`);
  const hex = value.toString(16);
  return Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, "hex");
}

/** The Recommended Curve's curve, or a clear refusal. */
export function curveOfRecommended(value: number): EcCurve {
  const curve = BY_RECOMMENDED_CURVE.get(value);
  if (curve === undefined) throw invalid(`Recommended Curve ${value} is not supported (P-256, P-384 or P-521)`);
  return curve;
}

function curveOfJwk(crv: string | undefined): EcCurve {
  if (crv === "P-256" || crv === "P-384" || crv === "P-521") return crv;
  throw invalid(`the key is on curve ${crv ?? "(unnamed)"}, which is not supported (P-256, P-384 or P-521)`);
}

/** The uncompressed point 04 || X || Y of an EC JWK. */
function pointOfJwk(jwk: JsonWebKey): Buffer {
  return Buffer.concat([Buffer.from([0x04]), b64(jwk.x), b64(jwk.y)]);
}

function rsaPublic(jwk: JsonWebKey): ParsedKey {
  const modulus = b64(jwk.n);
  return { material: { keyType: "RSA", objectClass: "public", modulus, publicExponent: b64(jwk.e) }, bits: bitLength(modulus) };
}

function rsaPrivate(jwk: JsonWebKey): ParsedKey {
  const modulus = b64(jwk.n);
  return {
    material: {
      keyType: "RSA",
      objectClass: "private",
      modulus,
      publicExponent: b64(jwk.e),
      privateExponent: b64(jwk.d),
      prime1: b64(jwk.p),
      prime2: b64(jwk.q),
      exponent1: b64(jwk.dp),
      exponent2: b64(jwk.dq),
      coefficient: b64(jwk.qi),
    },
    bits: bitLength(modulus),
  };
}

function ecPublic(jwk: JsonWebKey): ParsedKey {
  const curve = curveOfJwk(jwk.crv);
  return { material: { keyType: "EC", objectClass: "public", curve, ecPoint: pointOfJwk(jwk) }, bits: CURVE_BITS[curve] };
}

function ecPrivate(jwk: JsonWebKey): ParsedKey {
  const curve = curveOfJwk(jwk.crv);
  // d as long as the field (RFC 5915: privateKey is ceiling(log2(n)/8) octets).
  const size = Math.ceil(CURVE_BITS[curve] / 8);
  const d = b64(jwk.d);
  const value = d.length >= size ? d : Buffer.concat([Buffer.alloc(size - d.length), d]);
  return { material: { keyType: "EC", objectClass: "private", curve, value, ecPoint: pointOfJwk(jwk) }, bits: CURVE_BITS[curve] };
}

function bitLength(bigEndianBytes: Buffer): number {
  let i = 0;
  while (i < bigEndianBytes.length && bigEndianBytes[i] === 0) i++;
  if (i === bigEndianBytes.length) return 0;
  return (bigEndianBytes.length - i - 1) * 8 + (32 - Math.clz32(bigEndianBytes[i]!));
}

/** A node KeyObject as ParsedKey; other key types are refused. */
function fromKeyObject(key: KeyObject, format: number): ParsedKey {
  const jwk = key.export({ format: "jwk" });
  const isPrivate = key.type === "private";
  switch (key.asymmetricKeyType) {
    case "rsa":
      return isPrivate ? rsaPrivate(jwk) : rsaPublic(jwk);
    case "ec":
      return isPrivate ? ecPrivate(jwk) : ecPublic(jwk);
    default:
      throw invalid(`the ${formatName(format)} key material holds a ${key.asymmetricKeyType ?? "unknown"} key; only RSA and EC (P-256, P-384, P-521) keys can be registered`);
  }
}

/** DER through OpenSSL; its error becomes a reason a person can act on. */
function parseDer(bytes: Uint8Array, objectClass: ObjectClass, type: "pkcs1" | "pkcs8" | "spki" | "sec1", format: number): KeyObject {
  const key = Buffer.from(bytes);
  try {
    if (objectClass === "private") return createPrivateKey({ key, format: "der", type: type as "pkcs1" | "pkcs8" | "sec1" });
    return createPublicKey({ key, format: "der", type: type as "pkcs1" | "spki" });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw invalid(`the Key Material is not a DER ${describeDer(type, objectClass)} (Key Format Type ${formatName(format)}): ${reason}`);
  }
}

function describeDer(type: "pkcs1" | "pkcs8" | "spki" | "sec1", objectClass: ObjectClass): string {
  switch (type) {
    case "pkcs1":
      return objectClass === "private" ? "PKCS#1 RSAPrivateKey" : "PKCS#1 RSAPublicKey";
    case "pkcs8":
      return "PKCS#8 PrivateKeyInfo";
    case "spki":
      return "X.509 SubjectPublicKeyInfo";
    case "sec1":
      return "SEC 1 ECPrivateKey";
  }
}

/** Named fields of a Transparent key structure (kept raw by the codec), each at most once. */
function transparentFields(material: KeyMaterial, format: number): Map<number, StructureItem["value"][number]> {
  if (material instanceof Uint8Array || !("type" in material) || material.type !== ItemType.Structure) {
    throw invalid(`Key Format Type ${formatName(format)} needs a Key Material structure`);
  }
  const fields = new Map<number, StructureItem["value"][number]>();
  for (const item of material.value) {
    if (fields.has(item.tag)) throw invalid(`the ${formatName(format)} Key Material has a field twice (tag 0x${item.tag.toString(16)})`);
    fields.set(item.tag, item);
  }
  return fields;
}

function bigField(fields: Map<number, StructureItem["value"][number]>, tag: number, name: string, format: number): Buffer {
  const item = fields.get(tag);
  if (item === undefined) throw new KmipError(ResultReason.MissingData, `the ${formatName(format)} Key Material lacks its ${name}`);
  if (item.type !== ItemType.BigInteger) throw invalid(`the ${name} of the ${formatName(format)} Key Material must be a Big Integer`);
  return bigEndian(item.value, name);
}

function transparentRsaPrivate(material: KeyMaterial, format: number): KeyObject {
  const fields = transparentFields(material, format);
  const get = (tag: number, name: string) => fromB64(bigField(fields, tag, name, format));
  // 2.1.7.4: Modulus and Private Exponent required; the CRT fields are what a token imports (PKCS#11 v2.40 section 2.1.3).
  const jwk: JsonWebKey = {
    kty: "RSA",
    n: get(Tag.Modulus, "Modulus"),
    e: get(Tag.PublicExponent, "Public Exponent"),
    d: get(Tag.PrivateExponent, "Private Exponent"),
    p: get(Tag.P, "P"),
    q: get(Tag.Q, "Q"),
    dp: get(Tag.PrimeExponentP, "Prime Exponent P"),
    dq: get(Tag.PrimeExponentQ, "Prime Exponent Q"),
    qi: get(Tag.CrtCoefficient, "CRT Coefficient"),
  };
  return importJwk(jwk, "private", format);
}

function transparentRsaPublic(material: KeyMaterial, format: number): KeyObject {
  if (material instanceof Uint8Array || !("modulus" in material)) throw invalid(`Key Format Type ${formatName(format)} needs a Key Material structure`);
  const jwk: JsonWebKey = {
    kty: "RSA",
    n: fromB64(bigEndian(material.modulus, "Modulus")),
    e: fromB64(bigEndian(material.publicExponent, "Public Exponent")),
  };
  return importJwk(jwk, "public", format);
}

function transparentEcPrivate(material: KeyMaterial, format: number): KeyObject {
  const fields = transparentFields(material, format);
  const curveItem = fields.get(Tag.RecommendedCurve);
  if (curveItem === undefined) throw new KmipError(ResultReason.MissingData, `the ${formatName(format)} Key Material lacks its Recommended Curve`);
  if (curveItem.type !== ItemType.Enumeration) throw invalid(`the Recommended Curve of the ${formatName(format)} Key Material must be an Enumeration`);
  const curve = curveOfRecommended(curveItem.value);
  const d = bigField(fields, Tag.D, "D", format);
  let point: Buffer;
  try {
    const ecdh = createECDH(ECDH_NAMES[curve]);
    ecdh.setPrivateKey(d);
    point = ecdh.getPublicKey();
  } catch (error) {
    throw invalid(`D is not a private key on ${curve}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const size = (point.length - 1) / 2;
  return importJwk({ kty: "EC", crv: curve, d: fromB64(d), x: fromB64(point.subarray(1, 1 + size)), y: fromB64(point.subarray(1 + size)) }, "private", format);
}

function transparentEcPublic(material: KeyMaterial, format: number): KeyObject {
  if (material instanceof Uint8Array || !("qString" in material)) throw invalid(`Key Format Type ${formatName(format)} needs a Key Material structure`);
  const curve = curveOfRecommended(material.recommendedCurve);
  let point: Buffer;
  try {
    // Uncompressed or compressed (SEC 1 2.3.3); the token takes the uncompressed form.
    point = ECDH.convertKey(Buffer.from(material.qString), ECDH_NAMES[curve], undefined, undefined, "uncompressed") as Buffer;
  } catch (error) {
    throw invalid(`the Q String is not a point on ${curve}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const size = (point.length - 1) / 2;
  return importJwk({ kty: "EC", crv: curve, x: fromB64(point.subarray(1, 1 + size)), y: fromB64(point.subarray(1 + size)) }, "public", format);
}

function importJwk(jwk: JsonWebKey, objectClass: ObjectClass, format: number): KeyObject {
  try {
    return objectClass === "private" ? createPrivateKey({ key: jwk, format: "jwk" }) : createPublicKey({ key: jwk, format: "jwk" });
  } catch (error) {
    throw invalid(`the ${formatName(format)} Key Material is not a valid key: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** A private key whose parts do not belong together signs what its public part does not verify. */
function checkWhole(key: KeyObject): void {
  const probe = Buffer.from("kmip2pkcs11 Register");
  let ok: boolean;
  try {
    ok = verify("sha256", probe, createPublicKey(key), sign("sha256", probe, key));
  } catch {
    ok = false;
  }
  if (!ok) throw invalid("the private key is inconsistent: its components do not make one key (a signature made with it does not verify with its own public part)");
}

/** Which Key Format Types each class takes here (KMIP 1.x 9.1.3.2.3). */
const FORMATS: Readonly<Record<ObjectClass, ReadonlyMap<number, (material: KeyMaterial, format: number) => KeyObject>>> = {
  private: new Map([
    [KeyFormatType.PKCS1, (m, f) => parseDer(bytesOf(m, f), "private", "pkcs1", f)],
    [KeyFormatType.PKCS8, (m, f) => parseDer(bytesOf(m, f), "private", "pkcs8", f)],
    [KeyFormatType.ECPrivateKey, (m, f) => parseDer(bytesOf(m, f), "private", "sec1", f)],
    [KeyFormatType.TransparentRSAPrivateKey, transparentRsaPrivate],
    [KeyFormatType.TransparentECPrivateKey, transparentEcPrivate],
    [KeyFormatType.TransparentECDSAPrivateKey, transparentEcPrivate],
  ]),
  public: new Map([
    [KeyFormatType.PKCS1, (m, f) => parseDer(bytesOf(m, f), "public", "pkcs1", f)],
    [KeyFormatType.X509, (m, f) => parseDer(bytesOf(m, f), "public", "spki", f)],
    [KeyFormatType.TransparentRSAPublicKey, transparentRsaPublic],
    [KeyFormatType.TransparentECPublicKey, transparentEcPublic],
    [KeyFormatType.TransparentECDSAPublicKey, transparentEcPublic],
  ]),
  // Symmetric keys are not key pairs: Register takes them apart from this table.
  secret: new Map(),
};

function bytesOf(material: KeyMaterial, format: number): Uint8Array {
  if (!(material instanceof Uint8Array)) throw invalid(`Key Format Type ${formatName(format)} needs the Key Material as a Byte String`);
  return material;
}

/**
 * The key a Key Block holds, for an object of `objectClass`. Throws Invalid
 * Field (or Key Format Type Not Supported) with the reason.
 */
export function parseKeyBlock(block: KeyBlock, objectClass: ObjectClass): ParsedKey {
  if (block.keyWrappingData !== undefined || block.keyValue instanceof Uint8Array) {
    throw invalid("Register of wrapped key material (Key Wrapping Data) is not supported: Get can wrap (C_WrapKey), but Register does not unwrap; send the key in plaintext over the TLS connection");
  }
  if (block.keyValue === undefined) throw new KmipError(ResultReason.MissingData, "the Key Block has no Key Value");
  const parse = FORMATS[objectClass].get(block.keyFormatType);
  if (parse === undefined) {
    const accepted = [...FORMATS[objectClass].keys()].map(formatName).join(", ");
    throw new KmipError(ResultReason.KeyFormatTypeNotSupported, `Key Format Type ${formatName(block.keyFormatType)} is not accepted for a ${objectClass} key (${accepted})`);
  }
  const key = parse(block.keyValue.keyMaterial, block.keyFormatType);
  if (key.type !== (objectClass === "private" ? "private" : "public")) {
    throw invalid(`the Key Material holds a ${key.type} key, but the object is a ${objectClass} key`);
  }
  const parsed = fromKeyObject(key, block.keyFormatType);
  if (objectClass === "private") checkWhole(key);
  return parsed;
}

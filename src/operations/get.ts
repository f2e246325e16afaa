// Get (KMIP 1.x section 4.11): a public key's material in the Key Format
// Type asked for; a symmetric key's value, in the clear or wrapped by a key
// of the token (key-wrapping.ts), as README "Key export" says. Private keys
// never leave the token (CKA_SENSITIVE).
//
// Without a Key Format Type (doc/compatibility.md#get): RSA as PKCS#1 RSAPublicKey (the
// original answered Transparent RSA Public Key, which PyKMIP cannot parse;
// Cascade takes both), EC as Raw holding the DER SubjectPublicKeyInfo,
// Ed25519 as Raw holding the 32-byte key (RFC 8032 encoding).
import { createPublicKey, type KeyObject } from "node:crypto";
import type { KeyDescription } from "../hsm/key-types.js";
import { KmipError } from "../kmip/errors.js";
import type { KeyMaterial } from "../kmip/objects.js";
import { decodeGetRequest, encodeGetResponse, type KeyWrappingSpecification } from "../kmip/payloads/get.js";
import { KeyCompressionType, KeyFormatType, ObjectType, Operation, ResultReason } from "../ttlv/enums.js";
import { algorithmOf, partnerId, recommendedCurveOf, requireId } from "./keys.js";
import type { OperationContext, OperationHandler } from "./operation.js";
import { secretAlgorithmOf } from "./secret-keys.js";
import { checkExport, tokenKeyExport } from "./key-export.js";
import { wrappedKeyBlock } from "./key-wrapping.js";
import { describeManaged, stored } from "./managed-object.js";
import { DATA_TYPE_ATTRIBUTE, dataObject } from "./register-secret.js";
import { ItemType, type TtlvItem } from "../ttlv/item.js";
import * as ttlv from "../ttlv/build.js";
import { Tag } from "../ttlv/tags.js";

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");
const toBigInt = (bytes: Uint8Array) => (bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString("hex")}`));

function unsupportedFormat(format: number, key: KeyDescription): KmipError {
  return new KmipError(
    ResultReason.KeyFormatTypeNotSupported,
    `Key Format Type ${format} is not supported for ${key.keyType} public keys (RSA: PKCS#1, X.509, Transparent RSA Public Key; EC: Raw, X.509, Transparent EC Public Key; Ed25519: Raw, X.509)`,
  );
}

/** The key as a node:crypto KeyObject, to export it in the standard DER forms. */
function nodeKey(key: KeyDescription): KeyObject {
  const missing = () => new KmipError(ResultReason.CryptographicFailure, `the token did not return the public material of ${key.id}`);
  switch (key.keyType) {
    case "RSA":
      if (key.modulus === undefined || key.publicExponent === undefined) throw missing();
      return createPublicKey({ key: { kty: "RSA", n: b64url(key.modulus), e: b64url(key.publicExponent) }, format: "jwk" });
    case "EC": {
      const point = key.ecPoint;
      if (recommendedCurveOf(key.curve) === undefined) {
        throw new KmipError(ResultReason.CryptographicFailure, `${key.id} is on an EC curve the relay cannot export (P-256, P-384 or P-521)`);
      }
      if (point === undefined) throw missing();
      if (point[0] !== 0x04) throw new KmipError(ResultReason.CryptographicFailure, `the EC point of ${key.id} is not in uncompressed form`);
      const size = (point.length - 1) / 2;
      return createPublicKey({
        key: { kty: "EC", crv: key.curve, x: b64url(point.subarray(1, 1 + size)), y: b64url(point.subarray(1 + size)) },
        format: "jwk",
      });
    }
    case "EdDSA":
      if (key.ecPoint === undefined) throw missing();
      return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: b64url(key.ecPoint) }, format: "jwk" });
    default:
      throw new KmipError(ResultReason.CryptographicFailure, `${key.id} is a key of a type the relay cannot export`);
  }
}

/** The Key Format Type answered and its Key Material. */
export function publicKeyMaterial(key: KeyDescription, requested: number | undefined): { format: number; material: KeyMaterial } {
  switch (key.keyType) {
    case "RSA": {
      const format = requested ?? KeyFormatType.PKCS1;
      if (format === KeyFormatType.TransparentRSAPublicKey) {
        if (key.modulus === undefined || key.publicExponent === undefined) nodeKey(key);
        return { format, material: { modulus: toBigInt(key.modulus!), publicExponent: toBigInt(key.publicExponent!) } };
      }
      if (format === KeyFormatType.PKCS1) return { format, material: nodeKey(key).export({ type: "pkcs1", format: "der" }) };
      if (format === KeyFormatType.X509) return { format, material: nodeKey(key).export({ type: "spki", format: "der" }) };
      throw unsupportedFormat(format, key);
    }
    case "EC": {
      const format = requested ?? KeyFormatType.Raw;
      if (format === KeyFormatType.Raw || format === KeyFormatType.X509) {
        return { format, material: nodeKey(key).export({ type: "spki", format: "der" }) };
      }
      if (format === KeyFormatType.TransparentECPublicKey || format === KeyFormatType.TransparentECDSAPublicKey) {
        nodeKey(key);
        return { format, material: { recommendedCurve: recommendedCurveOf(key.curve)!, qString: key.ecPoint! } };
      }
      throw unsupportedFormat(format, key);
    }
    case "EdDSA": {
      const format = requested ?? KeyFormatType.Raw;
      if (format === KeyFormatType.Raw) {
        nodeKey(key);
        return { format, material: key.ecPoint! };
      }
      if (format === KeyFormatType.X509) return { format, material: nodeKey(key).export({ type: "spki", format: "der" }) };
      throw unsupportedFormat(format, key);
    }
    default:
      throw unsupportedFormat(requested ?? KeyFormatType.Raw, key);
  }
}

export const get: OperationHandler = {
  operation: Operation.Get,
  name: "Get",
  readOnly: true,
  async run(context, requestPayload) {
    const request = decodeGetRequest(requestPayload);
    if (request.keyWrapType !== undefined) {
      throw new KmipError(ResultReason.FeatureNotSupported, "Key Wrap Type is not supported: keys are kept unwrapped; ask for wrapping with a Key Wrapping Specification");
    }
    if (request.keyCompressionType !== undefined && request.keyCompressionType !== KeyCompressionType.ECPublicKeyTypeUncompressed) {
      throw new KmipError(ResultReason.KeyCompressionTypeNotSupported, "only uncompressed EC public keys are returned");
    }
    const id = requireId(context, request.uniqueIdentifier);
    const key = await context.backend.describeKey(context.slot.slotId, id);
    if (key.objectClass === "secret") return getSecret(context, key, request.keyFormatType, request.keyWrappingSpecification);
    if (request.keyWrappingSpecification !== undefined) {
      throw new KmipError(ResultReason.FeatureNotSupported, "only symmetric keys are wrapped: public keys are returned in plaintext, private keys never leave the HSM");
    }
    if (key.objectClass !== "public") {
      throw new KmipError(ResultReason.PermissionDenied, `${id} is a private key; private keys never leave the HSM (get the public key, ${partnerId(id)})`);
    }
    const { format, material } = publicKeyMaterial(key, request.keyFormatType);
    const cryptographicAlgorithm = algorithmOf(key.keyType);
    return encodeGetResponse({
      objectType: ObjectType.PublicKey,
      uniqueIdentifier: id,
      object: {
        keyBlock: {
          keyFormatType: format,
          keyValue: { keyMaterial: material, attributes: [] },
          ...(cryptographicAlgorithm === undefined ? {} : { cryptographicAlgorithm }),
          cryptographicLength: key.bits,
        },
      },
    });
  },
};

/**
 * A secret key object: a Symmetric Key, or the Secret Data or Opaque Object
 * it was registered as (its model says which, register-secret.ts), in the
 * form it came in.
 */
async function getSecret(context: OperationContext, key: KeyDescription, requested: number | undefined, wrapping: KeyWrappingSpecification | undefined) {
  const { attributes } = await describeManaged(context, key.id);
  const objectType = stored(attributes, "Object Type");
  if (objectType === undefined || objectType === ObjectType.SymmetricKey) return getSymmetricKey(context, key, requested, wrapping);
  if (wrapping !== undefined) throw new KmipError(ResultReason.FeatureNotSupported, `${key.id} is Secret Data or an Opaque Object: only symmetric keys are wrapped`);
  const format = objectType === ObjectType.SecretData ? KeyFormatType.Opaque : undefined;
  if (requested !== undefined && requested !== format) {
    throw new KmipError(ResultReason.KeyFormatTypeNotSupported, `Key Format Type ${requested} is not supported for ${key.id}: ${format === undefined ? "an Opaque Object has none" : "Secret Data is returned as Opaque"}`);
  }
  const dataType = attributes.find((attribute) => attribute.name === DATA_TYPE_ATTRIBUTE)?.value as TtlvItem | undefined;
  if (dataType?.type !== ItemType.Enumeration) throw new KmipError(ResultReason.GeneralFailure, `the model of ${key.id} has no data type`);
  const value = await context.backend.readSecretValue(context.slot.slotId, key.id);
  return encodeGetResponse({ objectType, uniqueIdentifier: key.id, object: dataObject(objectType, dataType.value, value) });
}

/**
 * A Symmetric Key's value, Raw (the default) or Transparent Symmetric Key
 * (2.1.7.1), read from CKA_VALUE: only a key made exportable (CKA_SENSITIVE
 * false, CKA_EXTRACTABLE true; README "Key export") on a token whose
 * key-export policy is not "never" (key-export.ts) gives it, any other is
 * Permission Denied with the reason, never an empty answer.
 */
async function getSymmetricKey(context: OperationContext, key: KeyDescription, requested: number | undefined, wrapping: KeyWrappingSpecification | undefined) {
  const format = requested ?? KeyFormatType.Raw;
  if (wrapping !== undefined) {
    const keyBlock = await wrappedKeyBlock(context, key, wrapping, format, secretAlgorithmOf(key));
    return encodeGetResponse({ objectType: ObjectType.SymmetricKey, uniqueIdentifier: key.id, object: { keyBlock } });
  }
  if (format !== KeyFormatType.Raw && format !== KeyFormatType.TransparentSymmetricKey) {
    throw new KmipError(ResultReason.KeyFormatTypeNotSupported, `Key Format Type ${format} is not supported for symmetric keys (Raw, Transparent Symmetric Key)`);
  }
  checkExport(await tokenKeyExport(context), key.id);
  const value = await context.backend.readSecretValue(context.slot.slotId, key.id);
  const cryptographicAlgorithm = secretAlgorithmOf(key);
  const keyMaterial = format === KeyFormatType.Raw ? value : ttlv.structure(Tag.KeyMaterial, [ttlv.byteString(Tag.Key, value)]);
  return encodeGetResponse({
    objectType: ObjectType.SymmetricKey,
    uniqueIdentifier: key.id,
    object: {
      keyBlock: {
        keyFormatType: format,
        keyValue: { keyMaterial, attributes: [] },
        ...(cryptographicAlgorithm === undefined ? {} : { cryptographicAlgorithm }),
        // The key's bits as Get Attributes reports them (Triple DES: 168 or 112, without the parity bits).
        cryptographicLength: key.bits > 0 ? key.bits : value.length * 8,
      },
    },
  });
}

// Create Key Pair (KMIP 1.x section 4.2): C_GenerateKeyPair with the
// templates of doc/compatibility.md#create-key-pair. The key type comes from Cryptographic Algorithm,
// Cryptographic Length and, where sent, the Recommended Curve of the
// Cryptographic Domain Parameters; Name attributes become CKA_LABEL. Each key
// is a managed object of its own (managed-object.ts): Pre-Active unless an
// Activation Date now or past is given, its Cryptographic Usage Mask exactly
// as asked (every CKA_ usage flag it does not grant false), linked to the
// other key, its model written to the token around the generation so that a
// crash leaves nothing half-made.
import type { KeyPairSpec } from "../hsm/key-types.js";
import { type Attribute, attributeValue, type TemplateAttribute } from "../kmip/attributes.js";
import { KmipError } from "../kmip/errors.js";
import { decodeCreateKeyPairRequest, encodeCreateKeyPairResponse } from "../kmip/payloads/create-key-pair.js";
import { CryptographicAlgorithm, Operation, RecommendedCurve, ResultReason } from "../ttlv/enums.js";
import { createManagedObjects, newCkaId } from "./managed-object.js";
import type { OperationHandler } from "./operation.js";
import { templateLabel } from "./keys.js";

/** The common template's attributes, then the key's own, which win for single-valued ones (4.2). */
function merged(common: readonly Attribute[], own: readonly Attribute[]): Attribute[] {
  const ownNames = new Set(own.map((attribute) => attribute.name));
  return [...common.filter((attribute) => !ownNames.has(attribute.name) || attribute.name === "Object Group" || attribute.name.startsWith("x-")), ...own];
}

const EC_CURVES: ReadonlyMap<number, "P-256" | "P-384" | "P-521"> = new Map([
  [256, "P-256"],
  [384, "P-384"],
  [521, "P-521"],
]);
const RECOMMENDED_CURVES: ReadonlyMap<number, "P-256" | "P-384" | "P-521"> = new Map([
  [RecommendedCurve.P256, "P-256"],
  [RecommendedCurve.P384, "P-384"],
  [RecommendedCurve.P521, "P-521"],
]);

/** RSA moduli the relay generates: PKCS#11 modules commonly range 1024-4096; beyond that generation takes minutes. */
const RSA_MIN_BITS = 1024;
const RSA_MAX_BITS = 4096;

function invalid(message: string): KmipError {
  return new KmipError(ResultReason.InvalidField, message);
}

/** An attribute's value from the key's own template first, else from the common one. */
function pick<K extends "Cryptographic Algorithm" | "Cryptographic Length" | "Cryptographic Domain Parameters">(
  name: K,
  common: readonly Attribute[],
  own: readonly Attribute[],
  other: readonly Attribute[],
) {
  const mine = attributeValue(own, name);
  const theirs = attributeValue(other, name);
  if (mine !== undefined && theirs !== undefined && JSON.stringify(mine) !== JSON.stringify(theirs)) {
    throw invalid(`${name} differs between the private and the public key template`);
  }
  return mine ?? theirs ?? attributeValue(common, name);
}

export function keyPairSpec(common: readonly Attribute[], priv: readonly Attribute[], pub: readonly Attribute[]): KeyPairSpec {
  const algorithm = pick("Cryptographic Algorithm", common, priv, pub);
  const length = pick("Cryptographic Length", common, priv, pub);
  const curveValue = pick("Cryptographic Domain Parameters", common, priv, pub)?.recommendedCurve;
  switch (algorithm) {
    case undefined:
      throw new KmipError(ResultReason.MissingData, "Create Key Pair needs a Cryptographic Algorithm attribute (RSA, ECDSA, EC or Ed25519)");
    case CryptographicAlgorithm.RSA:
      if (length === undefined) throw new KmipError(ResultReason.MissingData, "an RSA key pair needs a Cryptographic Length (the modulus size in bits)");
      if (length < RSA_MIN_BITS || length > RSA_MAX_BITS || length % 8 !== 0) {
        throw invalid(`RSA Cryptographic Length ${length} is not supported (a multiple of 8 from ${RSA_MIN_BITS} to ${RSA_MAX_BITS})`);
      }
      return { keyType: "RSA", modulusBits: length };
    case CryptographicAlgorithm.ECDSA:
    case CryptographicAlgorithm.EC: {
      const byCurve = curveValue === undefined ? undefined : RECOMMENDED_CURVES.get(curveValue);
      if (curveValue !== undefined && byCurve === undefined) throw invalid(`Recommended Curve ${curveValue} is not supported (P-256, P-384 or P-521)`);
      const byLength = length === undefined ? undefined : EC_CURVES.get(length);
      if (length !== undefined && byLength === undefined) throw invalid(`EC Cryptographic Length ${length} is not supported (256, 384 or 521)`);
      if (byCurve !== undefined && byLength !== undefined && byCurve !== byLength) {
        throw invalid(`Cryptographic Length ${length} does not match the Recommended Curve ${byCurve}`);
      }
      const curve = byCurve ?? byLength;
      if (curve === undefined) throw new KmipError(ResultReason.MissingData, "an EC key pair needs a Cryptographic Length (256, 384, 521) or a Recommended Curve");
      return { keyType: "EC", curve };
    }
    case CryptographicAlgorithm.Ed25519:
      if (length !== undefined && length !== 255 && length !== 256) throw invalid(`Ed25519 Cryptographic Length ${length} is not valid (255 or none)`);
      if (curveValue !== undefined && curveValue !== RecommendedCurve.Curve25519) throw invalid("an Ed25519 key pair takes no Recommended Curve other than CURVE25519");
      return { keyType: "EdDSA", curve: "Ed25519" };
    default:
      throw invalid(`Cryptographic Algorithm ${algorithm} cannot make a key pair here (RSA, ECDSA, EC or Ed25519)`);
  }
}


function attributesOf(template: TemplateAttribute | undefined, which: string): Attribute[] {
  if (template === undefined) return [];
  if (template.names.length > 0) throw invalid(`the ${which} template refers to Template objects, which this relay does not keep`);
  return template.attributes;
}

export const createKeyPair: OperationHandler = {
  operation: Operation.CreateKeyPair,
  name: "Create Key Pair",
  readOnly: false,
  async run(context, requestPayload) {
    const request = decodeCreateKeyPairRequest(requestPayload);
    const common = attributesOf(request.commonTemplateAttribute, "common");
    const priv = attributesOf(request.privateKeyTemplateAttribute, "private key");
    const pub = attributesOf(request.publicKeyTemplateAttribute, "public key");
    const spec = keyPairSpec(common, priv, pub);
    const commonLabel = templateLabel(common, "the common template");
    const privateLabel = templateLabel(priv, "the private key template") ?? commonLabel;
    const publicLabel = templateLabel(pub, "the public key template") ?? commonLabel;
    const ckaId = newCkaId();
    const ids = await createManagedObjects(context, ckaId, { private: merged(common, priv), public: merged(common, pub) }, (plans) =>
      context.backend.generateKeyPair(context.slot.slotId, {
        spec,
        ckaId,
        privateUsage: plans.private!.usage,
        publicUsage: plans.public!.usage,
        ...(privateLabel === undefined ? {} : { privateLabel }),
        ...(publicLabel === undefined ? {} : { publicLabel }),
      }),
    );
    // The private key's id becomes the ID Placeholder (KMIP 1.x 4.2), so
    // Activate, Get or Sign later in the batch may omit it.
    context.idPlaceholder = ids.privateKeyId;
    return encodeCreateKeyPairResponse({ privateKeyUniqueIdentifier: ids.privateKeyId, publicKeyUniqueIdentifier: ids.publicKeyId });
  },
};

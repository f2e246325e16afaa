// Register (KMIP 1.x section 4.3): a managed object the client brings goes
// into the token, with its KMIP model (managed-object.ts) as a key the relay
// makes: Pre-Active unless the template's Activation Date has come, its
// dates, its client attributes, and Links to the other half of its pair. Dispatched by Object Type: Public Key and Private Key are
// imported with C_CreateObject (hsm/import-key.ts) as keys the relay could
// have made itself: sensitive and never extractable when private, the usage
// flags exactly as the Cryptographic Usage Mask grants them, the same
// Unique Identifier scheme (hex CKA_ID + _pub / _priv) and a public key
// sharing its private key's CKA_ID. Symmetric Keys, Secret Data and Opaque
// Objects: register-secret.ts. Other object types answer why not.
//
// The template is checked against the material: Cryptographic Algorithm,
// Cryptographic Length and a Recommended Curve must describe the key sent.
// Cryptographic Parameters become the key's signature defaults
// (CKA_ALLOWED_MECHANISMS, hsm/import-templates.ts); OAEP ones are kept in
// the key's model (managed-object.ts) for Encrypt and Decrypt.
import type { HashName, SignatureFamily } from "../hsm/crypto-types.js";
import type { KeyImportRequest, ObjectClass } from "../hsm/key-types.js";
import { parseKeyId } from "../hsm/key-id.js";
import { allowedMechanismsOf } from "../hsm/import-templates.js";
import { type Attribute, attributeValue, attributeValues, type CryptographicParameters, type TemplateAttribute } from "../kmip/attributes.js";
import { KmipError } from "../kmip/errors.js";
import type { KeyObject } from "../kmip/objects.js";
import { decodeRegisterRequest, encodeRegisterResponse } from "../kmip/payloads/register.js";
import { CryptographicAlgorithm, CryptographicUsageMask, LinkType, ObjectType, Operation, PaddingMethod, ResultReason } from "../ttlv/enums.js";
import { curveOfRecommended, parseKeyBlock, type ParsedKey } from "./key-material.js";
import { createManagedObjects } from "./managed-object.js";
import type { OperationContext, OperationHandler } from "./operation.js";
import { registerData, registerSymmetricKey } from "./register-secret.js";
import { signatureRequest } from "./signing.js";
import type { StructureItem } from "../ttlv/item.js";
import { templateLabel } from "./keys.js";
import { sha256Digest } from "./key-attributes.js";

function invalid(message: string): KmipError {
  return new KmipError(ResultReason.InvalidField, message);
}

/** Registers one object of a type; returns its Unique Identifier. */
type Registrar = (context: OperationContext, object: unknown, attributes: readonly Attribute[]) => Promise<string>;

const never =
  (what: string, why: string): Registrar =>
  async () => {
    throw invalid(`Register of ${what} is not supported: ${why}; this relay registers Public Keys, Private Keys, Symmetric Keys, Secret Data and Opaque Objects`);
  };

/** By Object Type (KMIP 1.x 9.1.3.2.12). */
const REGISTRARS: ReadonlyMap<number, Registrar> = new Map<number, Registrar>([
  [ObjectType.PublicKey, (context, object, attributes) => registerKey(context, object as KeyObject, attributes, "public")],
  [ObjectType.PrivateKey, (context, object, attributes) => registerKey(context, object as KeyObject, attributes, "private")],
  // Symmetric Keys, Secret Data and Opaque Objects: register-secret.ts.
  [ObjectType.SymmetricKey, (context, object, attributes) => registerSymmetricKey(context, object as KeyObject, attributes)],
  [ObjectType.SecretData, (context, object, attributes) => registerData(context, ObjectType.SecretData, object as StructureItem, attributes)],
  [ObjectType.OpaqueData, (context, object, attributes) => registerData(context, ObjectType.OpaqueData, object as StructureItem, attributes)],
  [ObjectType.Certificate, never("Certificates", "a PKCS#11 token is not a certificate store for this relay")],
  [ObjectType.SplitKey, never("Split Keys", "a token holds whole keys")],
  [ObjectType.Template, never("Templates", "Template objects are deprecated (KMIP 1.3) and the relay keeps none")],
  [ObjectType.PGPKey, never("PGP Keys", "OpenPGP key blocks have no PKCS#11 object")],
]);

export const register: OperationHandler = {
  operation: Operation.Register,
  name: "Register",
  readOnly: false,
  async run(context, requestPayload) {
    const request = decodeRegisterRequest(requestPayload);
    const registrar = REGISTRARS.get(request.objectType);
    if (registrar === undefined) throw invalid(`Object Type ${request.objectType} cannot be registered`);
    const id = await registrar(context, request.object, attributesOf(request.templateAttribute));
    // The new object's id is the ID Placeholder (KMIP 1.x 4.3) for the rest of the batch.
    context.idPlaceholder = id;
    return encodeRegisterResponse({ uniqueIdentifier: id });
  },
};

function attributesOf(template: TemplateAttribute | undefined): Attribute[] {
  if (template === undefined) return [];
  if (template.names.length > 0) throw invalid("the template refers to Template objects, which this relay does not keep");
  return template.attributes;
}

async function registerKey(context: OperationContext, object: KeyObject, templateAttributes: readonly Attribute[], objectClass: ObjectClass): Promise<string> {
  const block = object.keyBlock;
  // Attributes inside the Key Value (2.1.4) count as the template's.
  const attributes = [...templateAttributes, ...(block.keyValue instanceof Uint8Array || block.keyValue === undefined ? [] : block.keyValue.attributes)];
  const parsed = parseKeyBlock(block, objectClass);
  checkAgainstMaterial(parsed, attributes, block.cryptographicAlgorithm, block.cryptographicLength);

  const label = templateLabel(attributes);
  const mask = attributeValue(attributes, "Cryptographic Usage Mask");
  const signs = mask === undefined || (mask & (CryptographicUsageMask.Sign | CryptographicUsageMask.Verify)) !== 0;
  const params = attributeValue(attributes, "Cryptographic Parameters");
  // OAEP parameters are an encryption key's, kept in its model (managed-object.ts), not signature defaults.
  const allowedMechanisms = signs && params?.paddingMethod !== PaddingMethod.OAEP ? signatureDefaults(context, params, parsed) : undefined;
  const partnerId = linkedPartner(attributes, objectClass);
  const request: Omit<KeyImportRequest, "usage"> = {
    material: parsed.material,
    ...(label === undefined ? {} : { label }),
    ...(allowedMechanisms === undefined ? {} : { allowedMechanisms }),
    ...(partnerId === undefined ? {} : { partnerId }),
  };
  // The CKA_ID first (the other half's, when there is one), then the key's
  // model, pending, then the key (doc/object-model.md#register).
  const chosen = await context.backend.importKey(context.slot.slotId, { ...request, usage: {}, chooseOnly: true });
  const ckaId = parseKeyId(chosen)!.ckaId;
  return createManagedObjects(
    context,
    ckaId,
    { [objectClass]: attributes.filter((attribute) => attribute.name !== "Link") },
    (plans) => context.backend.importKey(context.slot.slotId, { ...request, usage: plans[objectClass]!.usage, ckaId }),
    { join: true, ...(objectClass === "private" ? { computed: { private: digestOfRegistered(block) } } : {}) },
  );
}

/**
 * The Digest (KMIP 1.x 3.17) of a registered private key: SHA-256 over the
 * Key Material as the client sent it, with its Key Format Type. Only now can
 * the relay compute it: the token never lets the material out again. A
 * public key's Digest is computed from the token when it is read
 * (key-attributes.ts). Transparent formats (a structure, not bytes) get none.
 */
function digestOfRegistered(block: KeyObject["keyBlock"]): Attribute[] {
  const material = block.keyValue instanceof Uint8Array || block.keyValue === undefined ? undefined : block.keyValue.keyMaterial;
  if (!(material instanceof Uint8Array)) return [];
  return [sha256Digest(material, block.keyFormatType)];
}


/** Cryptographic Algorithm, Length and Recommended Curve, where given (template or Key Block), must describe the material. */
function checkAgainstMaterial(parsed: ParsedKey, attributes: readonly Attribute[], blockAlgorithm: number | undefined, blockLength: number | undefined): void {
  const { material, bits } = parsed;
  const keyName = material.keyType === "RSA" ? `an RSA key of ${bits} bits` : `an EC key on ${material.curve}`;
  const fits: readonly number[] = material.keyType === "RSA" ? [CryptographicAlgorithm.RSA] : [CryptographicAlgorithm.ECDSA, CryptographicAlgorithm.EC];
  for (const algorithm of [blockAlgorithm, ...attributeValues(attributes, "Cryptographic Algorithm")]) {
    if (algorithm !== undefined && !fits.includes(algorithm)) throw invalid(`Cryptographic Algorithm ${algorithm} does not match the Key Material, ${keyName}`);
  }
  for (const length of [blockLength, ...attributeValues(attributes, "Cryptographic Length")]) {
    if (length !== undefined && length !== bits) throw invalid(`Cryptographic Length ${length} does not match the Key Material, ${keyName}`);
  }
  const curve = attributeValue(attributes, "Cryptographic Domain Parameters")?.recommendedCurve;
  if (curve !== undefined) {
    if (material.keyType !== "EC") throw invalid(`a Recommended Curve was given, but the Key Material is ${keyName}`);
    if (curveOfRecommended(curve) !== material.curve) throw invalid(`Recommended Curve ${curve} does not match the Key Material, ${keyName}`);
  }
}

const HASH_LENGTHS: Readonly<Record<HashName, number>> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

/**
 * The signature defaults the template's Cryptographic Parameters name, as
 * CKA_ALLOWED_MECHANISMS; undefined when they name no signature scheme.
 * Only for a key that signs or verifies: the parameters of a key for
 * encryption (RSA-OAEP, ...) are not signature defaults, and not kept here.
 * PKCS#11 has nowhere for a Salt Length or a Mask Generator hash: the
 * relay's own (the hash's length, MGF1 with the same hash) are used, and a
 * template that asks for others is logged.
 */
function signatureDefaults(context: OperationContext, params: CryptographicParameters | undefined, parsed: ParsedKey): number[] | undefined {
  if (params === undefined) return undefined;
  const request = signatureRequest(params, undefined, undefined);
  for (const value of [request.family, request.padding, request.hash, request.maskGenerator, request.maskGeneratorHash]) {
    if (typeof value === "object") throw invalid(`Cryptographic Parameters: ${value.refused}`);
  }
  if (request.family === undefined && request.padding === undefined && request.hash === undefined) return undefined;
  const keyFamily: SignatureFamily = parsed.material.keyType === "RSA" ? "RSA-PKCS1" : "ECDSA";
  let family = (request.family as SignatureFamily | undefined) ?? keyFamily;
  if (family === "RSA-PKCS1" && request.padding === "PSS") family = "RSA-PSS";
  const fits = keyFamily === "ECDSA" ? family === "ECDSA" : family === "RSA-PKCS1" || family === "RSA-PSS";
  if (!fits || family === "EdDSA") throw invalid(`the Cryptographic Parameters name a ${family} signature, but the Key Material is an ${parsed.material.keyType} key`);
  const hash = request.hash as HashName | undefined;
  if (family === "RSA-PSS" && hash !== undefined) {
    const kept = HASH_LENGTHS[hash];
    if ((request.saltLength !== undefined && request.saltLength !== kept) || (request.maskGeneratorHash !== undefined && request.maskGeneratorHash !== hash)) {
      context.logger.warn(
        { saltLength: request.saltLength, maskGeneratorHash: request.maskGeneratorHash },
        "Register: the key's PSS Salt Length / Mask Generator hash are not kept (PKCS#11 has no attribute for them); signatures without Cryptographic Parameters use a %d-byte salt and MGF1 with %s",
        kept,
        hash,
      );
    }
  }
  return allowedMechanismsOf(family, hash);
}

/** The key the template links this one to as the other half of its pair (Private Key Link on a public key, Public Key Link on a private key). */
function linkedPartner(attributes: readonly Attribute[], objectClass: ObjectClass): string | undefined {
  const type = objectClass === "public" ? LinkType.PrivateKeyLink : LinkType.PublicKeyLink;
  const links = attributeValues(attributes, "Link").filter((link) => link.linkType === type);
  if (links.length > 1) throw invalid(`the template has ${links.length} ${objectClass === "public" ? "Private" : "Public"} Key Links; a key has one other half`);
  return links[0]?.linkedObjectIdentifier;
}

// Register (KMIP 1.x section 4.3) of the objects a client brings as secret
// bytes: a Symmetric Key (Raw or Transparent Symmetric Key; AES, or HMAC),
// Secret Data (Password, Seed) and an Opaque Object. Each goes into the token
// with C_CreateObject as a CKO_SECRET_KEY (doc/object-model.md#register):
//
// - a Symmetric Key as a key the relay could have made with Create
//   (secret-keys.ts): CKK_AES, or CKK_GENERIC_SECRET limited to its HMAC by
//   CKA_ALLOWED_MECHANISMS, its usage flags as its mask grants once Active;
// - Secret Data and an Opaque Object as CKK_GENERIC_SECRET holding the bytes,
//   every usage flag false: the token does nothing with them but hand them
//   to Get. Their Object Type and Secret Data Type / Opaque Data Type are kept
//   in the object's model, so Get answers in the form they came in.
//
// PKCS#11 data objects (CKO_DATA) were the other choice: they have no CKA_ID
// (so no Unique Identifier of the relay's scheme), no CKA_SENSITIVE and no
// CKA_EXTRACTABLE; a secret key object has all three and the same lifecycle
// as every other key.
//
// The client had the value: a registered object is extractable unless the
// template says Extractable false or Sensitive true, or (Symmetric Keys) the
// token's key-export policy is "never" (key-export.ts, README "Key export").
// Each object is a managed object (managed-object.ts): Pre-Active unless an
// Activation Date now or past is given, with its Name, Object Group, Contact
// Information and x- attributes; its Digest (SHA-256 of the value, 3.17) is
// computed here, the one time the relay sees the value.
import { type Attribute, attributeValue } from "../kmip/attributes.js";
import { KmipError } from "../kmip/errors.js";
import { decodeKeyBlock, type KeyBlock, type KeyObject } from "../kmip/objects.js";
import { child } from "../ttlv/build.js";
import * as ttlv from "../ttlv/build.js";
import { CryptographicAlgorithm, CryptographicUsageMask, KeyFormatType, ObjectType, ResultReason, SecretDataType } from "../ttlv/enums.js";
import { ItemType, type StructureItem, type TtlvItem } from "../ttlv/item.js";
import { Tag } from "../ttlv/tags.js";
import { createManagedObjects, newCkaId } from "./managed-object.js";
import type { OperationContext } from "./operation.js";
import { registerExtractable, tokenKeyExport } from "./key-export.js";
import { secretKeyRequest } from "./secret-keys.js";
import { templateLabel } from "./keys.js";
import { sha256Digest } from "./key-attributes.js";

const invalid = (message: string) => new KmipError(ResultReason.InvalidField, message);

/** The server attribute that keeps a Secret Data Type or Opaque Data Type in the model (never sent: key-attributes.ts leaves it out). */
export const DATA_TYPE_ATTRIBUTE = "y-kmip2pkcs11-data-type";

/** The largest value kept: PKCS#11 modules hold secret values of a few kB at most. */
const MAX_VALUE_BYTES = 8192;

/** The mask a Symmetric Key gets when the template has none: what its algorithm does. */
function defaultMask(algorithm: number | undefined): number {
  return algorithm === CryptographicAlgorithm.AES || algorithm === CryptographicAlgorithm.TripleDES || algorithm === undefined
    ? CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt
    : CryptographicUsageMask.MacGenerate | CryptographicUsageMask.MacVerify;
}

/** The template's attributes Create does not take but the model keeps or Register may carry. */
const LIFECYCLE: ReadonlySet<string> = new Set(["Activation Date", "Deactivation Date", "Object Group", "Contact Information", "Process Start Date", "Protect Stop Date"]);


/** Whether the client asked that the value never leave the token again. */
function keptInside(attributes: readonly Attribute[]): boolean {
  return attributeValue(attributes, "Extractable") === false || attributeValue(attributes, "Sensitive") === true;
}

function checkValue(value: Uint8Array, what: string): void {
  if (value.length === 0) throw invalid(`${what} of 0 bytes cannot be kept (a PKCS#11 secret value has at least one byte)`);
  if (value.length > MAX_VALUE_BYTES) throw invalid(`${what} of ${value.length} bytes is longer than the ${MAX_VALUE_BYTES} bytes the relay keeps`);
}


/** The bytes of a Key Block in Raw, Opaque or Transparent Symmetric Key format. */
function blockValue(block: KeyBlock, formats: readonly number[], what: string): Uint8Array {
  if (block.keyWrappingData !== undefined || block.keyValue instanceof Uint8Array) throw invalid(`${what}: wrapped key values are not accepted; register the value in plaintext`);
  if (block.keyValue === undefined) throw new KmipError(ResultReason.MissingData, `${what} has no Key Value`);
  if (!formats.includes(block.keyFormatType)) throw new KmipError(ResultReason.KeyFormatTypeNotSupported, `${what}: Key Format Type ${block.keyFormatType} is not accepted here`);
  const material = block.keyValue.keyMaterial;
  if (material instanceof Uint8Array) return material;
  const key = "type" in material && material.type === ItemType.Structure ? child(material, Tag.Key) : undefined;
  if (key?.type !== ItemType.ByteString) throw invalid(`${what}: the Key Material is neither bytes nor a Transparent Symmetric Key holding a Key`);
  return key.value;
}

/** Register of a Symmetric Key; returns its id. */
export async function registerSymmetricKey(context: OperationContext, object: KeyObject, template: readonly Attribute[]): Promise<string> {
  const block = object.keyBlock;
  const value = blockValue(block, [KeyFormatType.Raw, KeyFormatType.TransparentSymmetricKey], "the Symmetric Key");
  checkValue(value, "a Symmetric Key");
  const inBlock = block.keyValue instanceof Uint8Array || block.keyValue === undefined ? [] : block.keyValue.attributes;
  const attributes = [...template, ...inBlock];
  const algorithm = attributeValue(attributes, "Cryptographic Algorithm") ?? block.cryptographicAlgorithm;
  if (block.cryptographicAlgorithm !== undefined && algorithm !== block.cryptographicAlgorithm) {
    throw invalid(`Cryptographic Algorithm ${algorithm} of the template differs from ${block.cryptographicAlgorithm} of the Key Block`);
  }
  const bits = value.length * 8;
  for (const length of [block.cryptographicLength, attributeValue(attributes, "Cryptographic Length")]) {
    // Triple DES lengths count key bits without the parity bits: 168 for 24 bytes, 112 for 16.
    const keyBits = algorithm === CryptographicAlgorithm.TripleDES ? (bits / 8) * 7 : bits;
    if (length !== undefined && length !== bits && length !== keyBits) throw invalid(`Cryptographic Length ${length} does not match the Key Material, ${value.length} bytes`);
  }
  // What Create would take, with the algorithm and length the material gives (secret-keys.ts checks them).
  const asCreate: Attribute[] = [
    ...attributes.filter((attribute) => !LIFECYCLE.has(attribute.name) && attribute.name !== "Cryptographic Algorithm" && attribute.name !== "Cryptographic Length" && !attribute.name.startsWith("x-")),
    ...(algorithm === undefined ? [] : [{ name: "Cryptographic Algorithm", value: algorithm } as Attribute]),
    { name: "Cryptographic Length", value: bits },
  ];
  const mask = attributeValue(attributes, "Cryptographic Usage Mask") ?? defaultMask(algorithm);
  if (attributeValue(asCreate, "Cryptographic Usage Mask") === undefined) asCreate.push({ name: "Cryptographic Usage Mask", value: mask });
  const request = secretKeyRequest(asCreate);
  const extractable = registerExtractable(attributes, await tokenKeyExport(context));
  const requested = attributeValue(attributes, "Cryptographic Usage Mask") === undefined ? [...attributes, { name: "Cryptographic Usage Mask", value: mask } as Attribute] : attributes;
  const ckaId = newCkaId();
  return createManagedObjects(
    context,
    ckaId,
    { secret: requested },
    (plans) =>
      context.backend.generateSecretKey(context.slot.slotId, {
        ...request,
        extractable,
        usage: { ...request.usage, ...plans.secret!.usage },
        ckaId,
        value,
      }),
    { computed: { secret: [sha256Digest(value, block.keyFormatType === KeyFormatType.TransparentSymmetricKey ? KeyFormatType.TransparentSymmetricKey : KeyFormatType.Raw)] } },
  );
}

/** What a Secret Data or Opaque Object structure holds. */
interface DataObject {
  readonly objectType: number;
  readonly dataType: number;
  readonly value: Uint8Array;
  readonly keyFormatType?: number;
}

function enumerationOf(item: TtlvItem | undefined, what: string): number {
  if (item === undefined) throw new KmipError(ResultReason.MissingData, `missing ${what}`);
  if (item.type !== ItemType.Enumeration) throw invalid(`${what} must be an Enumeration`);
  return item.value;
}

/** Secret Data (2.2.7): a Secret Data Type and a Key Block (Opaque or Raw format). */
function secretData(object: StructureItem): DataObject {
  const dataType = enumerationOf(child(object, Tag.SecretDataType), "Secret Data Type");
  if (dataType !== SecretDataType.Password && dataType !== SecretDataType.SEED) throw invalid(`Secret Data Type ${dataType} is not supported (Password, Seed)`);
  const blockItem = child(object, Tag.KeyBlock);
  if (blockItem === undefined) throw new KmipError(ResultReason.MissingData, "Secret Data without a Key Block");
  const block = decodeKeyBlock(blockItem);
  const value = blockValue(block, [KeyFormatType.Opaque, KeyFormatType.Raw], "the Secret Data");
  return { objectType: ObjectType.SecretData, dataType, value, keyFormatType: block.keyFormatType };
}

/** Opaque Object (2.2.8): an Opaque Data Type and an Opaque Data Value. */
function opaqueObject(object: StructureItem): DataObject {
  const dataType = enumerationOf(child(object, Tag.OpaqueDataType), "Opaque Data Type");
  const valueItem = child(object, Tag.OpaqueDataValue);
  if (valueItem === undefined) throw new KmipError(ResultReason.MissingData, "missing Opaque Data Value");
  if (valueItem.type !== ItemType.ByteString) throw invalid("Opaque Data Value must be a Byte String");
  return { objectType: ObjectType.OpaqueData, dataType, value: valueItem.value };
}

/** Register of Secret Data or an Opaque Object; returns its id. */
export async function registerData(context: OperationContext, objectType: number, object: StructureItem, template: readonly Attribute[]): Promise<string> {
  const data = objectType === ObjectType.SecretData ? secretData(object) : opaqueObject(object);
  const what = objectType === ObjectType.SecretData ? "Secret Data" : "an Opaque Object";
  checkValue(data.value, what);
  for (const attribute of template) {
    if (["Cryptographic Algorithm", "Cryptographic Length", "Cryptographic Parameters", "Cryptographic Domain Parameters"].includes(attribute.name)) {
      throw invalid(`${attribute.name} does not apply to ${what}`);
    }
  }
  const name = templateLabel(template);
  // The token does nothing with the value: no usage mask is granted unless the client gives one, which is kept as given.
  const requested = attributeValue(template, "Cryptographic Usage Mask") === undefined ? [...template, { name: "Cryptographic Usage Mask", value: 0 } as Attribute] : template;
  const stored: Attribute[] = [
    { name: "Object Type", value: data.objectType },
    { name: DATA_TYPE_ATTRIBUTE, value: ttlv.enumeration(Tag.AttributeValue, data.dataType) },
    sha256Digest(data.value, data.keyFormatType),
  ];
  const ckaId = newCkaId();
  const none = { sign: false, verify: false, encrypt: false, decrypt: false, wrap: false, unwrap: false, derive: false };
  return createManagedObjects(
    context,
    ckaId,
    { secret: requested },
    () =>
      context.backend.generateSecretKey(context.slot.slotId, {
        keyType: "GenericSecret",
        bits: data.value.length * 8,
        usage: none,
        extractable: !keptInside(template),
        ckaId,
        value: data.value,
        ...(name === undefined ? {} : { label: name }),
      }),
    { computed: { secret: stored } },
  );
}

/** The managed object Get returns for Secret Data or an Opaque Object, in the form it was registered in. */
export function dataObject(objectType: number, dataType: number, value: Uint8Array): StructureItem {
  if (objectType === ObjectType.OpaqueData) {
    return ttlv.structure(Tag.OpaqueObject, [ttlv.enumeration(Tag.OpaqueDataType, dataType), ttlv.byteString(Tag.OpaqueDataValue, value)]);
  }
  return ttlv.structure(Tag.SecretData, [
    ttlv.enumeration(Tag.SecretDataType, dataType),
    ttlv.structure(Tag.KeyBlock, [
      ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Opaque),
      ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, value)]),
    ]),
  ]);
}

// KMIP 1.x key blocks and managed objects (2.1.3 Key Block, 2.1.4 Key Value,
// 2.1.7 Transparent Key Structures, 2.2 Managed Objects). Key Material is a
// Byte String for the raw and DER formats and a structure for the
// transparent ones; which structure is decided by the Key Format Type next to
// it. Transparent formats the relay never produces stay raw structures.
import { KeyFormatType, ObjectType, ResultReason } from "../ttlv/enums.js";
import { ItemType, type StructureItem, type TtlvItem } from "../ttlv/item.js";
import { Tag } from "../ttlv/tags.js";
import { type Attribute, attributeCodec } from "./attributes.js";
import {
  bigInteger,
  byteString,
  type Codec,
  enumeration,
  fieldError,
  integer,
  joinPath,
  optional,
  rawItem,
  rawStructure,
  repeated,
  required,
  structure,
} from "./codec.js";
import { fieldLabel } from "./errors.js";

/** Transparent RSA Public Key (2.1.7.5). */
export interface TransparentRsaPublicKey {
  modulus: bigint;
  publicExponent: bigint;
}

/**
 * Transparent EC Public Key (2.1.7.9, 1.3+); the 1.0-1.2 Transparent ECDSA /
 * ECDH / ECMQV Public Key formats have the same two fields.
 */
export interface TransparentEcPublicKey {
  recommendedCurve: number;
  qString: Uint8Array;
}

/** Bytes for Raw, PKCS#1, PKCS#8, X.509, ... ; a typed or raw structure for transparent formats. */
export type KeyMaterial = Uint8Array | TransparentRsaPublicKey | TransparentEcPublicKey | StructureItem;

/** Key Value (2.1.4) in plaintext. */
export interface KeyValue {
  keyMaterial: KeyMaterial;
  attributes: Attribute[];
}

/** Key Block (2.1.3). */
export interface KeyBlock {
  keyFormatType: number;
  keyCompressionType?: number;
  /**
   * A KeyValue in plaintext, or the wrapped Key Value's bytes when Key
   * Wrapping Data is present; absent when the server holds no key value
   * (1.2 Key Value Present).
   */
  keyValue?: KeyValue | Uint8Array;
  cryptographicAlgorithm?: number;
  cryptographicLength?: number;
  /** Kept raw: the relay neither wraps nor unwraps keys and refuses wrapped input. */
  keyWrappingData?: StructureItem;
}

/** Symmetric Key, Public Key, Private Key (2.2.2-2.2.4): one Key Block each. */
export interface KeyObject {
  keyBlock: KeyBlock;
}
export type PublicKey = KeyObject;
export type PrivateKey = KeyObject;
export type SymmetricKey = KeyObject;

/** A managed object: typed for the key objects, a raw structure for the others. */
export type ManagedObject = KeyObject | StructureItem;

const transparentRsaPublicKeyCodec = structure<TransparentRsaPublicKey>({
  modulus: required(Tag.Modulus, bigInteger),
  publicExponent: required(Tag.PublicExponent, bigInteger),
});

const transparentEcPublicKeyCodec = structure<TransparentEcPublicKey>({
  recommendedCurve: required(Tag.RecommendedCurve, enumeration),
  qString: required(Tag.QString, byteString),
});

const transparentMaterialCodecs = new Map<number, Codec<KeyMaterial>>([
  [KeyFormatType.TransparentRSAPublicKey, transparentRsaPublicKeyCodec],
  [KeyFormatType.TransparentECPublicKey, transparentEcPublicKeyCodec],
  [KeyFormatType.TransparentECDSAPublicKey, transparentEcPublicKeyCodec],
  [KeyFormatType.TransparentECDHPublicKey, transparentEcPublicKeyCodec],
  [KeyFormatType.TransparentECMQVPublicKey, transparentEcPublicKeyCodec],
]);

/** Key Value with its Key Material still raw: the material's form depends on the Key Block. */
const keyValueFields = structure<{ keyMaterial: TtlvItem; attributes: Attribute[] }>({
  keyMaterial: required(Tag.KeyMaterial, rawItem),
  attributes: repeated(Tag.Attribute, attributeCodec),
});

const keyBlockFields = structure<{
  keyFormatType: number;
  keyCompressionType?: number;
  keyValue?: TtlvItem;
  cryptographicAlgorithm?: number;
  cryptographicLength?: number;
  keyWrappingData?: StructureItem;
}>({
  keyFormatType: required(Tag.KeyFormatType, enumeration),
  keyCompressionType: optional(Tag.KeyCompressionType, enumeration),
  keyValue: optional(Tag.KeyValue, rawItem),
  cryptographicAlgorithm: optional(Tag.CryptographicAlgorithm, enumeration),
  cryptographicLength: optional(Tag.CryptographicLength, integer),
  keyWrappingData: optional(Tag.KeyWrappingData, rawStructure),
});

function decodeKeyMaterial(item: TtlvItem, keyFormatType: number, path: string): KeyMaterial {
  if (item.type === ItemType.ByteString) return item.value;
  if (item.type !== ItemType.Structure) {
    throw fieldError(ResultReason.InvalidMessage, path, item.tag, `${fieldLabel(item.tag)} must be a Byte String or a Structure`);
  }
  return (transparentMaterialCodecs.get(keyFormatType) ?? rawStructure).decode(item, path);
}

function encodeKeyMaterial(material: KeyMaterial): TtlvItem {
  if (material instanceof Uint8Array) return byteString.encode(Tag.KeyMaterial, material);
  if ("modulus" in material) return transparentRsaPublicKeyCodec.encode(Tag.KeyMaterial, material);
  if ("qString" in material) return transparentEcPublicKeyCodec.encode(Tag.KeyMaterial, material);
  return rawStructure.encode(Tag.KeyMaterial, material);
}

export const keyBlockCodec: Codec<KeyBlock> = {
  decode(item, path) {
    const ownPath = joinPath(path, "Key Block");
    const { keyValue: rawKeyValue, ...block } = keyBlockFields.decodeAt(item, ownPath);
    if (rawKeyValue === undefined) return block;
    // 2.1.4: a Byte String Key Value is the wrapped (encrypted) key value.
    if (rawKeyValue.type === ItemType.ByteString) return { ...block, keyValue: rawKeyValue.value };
    const valuePath = joinPath(ownPath, "Key Value");
    const { keyMaterial, attributes } = keyValueFields.decodeAt(rawKeyValue, valuePath);
    return { ...block, keyValue: { keyMaterial: decodeKeyMaterial(keyMaterial, block.keyFormatType, valuePath), attributes } };
  },
  encode(tag, block) {
    const { keyValue, ...rest } = block;
    let rawKeyValue: TtlvItem | undefined;
    if (keyValue instanceof Uint8Array) {
      rawKeyValue = byteString.encode(Tag.KeyValue, keyValue);
    } else if (keyValue !== undefined) {
      rawKeyValue = keyValueFields.encode(Tag.KeyValue, {
        keyMaterial: encodeKeyMaterial(keyValue.keyMaterial),
        attributes: keyValue.attributes,
      });
    }
    return keyBlockFields.encode(tag, { ...rest, keyValue: rawKeyValue });
  },
};

export const keyObjectCodec = structure<KeyObject>({ keyBlock: required(Tag.KeyBlock, keyBlockCodec) });

/** The tag of each 1.x managed object (2.2), by Object Type. */
const managedObjectTags: ReadonlyMap<number, number> = new Map([
  [ObjectType.Certificate, Tag.Certificate],
  [ObjectType.SymmetricKey, Tag.SymmetricKey],
  [ObjectType.PublicKey, Tag.PublicKey],
  [ObjectType.PrivateKey, Tag.PrivateKey],
  [ObjectType.SplitKey, Tag.SplitKey],
  [ObjectType.Template, Tag.Template],
  [ObjectType.SecretData, Tag.SecretData],
  [ObjectType.OpaqueData, Tag.OpaqueObject],
  [ObjectType.PGPKey, Tag.PGPKey],
]);

const managedObjectTagSet: ReadonlySet<number> = new Set(managedObjectTags.values());

const keyObjectTypes: ReadonlySet<number> = new Set([ObjectType.SymmetricKey, ObjectType.PublicKey, ObjectType.PrivateKey]);

/** The tag of the managed object of this Object Type, or undefined for types 1.x lacks. */
export function managedObjectTag(objectType: number): number | undefined {
  return managedObjectTags.get(objectType);
}

/** Whether a tag is one of the 1.x managed object tags. */
export function isManagedObjectTag(tag: number): boolean {
  return managedObjectTagSet.has(tag);
}

/** The codec for a managed object of this Object Type. */
export function managedObjectCodec(objectType: number): Codec<ManagedObject> {
  return keyObjectTypes.has(objectType) ? keyObjectCodec : rawStructure;
}

export function decodeKeyBlock(item: TtlvItem): KeyBlock {
  return keyBlockCodec.decode(item, "");
}

export function encodeKeyBlock(block: KeyBlock, tag: number = Tag.KeyBlock): StructureItem {
  return keyBlockCodec.encode(tag, block) as StructureItem;
}

export function decodePublicKey(item: TtlvItem): PublicKey {
  return keyObjectCodec.decode(item, "");
}

export function encodePublicKey(key: PublicKey): StructureItem {
  return keyObjectCodec.encode(Tag.PublicKey, key);
}

export function decodePrivateKey(item: TtlvItem): PrivateKey {
  return keyObjectCodec.decode(item, "");
}

export function encodePrivateKey(key: PrivateKey): StructureItem {
  return keyObjectCodec.encode(Tag.PrivateKey, key);
}

// The value of a metadata object (doc/object-model.md#where-it-lives-in-the-token):
// the KMIP attributes a PKCS#11 key object has no place for, of the key
// objects of one CKA_ID, as TTLV from the relay's own codec.
//
//   Structure 0x540001 (record)
//     Integer    0x540002  format version (1)
//     Integer    0x540004  generation: one more on every write, so that of two
//                          objects with one label the newer is known
//     Date-Time  0x540003  pending since: present while the objects are made
//     Text String 0x540005 pending object, repeated: which of the record's
//                          objects are being made ("private", "public");
//                          absent: all of them (Register makes one object
//                          beside a key that exists, Create Key Pair both)
//     Structure  Private Key Template-Attribute { Attribute ... }  (the private key's)
//     Structure  Public Key Template-Attribute  { Attribute ... }  (the public key's)
//     Structure  0x540006 { Attribute ... }  (a secret key's: Symmetric Key, Secret Data or Opaque Object)
//
// The tags 0x54xxxx are KMIP's extension range (KMIP 1.x section 9.1.3.1):
// never sent to a client. A record of a later format version is refused
// rather than read wrongly.
import type { ObjectClass } from "../hsm/key-types.js";
import { type Attribute, decodeAttribute, encodeAttribute } from "../kmip/attributes.js";
import { KmipError } from "../kmip/errors.js";
import { child, children, dateTime, integer, structure, textString } from "../ttlv/build.js";
import { decodeTtlv } from "../ttlv/decode.js";
import { encodeTtlv } from "../ttlv/encode.js";
import { ResultReason } from "../ttlv/enums.js";
import { ItemType, type TtlvItem } from "../ttlv/item.js";
import { Tag } from "../ttlv/tags.js";

const RECORD = 0x540001;
const FORMAT = 0x540002;
const PENDING_SINCE = 0x540003;
const GENERATION = 0x540004;
const PENDING_OBJECT = 0x540005;
const SECRET_OBJECT = 0x540006;
export const FORMAT_VERSION = 1;

const OBJECT_TAGS: Readonly<Record<ObjectClass, number>> = {
  private: Tag.PrivateKeyTemplateAttribute,
  public: Tag.PublicKeyTemplateAttribute,
  secret: SECRET_OBJECT,
};
const OBJECT_CLASSES = ["private", "public", "secret"] as const;

/** What a metadata object holds. */
export interface MetadataRecord {
  /** One more than the record it replaces. */
  readonly generation: number;
  /** Seconds since the epoch when the making of the objects began; absent once they are made. */
  readonly pendingSince?: bigint;
  /** While pending, the objects being made; absent: all the record's objects. */
  readonly pendingObjects?: readonly ObjectClass[];
  /** The stored attributes of each key object the record describes. */
  readonly objects: Partial<Record<ObjectClass, readonly Attribute[]>>;
}

export function encodeRecord(record: MetadataRecord): Buffer {
  const items: TtlvItem[] = [integer(FORMAT, FORMAT_VERSION), integer(GENERATION, record.generation)];
  if (record.pendingSince !== undefined) {
    items.push(dateTime(PENDING_SINCE, record.pendingSince));
    for (const objectClass of record.pendingObjects ?? []) items.push(textString(PENDING_OBJECT, objectClass));
  }
  for (const objectClass of OBJECT_CLASSES) {
    const attributes = record.objects[objectClass];
    if (attributes !== undefined) items.push(structure(OBJECT_TAGS[objectClass], attributes.map(encodeAttribute)));
  }
  return encodeTtlv(structure(RECORD, items));
}

function unreadable(label: string, why: string): KmipError {
  return new KmipError(ResultReason.GeneralFailure, `the metadata object of CKA_ID ${label} cannot be read: ${why}`);
}

/** The record in a metadata object's value. Throws General Failure for a value this relay cannot read. */
export function decodeRecord(label: string, value: Uint8Array): MetadataRecord {
  let item: TtlvItem;
  try {
    item = decodeTtlv(value);
  } catch (error) {
    throw unreadable(label, (error as Error).message);
  }
  if (item.tag !== RECORD || item.type !== ItemType.Structure) throw unreadable(label, "not a kmip2pkcs11 record");
  const format = child(item, FORMAT);
  if (format?.type !== ItemType.Integer) throw unreadable(label, "no format version");
  if (format.value !== FORMAT_VERSION) throw unreadable(label, `format ${format.value}, written by another version of kmip2pkcs11 (this one reads format ${FORMAT_VERSION})`);
  const generationItem = child(item, GENERATION);
  const generation = generationItem?.type === ItemType.Integer ? generationItem.value : 0;
  const pending = child(item, PENDING_SINCE);
  const objects: Partial<Record<ObjectClass, Attribute[]>> = {};
  for (const objectClass of OBJECT_CLASSES) {
    const entry = child(item, OBJECT_TAGS[objectClass]);
    if (entry === undefined) continue;
    try {
      objects[objectClass] = children(entry, Tag.Attribute).map(decodeAttribute);
    } catch (error) {
      throw unreadable(label, (error as Error).message);
    }
  }
  if (pending?.type !== ItemType.DateTime) return { generation, objects };
  const pendingObjects = children(item, PENDING_OBJECT).flatMap((entry) => (entry.type === ItemType.TextString && typeof entry.value === "string" && isClass(entry.value) ? [entry.value] : []));
  return pendingObjects.length === 0 ? { generation, pendingSince: pending.value, objects } : { generation, pendingSince: pending.value, pendingObjects, objects };
}

const isClass = (value: string): value is ObjectClass => value === "private" || value === "public" || value === "secret";

/** Whether the record says the object of this class is still being made. */
export function isPending(record: MetadataRecord | undefined, objectClass: ObjectClass): boolean {
  if (record?.pendingSince === undefined) return false;
  return record.pendingObjects === undefined || record.pendingObjects.includes(objectClass);
}

/** Of the records of one label, the newest (see MetadataRecord.generation). */
export function newest(records: readonly MetadataRecord[]): MetadataRecord | undefined {
  return records.reduce<MetadataRecord | undefined>((best, record) => (best === undefined || record.generation > best.generation ? record : best), undefined);
}

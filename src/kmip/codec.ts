// Declarative conversion between TTLV items and typed KMIP values. A
// structure is described once, as an ordered list of fields (tag, value codec,
// required / optional / repeated); the same description decodes and encodes
// it, so the two directions cannot drift apart, and every decoding error
// names the structure path, the field and its tag.
//
// Decoding rules, applied to every structure:
// - a known field with the wrong item type, a required field that is missing
//   and a single field that occurs twice are errors (KMIP 1.x 11.1: an error
//   parsing the message or a payload is Invalid Message; the reason for a
//   missing field is chosen per structure, see StructureOptions);
// - fields may come in any order (the spec fixes an order, but nothing is
//   gained by refusing another one);
// - unknown fields are skipped in lenient structures (message headers, batch
//   items: later 1.x minor versions add fields there) and are Invalid Field
//   in strict ones (payloads and what they contain: a field the relay does
//   not understand could change what the client asked for).
// Encoding writes the fields in the listed order, which is the spec's order.
import * as ttlv from "../ttlv/build.js";
import { ResultReason } from "../ttlv/enums.js";
import { ItemType, type ItemOf, type StructureItem, type TtlvItem } from "../ttlv/item.js";
import { itemTypeName } from "../ttlv/names.js";
import { fieldLabel, fieldName, KmipError } from "./errors.js";

/** Converts one value to and from a TTLV item of any tag. */
export interface Codec<T> {
  /** Decodes `item`; `path` names the structure that holds it, for errors. */
  decode(item: TtlvItem, path: string): T;
  encode(tag: number, value: T): TtlvItem;
}

/** "Request Message > Request Header": the path of a nested structure. */
export function joinPath(path: string, name: string): string {
  return path === "" ? name : `${path} > ${name}`;
}

/** A KmipError for `field` inside the structure at `path`. */
export function fieldError(reason: number, path: string, tag: number, problem: string): KmipError {
  return new KmipError(reason, `${path}: ${problem}`, { tag });
}

function typeLabel(type: number): string {
  const name = itemTypeName(type).replace(/([a-z])([A-Z])/g, "$1 $2");
  return (/^[AEIOU]/.test(name) ? "an " : "a ") + name;
}

/** Checks the item type of `item`, the field at `path`. */
export function expectType<T extends ItemType>(item: TtlvItem, type: T, path: string): ItemOf<T> {
  if (item.type !== type) {
    throw fieldError(
      ResultReason.InvalidMessage,
      path,
      item.tag,
      `${fieldLabel(item.tag)} must be ${typeLabel(type)}, not ${typeLabel(item.type)}`,
    );
  }
  return item as ItemOf<T>;
}

function primitive<V>(type: ItemType, make: (tag: number, value: V) => TtlvItem): Codec<V> {
  return {
    // The item type determines the value's type (src/ttlv/item.ts).
    decode: (item, path) => expectType(item, type, path).value as V,
    encode: make,
  };
}

export const integer = primitive(ItemType.Integer, ttlv.integer);
export const longInteger = primitive(ItemType.LongInteger, ttlv.longInteger);
export const bigInteger = primitive(ItemType.BigInteger, ttlv.bigInteger);
/** Enumeration values stay numbers: which values are acceptable is the caller's decision. */
export const enumeration = primitive(ItemType.Enumeration, ttlv.enumeration);
export const boolean = primitive(ItemType.Boolean, ttlv.boolean);
export const textString: Codec<string> = {
  decode(item, path) {
    const value = expectType(item, ItemType.TextString, path).value;
    // Only a Password decodes to bytes (src/ttlv/item.ts), and it has its own codec.
    if (typeof value !== "string") throw new TypeError(`${path}: a Password is read with secretText, never as a string`);
    return value;
  },
  encode: ttlv.textString,
};
/**
 * A Text String kept as its UTF-8 bytes, never a string (a Password: the
 * server zeroes it after use, which a string does not allow). Decoding
 * gives a Buffer, a view of the request's bytes, not a copy; encoding takes
 * the bytes or a string (a client's own password).
 */
export const secretText: Codec<Buffer | string> = {
  decode(item, path) {
    const value = expectType(item, ItemType.TextString, path).value;
    return typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  },
  encode: (tag, value) => (typeof value === "string" ? ttlv.textString(tag, value) : { tag, type: ItemType.TextString, value }),
};
export const byteString = primitive(ItemType.ByteString, ttlv.byteString);
export const dateTime = primitive(ItemType.DateTime, ttlv.dateTime);
export const interval = primitive(ItemType.Interval, ttlv.interval);

function retag<I extends TtlvItem>(item: I, tag: number): I {
  return item.tag === tag ? item : { ...item, tag };
}

/** A structure kept as TTLV (payloads at message level, vendor data). */
export const rawStructure: Codec<StructureItem> = {
  decode: (item, path) => expectType(item, ItemType.Structure, path),
  encode: (tag, value) => retag(value, tag),
};

/** An item of any type kept as TTLV (custom attribute values). */
export const rawItem: Codec<TtlvItem> = {
  decode: (item) => item,
  encode: (tag, value) => retag(value, tag),
};

type Occurrence = "required" | "optional" | "repeated";

/** One field of a structure. `T` is the field's type in the typed value. */
export interface Field<T> {
  readonly tag: number;
  readonly occurs: Occurrence;
  readonly codec: Codec<unknown>;
  /** Type-level only: makes Field<X | undefined> incompatible with Field<X>. */
  readonly phantom?: { value: T };
}

export function required<T>(tag: number, codec: Codec<T>): Field<T> {
  return { tag, occurs: "required", codec: codec as Codec<unknown> };
}

export function optional<T>(tag: number, codec: Codec<T>): Field<T | undefined> {
  return { tag, occurs: "optional", codec: codec as Codec<unknown> };
}

/** Zero or more occurrences, decoded to an array (empty when absent). */
export function repeated<T>(tag: number, codec: Codec<T>): Field<T[]> {
  return { tag, occurs: "repeated", codec: codec as Codec<unknown> };
}

export type Fields<T> = { readonly [K in keyof T]-?: Field<T[K]> };

export interface StructureOptions {
  /** The name used in error paths instead of the tag's name ("Sign Request Payload"). */
  name?: string;
  /** Unknown fields are Invalid Field when true (the default), skipped when false. */
  strict?: boolean;
  /**
   * The Result Reason for a missing required field: Missing Data by default;
   * Invalid Message for message headers and batch items, where the message
   * itself cannot be understood without the field.
   */
  missingReason?: number;
}

interface FieldEntry {
  readonly key: string;
  readonly field: Field<unknown>;
}

/** A structure described by its fields; see the rules at the top of this file. */
export class StructureCodec<T> implements Codec<T> {
  private readonly entries: readonly FieldEntry[];
  /** Tag -> position in `entries`. */
  private readonly indexByTag: ReadonlyMap<number, number>;
  private readonly name: string | undefined;
  private readonly strict: boolean;
  private readonly missingReason: number;

  constructor(fields: Fields<T>, options: StructureOptions = {}) {
    this.entries = Object.entries(fields as Record<string, Field<unknown>>).map(([key, field]) => ({ key, field }));
    this.indexByTag = new Map(this.entries.map((entry, index) => [entry.field.tag, index]));
    this.name = options.name;
    this.strict = options.strict ?? true;
    this.missingReason = options.missingReason ?? ResultReason.MissingData;
  }

  decode(item: TtlvItem, path: string): T {
    return this.decodeAt(item, joinPath(path, this.name ?? fieldName(item.tag)));
  }

  /** Decodes `item`, whose own path (not its parent's) is `path`. */
  decodeAt(item: TtlvItem, path: string): T {
    const fields = expectType(item, ItemType.Structure, path).value;
    // Values are collected by field position first and the object is built
    // once, in field order: every decode of one structure then creates
    // objects of the same shape (this is the server's hot path).
    const slots: unknown[] = new Array(this.entries.length);
    for (const child of fields) {
      const index = this.indexByTag.get(child.tag);
      if (index === undefined) {
        if (this.strict) {
          throw fieldError(ResultReason.InvalidField, path, child.tag, `unexpected field ${fieldLabel(child.tag)}`);
        }
        continue;
      }
      const { field } = this.entries[index]!;
      const decoded = field.codec.decode(child, path);
      const slot = slots[index];
      if (field.occurs === "repeated") {
        if (slot === undefined) slots[index] = [decoded];
        else (slot as unknown[]).push(decoded);
      } else if (slot !== undefined) {
        throw fieldError(ResultReason.InvalidMessage, path, child.tag, `${fieldLabel(child.tag)} occurs more than once`);
      } else {
        slots[index] = decoded;
      }
    }
    const value: Record<string, unknown> = {};
    for (let index = 0; index < slots.length; index++) {
      const { key, field } = this.entries[index]!;
      const slot = slots[index];
      if (slot !== undefined) value[key] = slot;
      else if (field.occurs === "repeated") value[key] = [];
      else if (field.occurs === "required") throw fieldError(this.missingReason, path, field.tag, `missing ${fieldLabel(field.tag)}`);
    }
    return value as T;
  }

  encode(tag: number, value: T): StructureItem {
    const items: TtlvItem[] = [];
    const record = value as Record<string, unknown>;
    for (const { key, field } of this.entries) {
      const fieldValue = record[key];
      if (fieldValue === undefined) {
        if (field.occurs === "required") {
          throw new TypeError(`cannot encode ${this.name ?? fieldName(tag)}: ${key} (${fieldLabel(field.tag)}) is required`);
        }
      } else if (field.occurs === "repeated") {
        for (const element of fieldValue as unknown[]) items.push(field.codec.encode(field.tag, element));
      } else {
        items.push(field.codec.encode(field.tag, fieldValue));
      }
    }
    return ttlv.structure(tag, items);
  }
}

export function structure<T>(fields: Fields<T>, options?: StructureOptions): StructureCodec<T> {
  return new StructureCodec(fields, options);
}

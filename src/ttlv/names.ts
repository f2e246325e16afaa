// Names for tags, item types and enumeration values, for the pretty printer,
// the JSON form and error messages. The tables themselves are tags.ts and
// enums.ts; this file only builds the reverse (value -> name) lookups.
import * as Enums from "./enums.js";
import { ItemType } from "./item.js";
import { Tag } from "./tags.js";

type Table = Readonly<Record<string, number>>;

function reverse(table: Table): Map<number, string> {
  const names = new Map<number, string>();
  for (const [name, value] of Object.entries(table)) {
    // The first name listed for a value wins, so the table order decides.
    if (!names.has(value)) names.set(value, name);
  }
  return names;
}

const tagNames = reverse(Tag);
const itemTypeNames = reverse(ItemType);

/**
 * Bit masks are Integers, not Enumerations (KMIP 1.x 9.1.3.3), so they are
 * named by `maskNames`, not by `enumerationName`.
 */
const maskTables: ReadonlyMap<number, Table> = new Map<number, Table>([
  [Tag.CryptographicUsageMask, Enums.CryptographicUsageMask],
  [Tag.StorageStatusMask, Enums.StorageStatusMask],
]);

/**
 * Enumeration tables by the tag of the item that holds them: every table in
 * enums.ts named like a tag, plus tags that reuse another tag's table.
 */
const enumerationTables: ReadonlyMap<number, Table> = (() => {
  const tables = new Map<number, Table>();
  for (const [name, table] of Object.entries(Enums) as [string, Table][]) {
    const tag = (Tag as Table)[name];
    if (tag !== undefined && !maskTables.has(tag)) tables.set(tag, table);
  }
  // KMIP 1.4 3.6 (Cryptographic Parameters): the MGF hash uses the Hashing
  // Algorithm values.
  tables.set(Tag.MaskGeneratorHashingAlgorithm, Enums.HashingAlgorithm);
  return tables;
})();

const enumerationNames = new Map<number, Map<number, string>>();

function enumerationNamesOf(tag: number): Map<number, string> | undefined {
  let names = enumerationNames.get(tag);
  if (names === undefined) {
    const table = enumerationTables.get(tag);
    if (table === undefined) return undefined;
    names = reverse(table);
    enumerationNames.set(tag, names);
  }
  return names;
}

/** "0x42XXXX": the hex form of a tag, as the KMIP specification writes it. */
export function tagHex(tag: number): string {
  return "0x" + tag.toString(16).toUpperCase().padStart(6, "0");
}

/** The tag's name without spaces ("UniqueIdentifier"), or its hex form. */
export function tagName(tag: number): string {
  return tagNames.get(tag) ?? tagHex(tag);
}

/** The tag with this name ("UniqueIdentifier"), or undefined. */
export function tagByName(name: string): number | undefined {
  return Object.hasOwn(Tag, name) ? (Tag as Table)[name] : undefined;
}

/** "Structure", "Integer", ... or "0xNN" for a type that KMIP 1.x lacks. */
export function itemTypeName(type: number): string {
  return itemTypeNames.get(type) ?? "0x" + type.toString(16).toUpperCase().padStart(2, "0");
}

/** The item type with this name ("TextString"), or undefined. */
export function itemTypeByName(name: string): ItemType | undefined {
  return Object.hasOwn(ItemType, name) ? (ItemType as Record<string, ItemType>)[name] : undefined;
}

/** "Integer BatchCount": an item's type and tag, for error messages. */
export function describeItem(type: number, tag: number): string {
  return `${itemTypeName(type)} ${tagName(tag)}`;
}

/**
 * The name of an Enumeration value held by an item with this tag
 * (`enumerationName(Tag.Operation, 0x21)` is "Sign"), or undefined when the
 * tag has no table or the table lacks the value.
 */
export function enumerationName(tag: number, value: number): string | undefined {
  return enumerationNamesOf(tag)?.get(value);
}

/** The Enumeration value with this name for this tag, or undefined. */
export function enumerationByName(tag: number, name: string): number | undefined {
  const table = enumerationTables.get(tag);
  return table !== undefined && Object.hasOwn(table, name) ? table[name] : undefined;
}

/**
 * The names of the bits set in a bit mask Integer (Cryptographic Usage Mask,
 * Storage Status Mask), or undefined for other tags. Bits without a name are
 * given in hex.
 */
export function maskNames(tag: number, value: number): string[] | undefined {
  const table = maskTables.get(tag);
  if (table === undefined) return undefined;
  const names: string[] = [];
  let rest = value >>> 0;
  for (const [name, bit] of Object.entries(table)) {
    if ((rest & bit) !== 0) {
      names.push(name);
      rest &= ~bit;
    }
  }
  if (rest !== 0) names.push("0x" + (rest >>> 0).toString(16).toUpperCase().padStart(8, "0"));
  return names;
}

/**
 * The tag whose enumeration (or mask) table names an item's value. That is
 * the item's own tag, except for an Attribute Value, whose values are those
 * of the attribute that the Attribute Name next to it names: KMIP 1.x 2.1.1
 * names attributes by their spec name ("Cryptographic Algorithm" ->
 * Tag.CryptographicAlgorithm, "X.509 Certificate Identifier" ->
 * Tag.X509CertificateIdentifier).
 */
export function valueTag(tag: number, attributeName: string | undefined): number {
  if (tag !== Tag.AttributeValue || attributeName === undefined) return tag;
  return tagByName(attributeName.replace(/[^A-Za-z0-9]/g, "")) ?? tag;
}

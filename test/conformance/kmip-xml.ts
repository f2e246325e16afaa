// The KMIP XML encoding of the OASIS KMIP Profiles test cases (KMIP Profiles
// 1.x, "XML Encoding"): one element per TTLV item, named after its tag
// (`<UniqueIdentifier type="TextString" value="..."/>`), or `<TTLV
// tag="0x42XXXX" ...>` for a tag without a name; `type` and `value`
// attributes for primitive items, child elements for a Structure. A test case
// file is a sequence of RequestMessage / ResponseMessage pairs under a root
// element (<KMIP> or <KmipTestCase>).
//
// Values that differ from server to server are written as placeholders:
// `$NOW`, `$NOW-3600` (the time the case runs, minus an hour), and names such
// as `$UNIQUE_IDENTIFIER_0` or `$CORRELATION_VALUE` that a response defines
// and later requests use.
import { readFileSync } from "node:fs";
import { SaxesParser } from "saxes";
import * as Enums from "../../src/ttlv/enums.js";
import { parseHex } from "../../src/ttlv/hex.js";
import { ItemType, type TtlvItem } from "../../src/ttlv/item.js";
import { itemTypeName, tagName, valueTag } from "../../src/ttlv/names.js";
import { Tag } from "../../src/ttlv/tags.js";

/** One element of the file, as written. */
export interface XmlElement {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
  /** Line in the file, for error messages. */
  readonly line: number;
}

/** One request and the response a conformant server gives to it. */
export interface CaseStep {
  readonly request: XmlElement;
  readonly response: XmlElement;
}

/** Reads a test case file: its request / response pairs, in order. */
export function readTestCase(path: string): CaseStep[] {
  const root = parseXml(readFileSync(path, "utf8"), path);
  const steps: CaseStep[] = [];
  const messages = root.children;
  for (let i = 0; i < messages.length; i += 2) {
    const request = messages[i]!;
    const response = messages[i + 1];
    if (request.name !== "RequestMessage") throw new Error(`${path}:${request.line}: <${request.name}> where a <RequestMessage> belongs`);
    if (response?.name !== "ResponseMessage") throw new Error(`${path}:${request.line}: a <RequestMessage> without the <ResponseMessage> after it`);
    steps.push({ request, response });
  }
  return steps;
}

/** Parses XML into elements; text between elements other than white space is an error (the encoding has none). */
export function parseXml(text: string, source: string): XmlElement {
  const parser = new SaxesParser({ position: true });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  parser.on("opentag", (node) => {
    const element: XmlElement = { name: node.name, attributes: node.attributes as Record<string, string>, children: [], line: parser.line };
    const parent = stack.at(-1);
    if (parent === undefined) root = element;
    else parent.children.push(element);
    stack.push(element);
  });
  parser.on("closetag", () => {
    stack.pop();
  });
  parser.on("text", (chunk) => {
    if (chunk.trim() !== "") throw new Error(`${source}:${parser.line}: text ${JSON.stringify(chunk.trim().slice(0, 40))} outside an attribute`);
  });
  parser.on("error", (error) => {
    throw new Error(`${source}: ${error.message}`);
  });
  parser.write(text).close();
  if (root === undefined) throw new Error(`${source}: no root element`);
  return root;
}

/** Values of one run of a case: the time it runs at and the placeholders defined so far. */
export interface CaseContext {
  /** $NOW, seconds since the POSIX epoch, fixed for the whole case. */
  readonly now: bigint;
  /** Placeholder name ("$UNIQUE_IDENTIFIER_0") -> the item a response gave for it. */
  readonly bound: Map<string, TtlvItem>;
}

const NOW = /^\$NOW(?:([+-])([0-9]+))?$/;

/** Whether a value is a placeholder of the time ($NOW, $NOW-3600, ...). */
export const isTimePlaceholder = (value: string): boolean => NOW.test(value);

/** Whether a value is a placeholder that a response defines ($UNIQUE_IDENTIFIER_0, ...). */
export const isBoundPlaceholder = (value: string): boolean => value.startsWith("$") && !NOW.test(value);

/** The tag of an element: its name in tags.ts (compared without case), or the `tag` attribute of a <TTLV> element. */
export function elementTag(element: XmlElement): number {
  const explicit = element.attributes.tag;
  if (explicit !== undefined) {
    if (!/^0x[0-9a-f]{6}$/i.test(explicit)) throw new Error(`line ${element.line}: tag ${JSON.stringify(explicit)} is not "0x42XXXX"`);
    return Number(explicit);
  }
  const tag = tagsByKey.get(normalise(element.name));
  if (tag === undefined) throw new Error(`line ${element.line}: unknown tag <${element.name}>`);
  return tag;
}

/** The item type of an element (`type` attribute; none is a Structure). */
export function elementType(element: XmlElement): ItemType {
  const text = element.attributes.type;
  if (text === undefined) return ItemType.Structure;
  const type = (ItemType as Record<string, ItemType>)[text.replace(/ /g, "")];
  if (type === undefined) throw new Error(`line ${element.line}: unknown type ${JSON.stringify(text)}`);
  return type;
}

/** The text of the Attribute Name among a Structure element's children, if any. */
export function attributeNameOf(element: XmlElement): string | undefined {
  return element.children.find((c) => elementTag(c) === Tag.AttributeName)?.attributes.value;
}

/**
 * The TTLV item an element stands for in a request, with the time and the
 * placeholders of `context` filled in. A placeholder no response has defined
 * yet is an error.
 */
export function toTtlv(element: XmlElement, context: CaseContext, attributeName?: string): TtlvItem {
  const tag = elementTag(element);
  const type = elementType(element);
  if (type === ItemType.Structure) {
    const name = attributeNameOf(element);
    return { tag, type, value: element.children.map((c) => toTtlv(c, context, name)) };
  }
  const text = element.attributes.value;
  if (text === undefined) throw new Error(`line ${element.line}: <${element.name}> has no value`);
  if (isBoundPlaceholder(text)) {
    const item = context.bound.get(text);
    if (item === undefined) throw new Error(`line ${element.line}: ${text} is used before a response defined it`);
    if (item.type !== type) throw new Error(`line ${element.line}: ${text} is a ${itemTypeName(item.type)} item, not a ${element.attributes.type}`);
    return { ...item, tag } as TtlvItem;
  }
  return { tag, type, value: parseValue(tag, type, text, context.now, attributeName, element.line) } as TtlvItem;
}

/** A primitive value written in the XML encoding. */
export function parseValue(tag: number, type: ItemType, text: string, now: bigint, attributeName: string | undefined, line: number): TtlvItem["value"] {
  const fail = (what: string): never => {
    throw new Error(`line ${line}: ${tagName(tag)} ${JSON.stringify(text)} is not ${what}`);
  };
  switch (type) {
    case ItemType.Integer:
    case ItemType.Interval: {
      if (/^-?[0-9]+$/.test(text)) return Number(text);
      if (/^0x[0-9a-f]{1,8}$/i.test(text)) return Number(text) | 0;
      // Bit masks are written as the names of their bits, separated by spaces.
      const table = tableOf(valueTag(tag, attributeName));
      if (table === undefined) return fail("a number");
      let mask = 0;
      for (const bit of text.trim().split(/\s+/)) mask |= table.get(normalise(bit)) ?? fail(`a number or names from the ${tagName(valueTag(tag, attributeName))} table`);
      return mask;
    }
    case ItemType.Enumeration: {
      if (/^0x[0-9a-f]{1,8}$/i.test(text)) return Number(text);
      const table = tableOf(valueTag(tag, attributeName));
      return table?.get(normalise(text)) ?? fail(`a name from the ${tagName(valueTag(tag, attributeName))} table`);
    }
    case ItemType.LongInteger:
      if (/^-?[0-9]+$/.test(text)) return BigInt(text);
      return /^0x[0-9a-f]{1,16}$/i.test(text) ? BigInt.asIntN(64, BigInt(text)) : fail("a 64-bit integer");
    case ItemType.BigInteger: {
      // Big-endian two's complement in hex (the encoding's rule for Big Integers).
      if (!/^0x(?:[0-9a-f]{2})+$/i.test(text)) return fail("hex bytes 0x...");
      const hex = text.slice(2);
      return BigInt.asIntN(hex.length * 4, BigInt("0x" + hex));
    }
    case ItemType.Boolean:
      if (text === "true" || text === "false") return text === "true";
      return fail("true or false");
    case ItemType.TextString:
      return text;
    case ItemType.ByteString:
      try {
        return parseHex(text);
      } catch {
        return fail("hex digits");
      }
    case ItemType.DateTime: {
      const relative = NOW.exec(text);
      if (relative !== null) {
        const offset = relative[2] === undefined ? 0n : BigInt(relative[2]);
        return relative[1] === "-" ? now - offset : now + offset;
      }
      const ms = Date.parse(text);
      return Number.isNaN(ms) ? fail("an ISO 8601 date") : BigInt(Math.floor(ms / 1000));
    }
  }
  return fail("a primitive value");
}

/** Names are compared without case, spaces and underscores: the encoding writes "SHA_256", "PKCS_1", "PreActive". */
function normalise(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, "");
}

const tagsByKey: ReadonlyMap<string, number> = unambiguous(Object.entries(Tag));

/**
 * Names the encoding uses that tags.ts / enums.ts spell another way. KMIP
 * 1.x 9.1.3.2.3: "3DES" (an identifier cannot start with a digit) and the
 * Object Type "Opaque Object".
 */
const ALIASES: ReadonlyMap<number, Readonly<Record<string, number>>> = new Map<number, Readonly<Record<string, number>>>([
  [Tag.CryptographicAlgorithm, { des3: Enums.CryptographicAlgorithm.TripleDES }],
  [Tag.ObjectType, { opaqueobject: Enums.ObjectType.OpaqueData }],
]);

const tables = new Map<number, ReadonlyMap<string, number> | undefined>();

/** The value table (enumeration or bit mask) of a tag, keyed by normalised name. */
function tableOf(tag: number): ReadonlyMap<string, number> | undefined {
  if (tables.has(tag)) return tables.get(tag);
  // KMIP 1.4 3.6: the MGF hash uses the Hashing Algorithm values.
  const name = tag === Tag.MaskGeneratorHashingAlgorithm ? "HashingAlgorithm" : tagName(tag);
  const source = (Enums as Record<string, Readonly<Record<string, number>> | undefined>)[name];
  let table: Map<string, number> | undefined;
  if (source !== undefined) {
    table = new Map(unambiguous(Object.entries(source)));
    for (const [key, value] of Object.entries(ALIASES.get(tag) ?? {})) table.set(key, value);
  }
  tables.set(tag, table);
  return table;
}

/** name -> value, keyed by normalised name; a key two different values share is left out. */
function unambiguous(entries: [string, number][]): Map<string, number> {
  const map = new Map<string, number>();
  const clashes = new Set<string>();
  for (const [name, value] of entries) {
    const key = normalise(name);
    if (map.has(key) && map.get(key) !== value) clashes.add(key);
    else map.set(key, value);
  }
  for (const key of clashes) map.delete(key);
  return map;
}

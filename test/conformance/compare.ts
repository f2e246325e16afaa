// Compares a server's response with the ResponseMessage a test case expects.
// Values that legitimately differ between servers are matched by their role,
// everything else exactly:
// - placeholders ($UNIQUE_IDENTIFIER_0, $CORRELATION_VALUE, ...): the first
//   response that has one defines it, and every later use must be that value;
// - date-times: the Time Stamp and server dates ($NOW, or the dates recorded
//   by the server that made the case) by type only; a date that the case's
//   requests sent ($NOW-3600, 1970-01-01T00:00:06) must come back exactly;
// - key material, digests of it, signatures, MACs, random data, IVs, nonces
//   and authentication tags: type and length only;
// - Result Message: optional (KMIP 1.x 6.17), any text when present;
// - the Attributes of a payload: each expected Attribute must be there, with
//   its value, and no other; their order is free (KMIP fixes none);
// - the Attribute Names of a Get Attribute List answer likewise: each
//   expected name there and no other, in any order (KMIP 1.x 4.13 fixes none),
//   a name written with runs of spaces in a 1.0 file read with single spaces
//   (as player.ts sends such names).
// Everything else (result status and reason, enumerations, integers, texts,
// the order of the other items) must be equal.
import { toHex } from "../../src/ttlv/hex.js";
import { ItemType, type TtlvItem } from "../../src/ttlv/item.js";
import { enumerationName, maskNames, tagName, valueTag } from "../../src/ttlv/names.js";
import { Operation } from "../../src/ttlv/enums.js";
import { Tag } from "../../src/ttlv/tags.js";
import {
  attributeNameOf,
  type CaseContext,
  elementTag,
  elementType,
  isBoundPlaceholder,
  parseValue,
  type XmlElement,
} from "./kmip-xml.js";

/** Byte strings that are secret, random or made with a key the server generated: compared by length. */
const BY_LENGTH = new Set<number>([
  Tag.KeyMaterial,
  Tag.DigestValue,
  Tag.SignatureData,
  Tag.MacData,
  Tag.IvCounterNonce,
  Tag.AuthenticatedEncryptionTag,
  Tag.CorrelationValue,
]);

/** Operations whose Data is random or ciphertext: compared by length. */
const DATA_BY_LENGTH = new Set<number>([Operation.RNGRetrieve, Operation.Encrypt]);

export interface CompareOptions {
  readonly context: CaseContext;
  /** The DateTime values (as written) that the case's requests send. */
  readonly requestDates: ReadonlySet<string>;
}

interface State extends CompareOptions {
  operation: number | undefined;
  readonly differences: string[];
}

/**
 * The differences between `actual` and the expected response, each as "path:
 * actual, expected value", in the order of the expected response; none when
 * they match. Binds the placeholders the response defines in
 * `options.context`. Within a Structure whose items no longer line up, only
 * the first difference is reported.
 */
export function compareResponse(expected: XmlElement, actual: TtlvItem, options: CompareOptions): string[] {
  const differences: string[] = [];
  compareItem(expected, actual, tagName(elementTag(expected)), undefined, { ...options, operation: undefined, differences });
  return differences;
}

function compareItem(expected: XmlElement, actual: TtlvItem, path: string, attributeName: string | undefined, state: State): void {
  const difference = compareValue(expected, actual, path, attributeName, state);
  if (difference !== undefined) state.differences.push(difference);
}

/** Compares a primitive item, or a Structure (whose differences go to state.differences); returns a difference of the item itself. */
function compareValue(expected: XmlElement, actual: TtlvItem, path: string, attributeName: string | undefined, state: State): string | undefined {
  const tag = elementTag(expected);
  const type = elementType(expected);
  if (actual.tag !== tag) return `${path}: ${tagName(actual.tag)}, expected ${tagName(tag)}`;
  if (actual.type !== type) return `${path}: a ${typeName(actual.type)}, expected a ${typeName(type)}`;
  if (actual.type === ItemType.Structure) {
    if (tag === Tag.BatchItem) {
      const status = compareResult(expected, actual.value, state.context);
      if (status !== undefined) return status;
    }
    compareChildren(expected.children, actual.value, path, attributeNameOf(expected), state);
    return undefined;
  }
  const text = expected.attributes.value ?? "";
  if (isBoundPlaceholder(text)) {
    const bound = state.context.bound.get(text);
    if (bound === undefined) {
      state.context.bound.set(text, actual);
      return undefined;
    }
    return sameValue(bound, actual) ? undefined : `${path}: ${describe(actual, attributeName)}, expected ${text} = ${describe(bound, attributeName)}`;
  }
  if (tag === Tag.ResultMessage) return undefined;
  if (actual.type === ItemType.DateTime && (tag === Tag.TimeStamp || text === "$NOW" || !state.requestDates.has(text))) return undefined;
  const wanted = { tag, type, value: parseValue(tag, type, text, state.context.now, attributeName, expected.line) } as TtlvItem;
  if (actual.type === ItemType.ByteString && (BY_LENGTH.has(tag) || (tag === Tag.Data && DATA_BY_LENGTH.has(state.operation ?? -1)))) {
    const length = (wanted.value as Uint8Array).length;
    return actual.value.length === length ? undefined : `${path}: ${actual.value.length} bytes, expected ${length} bytes`;
  }
  if (tag === Tag.Operation && actual.type === ItemType.Enumeration) state.operation = actual.value;
  return sameValue(wanted, actual) ? undefined : `${path}: ${describe(actual, attributeName)}, expected ${describe(wanted, attributeName)}`;
}

/** A batch item's Result Status and Reason first, with the server's Result Message, which says why. */
function compareResult(expected: XmlElement, actual: readonly TtlvItem[], context: CaseContext): string | undefined {
  const field = (tag: number) => expected.children.find((c) => elementTag(c) === tag)?.attributes.value;
  const got = (tag: number) => actual.find((c) => c.tag === tag);
  const name = (tag: number, item: TtlvItem | undefined) =>
    item === undefined ? "none" : item.type === ItemType.Enumeration ? (enumerationName(tag, item.value) ?? String(item.value)) : String(item.value);
  const status = name(Tag.ResultStatus, got(Tag.ResultStatus));
  const reason = name(Tag.ResultReason, got(Tag.ResultReason));
  const wantedReason = field(Tag.ResultReason);
  if (status === field(Tag.ResultStatus) && (wantedReason === undefined || wantedReason === reason)) return undefined;
  const message = got(Tag.ResultMessage);
  const why = message?.type === ItemType.TextString && typeof message.value === "string" ? ` ${JSON.stringify(withPlaceholders(message.value, context))}` : "";
  const expectedText = field(Tag.ResultStatus) + (wantedReason === undefined ? "" : ` ${wantedReason}`);
  return `ResultStatus ${status}${reason === "none" ? "" : ` ${reason}`}${why}, expected ${expectedText}`;
}

/** A server's text with the identifiers it made written as their placeholders, so that it reads the same on every run. */
function withPlaceholders(text: string, context: CaseContext): string {
  let result = text;
  for (const [name, item] of context.bound) {
    if (item.type === ItemType.TextString && typeof item.value === "string" && item.value.length >= 8) result = result.split(item.value).join(name);
  }
  return result;
}

function compareChildren(
  expected: readonly XmlElement[],
  actual: readonly TtlvItem[],
  path: string,
  attributeName: string | undefined,
  state: State,
): void {
  let a = 0;
  let e = 0;
  while (e < expected.length) {
    const wanted = expected[e]!;
    const tag = elementTag(wanted);
    // A run of Attributes, matched by name; a run of Attribute Names (Get Attribute List), matched as a set.
    const compareRun = tag === Tag.Attribute ? compareAttributes : tag === Tag.AttributeName ? compareAttributeNames : undefined;
    if (compareRun !== undefined) {
      let eEnd = e;
      while (eEnd < expected.length && elementTag(expected[eEnd]!) === tag) eEnd++;
      let aEnd = a;
      while (aEnd < actual.length && actual[aEnd]!.tag === tag) aEnd++;
      compareRun(expected.slice(e, eEnd), actual.slice(a, aEnd), path, state);
      e = eEnd;
      a = aEnd;
      continue;
    }
    const item = actual[a];
    if (item?.tag === Tag.ResultMessage && tag !== Tag.ResultMessage) {
      a++;
      continue;
    }
    if (item?.tag !== tag) {
      if (tag === Tag.ResultMessage) {
        e++;
        continue;
      }
      state.differences.push(item === undefined ? `${path}: ${tagName(tag)} missing` : `${path}: ${tagName(item.tag)} where ${tagName(tag)} was expected`);
      return;
    }
    compareItem(wanted, item, `${path}/${tagName(tag)}`, attributeName, state);
    e++;
    a++;
  }
  while (a < actual.length && actual[a]!.tag === Tag.ResultMessage) a++;
  if (a < actual.length) state.differences.push(`${path}: unexpected ${tagName(actual[a]!.tag)}${describeExtra(actual[a]!)}`);
}

function compareAttributes(expected: readonly XmlElement[], actual: readonly TtlvItem[], path: string, state: State): void {
  const used = new Set<number>();
  for (const wanted of expected) {
    const name = attributeNameOf(wanted) ?? "";
    const index = actual.findIndex((item, i) => !used.has(i) && actualAttributeName(item) === name);
    if (index < 0) {
      state.differences.push(`${path}: Attribute "${name}" missing`);
      continue;
    }
    used.add(index);
    compareItem(wanted, actual[index]!, `${path}/Attribute "${name}"`, name, state);
  }
  actual.forEach((item, i) => {
    if (!used.has(i)) state.differences.push(`${path}: unexpected Attribute "${actualAttributeName(item)}"${describeExtra(item)}`);
  });
}

function compareAttributeNames(expected: readonly XmlElement[], actual: readonly TtlvItem[], path: string, state: State): void {
  const wanted = new Set(expected.map((element) => (element.attributes.value ?? "").replace(/ {2,}/g, " ")));
  const given = new Set(actual.map((item) => String(item.value)));
  for (const name of wanted) if (!given.has(name)) state.differences.push(`${path}: AttributeName "${name}" missing`);
  for (const name of given) if (!wanted.has(name)) state.differences.push(`${path}: unexpected AttributeName "${name}"`);
}

function actualAttributeName(item: TtlvItem): string | undefined {
  if (item.type !== ItemType.Structure) return undefined;
  const name = item.value.find((c) => c.tag === Tag.AttributeName);
  return name?.type === ItemType.TextString && typeof name.value === "string" ? name.value : undefined;
}

/** " (value)" of an unexpected item or Attribute, when it is short. */
function describeExtra(item: TtlvItem): string {
  const name = actualAttributeName(item);
  const value = name === undefined ? item : item.type === ItemType.Structure ? item.value.find((c) => c.tag === Tag.AttributeValue) : undefined;
  if (value === undefined || value.type === ItemType.Structure) return "";
  return ` (${describe(value, name)})`;
}

function sameValue(a: TtlvItem, b: TtlvItem): boolean {
  if (a.type !== b.type) return false;
  if (a.type === ItemType.ByteString) return Buffer.from(a.value).equals(Buffer.from(b.value as Uint8Array));
  if (a.type === ItemType.Structure) {
    const other = b.value as readonly TtlvItem[];
    return a.value.length === other.length && a.value.every((c, i) => c.tag === other[i]!.tag && sameValue(c, other[i]!));
  }
  return a.value === b.value;
}

function typeName(type: number): string {
  return Object.entries(ItemType).find(([, value]) => value === type)?.[0] ?? `type 0x${type.toString(16)}`;
}

/** A value as a person reads it: enumeration and mask names, ISO dates, short hex. */
export function describe(item: TtlvItem, attributeName?: string): string {
  const table = valueTag(item.tag, attributeName);
  switch (item.type) {
    case ItemType.Enumeration:
      return enumerationName(table, item.value) ?? `0x${item.value.toString(16).padStart(8, "0")}`;
    case ItemType.Integer: {
      const names = maskNames(table, item.value);
      return names === undefined ? String(item.value) : names.join("|") || "0";
    }
    case ItemType.TextString:
      return JSON.stringify(item.value.length > 80 ? item.value.slice(0, 80) + "…" : item.value);
    case ItemType.ByteString: {
      const hex = toHex(item.value);
      return `${item.value.length} bytes ${hex.length > 32 ? hex.slice(0, 32) + "…" : hex}`;
    }
    case ItemType.DateTime:
      return new Date(Number(item.value) * 1000).toISOString().replace(".000Z", "Z");
    case ItemType.Structure:
      return `{${item.value.map((c) => `${tagName(c.tag)} ${describe(c, attributeName)}`).join(", ")}}`;
    default:
      return String(item.value);
  }
}

// A JSON form of TTLV trees, for crafting messages by hand (`ttlv encode`)
// and for reading them in tests. One item is an object
//
//   {"tag": "RequestMessage", "type": "Structure", "value": [ ...items ]}
//
// - "tag": the tag's name from tags.ts ("UniqueIdentifier") or its hex form
//   ("0x420094", also for tags without a name).
// - "type": Structure, Integer, LongInteger, BigInteger, Enumeration,
//   Boolean, TextString, ByteString, DateTime or Interval (spaces allowed:
//   "Text String").
// - "value", by type:
//   Structure: an array of items.
//   Integer, Interval: a number.
//   Enumeration: the value's name in the tag's table ("Sign" for Operation;
//     for an Attribute Value, the table of the attribute that the Attribute
//     Name next to it names), or a number, or a hex string "0x00000021".
//   LongInteger, BigInteger, DateTime: a decimal string ("-5"), or a safe
//     integer number; DateTime is seconds since the POSIX epoch.
//   Boolean: true or false.
//   TextString: a string.
//   ByteString: hex digits, whitespace allowed ("0102 0304").
//
// toJson writes names where they exist and decimal strings for 64-bit and
// big values, so fromJson(toJson(item)) is the same tree.
import { TtlvError } from "./errors.js";
import { parseHex, toHex } from "./hex.js";
import { ItemType, type TtlvItem } from "./item.js";
import { enumerationByName, enumerationName, itemTypeByName, itemTypeName, tagByName, tagName, valueTag } from "./names.js";
import { isSecret, redacted } from "./pretty.js";
import { Tag } from "./tags.js";

export type TtlvJson = { tag: string; type: string; value: TtlvJsonValue };
export type TtlvJsonValue = TtlvJson[] | number | string | boolean;

export interface ToJsonOptions {
  /**
   * Replace passwords and key material by "<redacted N bytes>" (as
   * `ttlv decode` does by default); such a form no longer encodes.
   */
  readonly redact?: boolean;
}

/** The JSON form of an item (see the top of this file). */
export function toJson(item: TtlvItem, options: ToJsonOptions = {}): TtlvJson {
  return itemToJson(item, undefined, options.redact === true ? false : undefined);
}

/** `inKeyMaterial`: undefined when not redacting, else whether the item is inside Key Material. */
function itemToJson(item: TtlvItem, attributeName: string | undefined, inKeyMaterial: boolean | undefined): TtlvJson {
  const tag = tagName(item.tag);
  const type = itemTypeName(item.type);
  if (inKeyMaterial !== undefined && isSecret(item, inKeyMaterial)) return { tag, type, value: redacted(item) };
  switch (item.type) {
    case ItemType.Structure: {
      const name = attributeNameOf(item.value, (c) => (c.type === ItemType.TextString && typeof c.value === "string" ? c.value : undefined), (c) => c.tag);
      const inner = inKeyMaterial === undefined ? undefined : inKeyMaterial || item.tag === Tag.KeyMaterial;
      return { tag, type, value: item.value.map((c) => itemToJson(c, name, inner)) };
    }
    case ItemType.Enumeration:
      return { tag, type, value: enumerationName(valueTag(item.tag, attributeName), item.value) ?? item.value };
    case ItemType.LongInteger:
    case ItemType.BigInteger:
    case ItemType.DateTime:
      return { tag, type, value: item.value.toString() };
    case ItemType.ByteString:
      return { tag, type, value: toHex(item.value) };
    case ItemType.TextString:
      // Bytes only for a Password, kept here since the caller asked not to redact (item.ts).
      return { tag, type, value: typeof item.value === "string" ? item.value : Buffer.from(item.value).toString("utf8") };
    default:
      return { tag, type, value: item.value };
  }
}

/**
 * The item that a JSON value (parsed, not text) describes. Malformed input is
 * a TtlvError "BAD_JSON" naming the path ($.value[1].tag). Value ranges are
 * checked by encodeTtlv.
 */
export function fromJson(json: unknown): TtlvItem {
  return parseItem(json, "$", undefined);
}

function parseItem(json: unknown, path: string, attributeName: string | undefined): TtlvItem {
  const fail = (what: string): never => {
    throw new TtlvError("BAD_JSON", -1, `${path}: ${what}`);
  };
  if (typeof json !== "object" || json === null || Array.isArray(json)) fail("an item must be an object {tag, type, value}");
  const { tag: tagText, type: typeText, value, ...rest } = json as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) fail(`unknown key ${JSON.stringify(extra[0])}; an item has only tag, type and value`);
  if (typeof tagText !== "string") fail('"tag" must be a tag name or "0x42XXXX"');
  const tag = parseTag(tagText as string) ?? fail(`unknown tag ${JSON.stringify(tagText)}: not a name from tags.ts or a hex "0x42XXXX"`);
  if (typeof typeText !== "string") fail('"type" must be an item type name such as "TextString"');
  const type = itemTypeByName((typeText as string).replace(/ /g, "")) ?? fail(`unknown item type ${JSON.stringify(typeText)}`);
  const valuePath = `${path}.value`;
  const wrong = (expected: string): never => {
    throw new TtlvError("BAD_JSON", -1, `${valuePath}: a ${typeText as string} value must be ${expected}, not ${JSON.stringify(value)}`);
  };

  switch (type) {
    case ItemType.Structure: {
      if (!Array.isArray(value)) return wrong("an array of items");
      const name = attributeNameOf(
        value as unknown[],
        (c) => (isRecord(c) && typeof c.value === "string" && String(c.type).replace(/ /g, "") === "TextString" ? c.value : undefined),
        (c) => (isRecord(c) && typeof c.tag === "string" ? parseTag(c.tag) : undefined),
      );
      return { tag, type, value: (value as unknown[]).map((c, i) => parseItem(c, `${valuePath}[${i}]`, name)) };
    }
    case ItemType.Integer:
    case ItemType.Interval:
      if (typeof value !== "number") return wrong("a number");
      return { tag, type, value: value as number };
    case ItemType.Enumeration: {
      if (typeof value === "number") return { tag, type, value };
      if (typeof value !== "string") return wrong("a name, a number or a hex string");
      const table = valueTag(tag, attributeName);
      const number = enumerationByName(table, value as string) ?? (/^0x[0-9a-f]{1,8}$/i.test(value as string) ? Number(value) : undefined);
      if (number === undefined) return wrong(`a name from the ${tagName(table)} table, a number or a hex string`);
      return { tag, type, value: number as number };
    }
    case ItemType.LongInteger:
    case ItemType.BigInteger:
    case ItemType.DateTime: {
      const big = parseBigInt(value) ?? wrong('a decimal string such as "-42" (or a safe integer)');
      return { tag, type, value: big as bigint };
    }
    case ItemType.Boolean:
      if (typeof value !== "boolean") return wrong("true or false");
      return { tag, type, value: value as boolean };
    case ItemType.TextString:
      if (typeof value !== "string") return wrong("a string");
      return { tag, type, value: value as string };
    case ItemType.ByteString:
      if (typeof value !== "string") return wrong('a hex string such as "01020304"');
      try {
        return { tag, type, value: parseHex(value as string) };
      } catch (error) {
        return wrong(`hex digits (${(error as Error).message})`);
      }
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

function parseTag(text: string): number | undefined {
  if (/^0x[0-9a-f]{6}$/i.test(text)) return Number(text);
  return tagByName(text);
}

function parseBigInt(value: unknown): bigint | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) ? BigInt(value) : undefined;
  if (typeof value === "string" && /^-?[0-9]+$/.test(value)) return BigInt(value);
  return undefined;
}

/** The text of the Attribute Name among a Structure's children, if any. */
function attributeNameOf<T>(items: readonly T[], text: (item: T) => string | undefined, tag: (item: T) => number | undefined): string | undefined {
  for (const item of items) if (tag(item) === Tag.AttributeName) return text(item);
  return undefined;
}

// A readable dump of a TTLV tree, for logs, the `ttlv decode` command and
// test failures: one item per line, indented by nesting, with tag and type
// names and enumerations by name. Secrets are redacted unless asked not to.
import { child } from "./build.js";
import { bigIntegerLength } from "./encode.js";
import { toHex } from "./hex.js";
import { ItemType, type TtlvItem } from "./item.js";
import { enumerationName, itemTypeName, maskNames, tagName, valueTag } from "./names.js";
import { Tag } from "./tags.js";

export interface FormatOptions {
  /** Replace passwords and key material by their length (default true). */
  redact?: boolean;
}

/**
 * Parts of transparent keys (KMIP 1.x 2.1.7) that are secret: the symmetric
 * Key, RSA private parts, and the private values X (DSA, DH) and D (EC).
 * Only redacted under Key Material, where these tags name key parts.
 */
const secretKeyParts: ReadonlySet<number> = new Set([
  Tag.Key,
  Tag.PrivateExponent,
  Tag.P,
  Tag.Q,
  Tag.PrimeExponentP,
  Tag.PrimeExponentQ,
  Tag.CrtCoefficient,
  Tag.D,
  Tag.X,
]);

/** The tree as indented lines, without a final newline. */
export function formatTtlv(item: TtlvItem, options: FormatOptions = {}): string {
  const lines: string[] = [];
  formatItem(item, { redact: options.redact ?? true, inKeyMaterial: false, depth: 0, attributeName: undefined }, lines);
  return lines.join("\n");
}

interface Context {
  readonly redact: boolean;
  /** Inside a Key Material structure: byte strings and key parts are secret. */
  readonly inKeyMaterial: boolean;
  readonly depth: number;
  /** The Attribute Name next to this item, naming an Attribute Value's values. */
  readonly attributeName: string | undefined;
}

function formatItem(item: TtlvItem, context: Context, lines: string[]): void {
  const head = `${"  ".repeat(context.depth)}${tagName(item.tag)} (${itemTypeName(item.type)})`;
  if (item.type !== ItemType.Structure) {
    lines.push(`${head}: ${context.redact && isSecret(item, context.inKeyMaterial) ? redacted(item) : formatValue(item, context.attributeName)}`);
    return;
  }
  lines.push(head);
  const name = child(item, Tag.AttributeName);
  const inner: Context = {
    redact: context.redact,
    inKeyMaterial: context.inKeyMaterial || item.tag === Tag.KeyMaterial,
    depth: context.depth + 1,
    attributeName: name?.type === ItemType.TextString && typeof name.value === "string" ? name.value : undefined,
  };
  for (const c of item.value) formatItem(c, inner, lines);
}

/** A password or key material (under Key Material: byte strings and secret key parts). */
export function isSecret(item: TtlvItem, inKeyMaterial: boolean): boolean {
  if (item.tag === Tag.Password || item.tag === Tag.KeyMaterial) return true;
  return inKeyMaterial && (item.type === ItemType.ByteString || secretKeyParts.has(item.tag));
}

export function redacted(item: TtlvItem): string {
  // A PIN's length narrows a guess; a key's length is no secret.
  if (item.tag === Tag.Password) return "<redacted>";
  return `<redacted ${valueLength(item)} bytes>`;
}

/** The value's length on the wire, padding excluded. */
function valueLength(item: TtlvItem): number {
  switch (item.type) {
    case ItemType.Structure:
      return item.value.length;
    case ItemType.TextString:
      return typeof item.value === "string" ? Buffer.byteLength(item.value, "utf8") : item.value.length;
    case ItemType.ByteString:
      return item.value.length;
    case ItemType.BigInteger:
      return bigIntegerLength(item.value);
    case ItemType.Integer:
    case ItemType.Enumeration:
    case ItemType.Interval:
      return 4;
    default:
      return 8;
  }
}

function formatValue(item: Exclude<TtlvItem, { type: typeof ItemType.Structure }>, attributeName: string | undefined): string {
  switch (item.type) {
    case ItemType.Integer: {
      const bits = maskNames(valueTag(item.tag, attributeName), item.value);
      return bits === undefined ? String(item.value) : `${item.value} (${bits.join("|") || "none"})`;
    }
    case ItemType.Enumeration:
      return enumerationName(valueTag(item.tag, attributeName), item.value) ?? hex32(item.value);
    case ItemType.LongInteger:
    case ItemType.Boolean:
      return String(item.value);
    case ItemType.BigInteger:
      return item.value < 0n ? `-0x${(-item.value).toString(16).toUpperCase()}` : `0x${item.value.toString(16).toUpperCase()}`;
    case ItemType.TextString:
      // Bytes only for a Password, which the caller redacts unless told not to (item.ts).
      return JSON.stringify(typeof item.value === "string" ? item.value : Buffer.from(item.value).toString("utf8"));
    case ItemType.ByteString:
      return `${item.value.length} bytes ${toHex(item.value)}`.trimEnd();
    case ItemType.DateTime:
      return formatDateTime(item.value);
    case ItemType.Interval:
      return `${item.value} s`;
  }
}

function hex32(value: number): string {
  return "0x" + value.toString(16).toUpperCase().padStart(8, "0");
}

/** ISO 8601 in UTC when a JavaScript Date can hold it, and always the seconds. */
function formatDateTime(seconds: bigint): string {
  const MAX_DATE_SECONDS = 8_640_000_000_000n; // ECMA-262 21.4.1.1
  if (seconds > MAX_DATE_SECONDS || seconds < -MAX_DATE_SECONDS) return `${seconds}`;
  const iso = new Date(Number(seconds) * 1000).toISOString().replace(".000Z", "Z");
  return `${iso} (${seconds})`;
}

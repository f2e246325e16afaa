// TTLV encoder (KMIP 1.x 9.1). Two passes: the first checks every value and
// sums the encoded size, the second writes into one zero-filled buffer of
// exactly that size (so padding needs no writes), filling in each Structure's
// length once its children are written.
import { TtlvError } from "./errors.js";
import { HEADER_LENGTH, ItemType, paddedLength, type TtlvItem } from "./item.js";
import { describeItem, tagName } from "./names.js";

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const UINT32_MAX = 0xffffffff;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MASK = (1n << 64n) - 1n;

/** Encodes one item (and its children) to TTLV bytes. */
export function encodeTtlv(item: TtlvItem): Buffer {
  const size = measure(item, 0);
  const buffer = Buffer.alloc(size);
  write(buffer, 0, item);
  return buffer;
}

/**
 * The byte length of a Big Integer value: the fewest bytes, a multiple of 8,
 * that hold the value in two's complement (9.1.1.4: "padded with a minimal
 * number of leading sign-extended bytes").
 */
export function bigIntegerLength(value: bigint): number {
  // Bits of the magnitude, plus one for the sign.
  const bits = (value < 0n ? -value - 1n : value).toString(2).length + 1;
  return Math.ceil(bits / 64) * 8;
}

/** Checks the item at `offset` and returns its encoded length, padding included. */
function measure(item: TtlvItem, offset: number): number {
  // Trees built by hand or from JSON may break the static types: check the
  // runtime value, not what the type says it is.
  const value: unknown = item.value;
  const tag = item.tag;
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xffffff) {
    throw badValue(item, offset, `the tag ${String(tag)} is not a 3-byte number`);
  }
  switch (item.type) {
    case ItemType.Structure: {
      if (!Array.isArray(value)) throw badValue(item, offset, "the value is not an array of items");
      let length = HEADER_LENGTH;
      for (const child of value as TtlvItem[]) length += measure(child, offset + length);
      return length;
    }
    case ItemType.Integer:
      if (!isIntegerIn(value, INT32_MIN, INT32_MAX)) throw badValue(item, offset, `${String(value)} is not a signed 32-bit integer`);
      return 16;
    case ItemType.Enumeration:
    case ItemType.Interval:
      if (!isIntegerIn(value, 0, UINT32_MAX)) throw badValue(item, offset, `${String(value)} is not an unsigned 32-bit integer`);
      return 16;
    case ItemType.LongInteger:
    case ItemType.DateTime:
      if (typeof value !== "bigint" || value < INT64_MIN || value > INT64_MAX) {
        throw badValue(item, offset, `${String(value)} is not a signed 64-bit bigint`);
      }
      return 16;
    case ItemType.BigInteger:
      if (typeof value !== "bigint") throw badValue(item, offset, `${String(value)} is not a bigint`);
      return HEADER_LENGTH + bigIntegerLength(value);
    case ItemType.Boolean:
      if (typeof value !== "boolean") throw badValue(item, offset, `${String(value)} is not a boolean`);
      return 16;
    case ItemType.TextString:
      // A Password may be given as its UTF-8 bytes (item.ts).
      if (value instanceof Uint8Array) return HEADER_LENGTH + paddedLength(value.length);
      // A lone surrogate has no UTF-8 form; Buffer would write U+FFFD instead.
      if (typeof value !== "string" || !(value as WellFormedString).isWellFormed()) {
        throw badValue(item, offset, "the value is not a well-formed string");
      }
      return HEADER_LENGTH + paddedLength(Buffer.byteLength(value, "utf8"));
    case ItemType.ByteString:
      if (!(value instanceof Uint8Array)) throw badValue(item, offset, "the value is not a Uint8Array");
      return HEADER_LENGTH + paddedLength(value.length);
    default:
      throw new TtlvError("UNKNOWN_TYPE", offset, `cannot encode item type ${String((item as { type: unknown }).type)} for tag ${tagName(tag)}`);
  }
}

function badValue(item: TtlvItem, offset: number, rule: string): TtlvError {
  return new TtlvError("BAD_VALUE", offset, `cannot encode ${describeItem(item.type, item.tag)}: ${rule}`);
}

/** String.prototype.isWellFormed (ES2024, Node.js 20) is missing from lib ES2023. */
type WellFormedString = string & { isWellFormed(): boolean };

function isIntegerIn(value: unknown, min: number, max: number): boolean {
  return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
}

/** Writes a checked item at `offset`; returns the offset after it. */
function write(buffer: Buffer, offset: number, item: TtlvItem): number {
  buffer[offset] = item.tag >>> 16;
  buffer[offset + 1] = item.tag >>> 8;
  buffer[offset + 2] = item.tag;
  buffer[offset + 3] = item.type;
  const value = offset + HEADER_LENGTH;
  let length: number;
  switch (item.type) {
    case ItemType.Structure: {
      let end = value;
      for (const child of item.value) end = write(buffer, end, child);
      length = end - value;
      break;
    }
    case ItemType.Integer:
      length = 4;
      buffer.writeInt32BE(item.value, value);
      break;
    case ItemType.Enumeration:
    case ItemType.Interval:
      length = 4;
      buffer.writeUInt32BE(item.value, value);
      break;
    case ItemType.LongInteger:
    case ItemType.DateTime:
      length = 8;
      buffer.writeBigInt64BE(item.value, value);
      break;
    case ItemType.BigInteger: {
      length = bigIntegerLength(item.value);
      let rest = BigInt.asUintN(length * 8, item.value);
      for (let at = value + length - 8; at >= value; at -= 8) {
        buffer.writeBigUInt64BE(rest & UINT64_MASK, at);
        rest >>= 64n;
      }
      break;
    }
    case ItemType.Boolean:
      length = 8;
      buffer[value + 7] = item.value ? 1 : 0;
      break;
    case ItemType.TextString:
      if (typeof item.value === "string") length = buffer.write(item.value, value, "utf8");
      else {
        length = item.value.length;
        buffer.set(item.value, value);
      }
      break;
    case ItemType.ByteString:
      length = item.value.length;
      buffer.set(item.value, value);
      break;
  }
  buffer.writeUInt32BE(length, offset + 4);
  return value + paddedLength(length);
}

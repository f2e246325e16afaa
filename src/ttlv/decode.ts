// TTLV decoder (KMIP 1.x 9.1 "TTLV Encoding"). It walks the input with an
// offset and copies nothing: Byte String values are views into the input.
// Every rule of 9.1.1 is checked, and every violation is a TtlvError naming
// the item and the byte offset, so a server can answer Invalid Message.
//
// A Password (the token's PIN, KMIP 1.x 2.1.2) is never made a string: its
// UTF-8 is checked in place and its value is a view of its bytes, which the
// server zeroes once the request is authenticated (a JS string cannot be
// zeroed and lives until the garbage collector reuses its memory).
import { TtlvError } from "./errors.js";
import { HEADER_LENGTH, ItemType, paddedLength, type TtlvItem } from "./item.js";
import { describeItem, tagName } from "./names.js";
import { Tag } from "./tags.js";

export interface DecodeOptions {
  /** Maximum nesting of Structures; the outermost Structure is depth 1. */
  maxDepth?: number;
  /** Maximum input size in bytes. */
  maxSize?: number;
}

export const DEFAULT_MAX_DEPTH = 32;
export const DEFAULT_MAX_SIZE = 16 * 1024 * 1024;

// fatal: malformed UTF-8 is an error, not U+FFFD. ignoreBOM: keep a leading
// U+FEFF in the value, so that the value re-encodes byte for byte.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Decodes the one TTLV item that `bytes` holds (normally a Request Message).
 * Throws TtlvError on any malformed input; bytes after the item are an error.
 */
export function decodeTtlv(bytes: Uint8Array, options: DecodeOptions = {}): TtlvItem {
  const maxSize = options.maxSize ?? DEFAULT_MAX_SIZE;
  if (bytes.length > maxSize) {
    throw new TtlvError("TOO_BIG", maxSize, `input of ${bytes.length} bytes exceeds the maximum of ${maxSize} bytes`);
  }
  const reader = new Reader(bytes, options.maxDepth ?? DEFAULT_MAX_DEPTH);
  const item = reader.item(bytes.length, 1);
  if (reader.offset !== bytes.length) {
    throw new TtlvError(
      "TRAILING_BYTES",
      reader.offset,
      `${bytes.length - reader.offset} bytes follow the ${describeItem(item.type, item.tag)}, which should be the whole input`,
    );
  }
  return item;
}

class Reader {
  offset = 0;
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly maxDepth: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Reads the item at `offset`, which must end by `limit` (its container's end). */
  item(limit: number, depth: number): TtlvItem {
    const { bytes, view } = this;
    const start = this.offset;
    if (limit - start < HEADER_LENGTH) {
      throw new TtlvError(
        "SHORT_HEADER",
        start,
        `an item header needs ${HEADER_LENGTH} bytes but ${container(depth)} has only ${limit - start} left`,
      );
    }
    const tag = (bytes[start]! << 16) | (bytes[start + 1]! << 8) | bytes[start + 2]!;
    const type = bytes[start + 3]!;
    const length = view.getUint32(start + 4);
    const value = start + HEADER_LENGTH;

    if (type === ItemType.Structure) {
      if (length > limit - value) {
        throw pastEnd(start, `${describeItem(type, tag)} declares ${length} bytes of content`, depth, limit - value);
      }
      if (depth > this.maxDepth) {
        throw new TtlvError("TOO_DEEP", start, `${describeItem(type, tag)} nests Structures deeper than the maximum of ${this.maxDepth}`);
      }
      const end = value + length;
      const children: TtlvItem[] = [];
      this.offset = value;
      while (this.offset < end) children.push(this.item(end, depth + 1));
      return { tag, type, value: children };
    }

    const fixed = fixedLength(type);
    if (fixed === undefined) {
      throw new TtlvError("UNKNOWN_TYPE", start, `unknown item type 0x${type.toString(16).padStart(2, "0")} for tag ${tagName(tag)}`);
    }
    if ((fixed > 0 && length !== fixed) || (fixed === 0 && (length === 0 || length % 8 !== 0))) {
      // 9.1.1.4: Big Integers are a positive multiple of 8 bytes long.
      const expected = fixed > 0 ? `${fixed}` : "a positive multiple of 8";
      throw new TtlvError("BAD_FIXED_LENGTH", start, `${describeItem(type, tag)} has length ${length}; it must be ${expected}`);
    }
    const padded = paddedLength(length);
    if (padded > limit - value) {
      const declared = padded === length ? `${length} bytes` : `${length} bytes (${padded} with padding)`;
      throw pastEnd(start, `${describeItem(type, tag)} declares ${declared}`, depth, limit - value);
    }
    for (let i = value + length; i < value + padded; i++) {
      if (bytes[i] !== 0) throw new TtlvError("BAD_PADDING", i, `padding byte after ${describeItem(type, tag)} is 0x${bytes[i]!.toString(16).padStart(2, "0")}, not zero`);
    }
    this.offset = value + padded;

    switch (type) {
      case ItemType.Integer:
        return { tag, type, value: view.getInt32(value) };
      case ItemType.Enumeration:
      case ItemType.Interval:
        return { tag, type, value: view.getUint32(value) };
      case ItemType.LongInteger:
      case ItemType.DateTime:
        return { tag, type, value: view.getBigInt64(value) };
      case ItemType.BigInteger:
        return { tag, type, value: this.bigInteger(value, length) };
      case ItemType.Boolean: {
        // 9.1.1.4: a Boolean is an 8-byte 0 (False) or 1 (True).
        const high = view.getUint32(value);
        const low = view.getUint32(value + 4);
        if (high !== 0 || low > 1) throw new TtlvError("BAD_BOOLEAN", value, `${describeItem(type, tag)} has value 0x${high.toString(16).padStart(8, "0")}${low.toString(16).padStart(8, "0")}; it must be 0 or 1`);
        return { tag, type, value: low === 1 };
      }
      case ItemType.TextString:
        return { tag, type, value: this.text(value, length, tag) };
      default: // ItemType.ByteString: fixedLength() admits no other type here.
        return { tag, type: ItemType.ByteString, value: bytes.subarray(value, value + length) };
    }
  }

  /** Two's complement, big-endian, read 8 bytes at a time. */
  private bigInteger(start: number, length: number): bigint {
    let value = 0n;
    for (let i = start; i < start + length; i += 8) value = (value << 64n) | this.view.getBigUint64(i);
    return this.bytes[start]! & 0x80 ? value - (1n << BigInt(length * 8)) : value;
  }

  private text(start: number, length: number, tag: number): string | Uint8Array {
    const slice = this.bytes.subarray(start, start + length);
    if (tag === Tag.Password) {
      const invalid = firstInvalidUtf8(slice);
      if (invalid < slice.length) throw new TtlvError("BAD_UTF8", start + invalid, `${describeItem(ItemType.TextString, tag)} is not valid UTF-8`);
      return slice;
    }
    try {
      return utf8.decode(slice);
    } catch {
      throw new TtlvError("BAD_UTF8", start + firstInvalidUtf8(slice), `${describeItem(ItemType.TextString, tag)} is not valid UTF-8`);
    }
  }
}

/** What holds an item at this depth, for error messages. */
function container(depth: number): string {
  return depth === 1 ? "the input" : "the enclosing Structure";
}

function pastEnd(start: number, declared: string, depth: number, available: number): TtlvError {
  return new TtlvError("LENGTH_PAST_END", start, `${declared} but ${container(depth)} has only ${available} bytes left`);
}

/**
 * Where the first malformed UTF-8 sequence starts (RFC 3629 section 4), for
 * the error message once TextDecoder has rejected the bytes.
 */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i]!;
    let count: number; // continuation bytes
    let min = 0x80; // allowed range of the second byte
    let max = 0xbf;
    if (lead < 0x80) count = 0;
    else if (lead >= 0xc2 && lead <= 0xdf) count = 1;
    else if (lead >= 0xe0 && lead <= 0xef) {
      count = 2;
      if (lead === 0xe0) min = 0xa0; // overlong
      if (lead === 0xed) max = 0x9f; // surrogates
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      count = 3;
      if (lead === 0xf0) min = 0x90; // overlong
      if (lead === 0xf4) max = 0x8f; // above U+10FFFF
    } else return i;
    for (let k = 1; k <= count; k++) {
      const next = bytes[i + k];
      if (next === undefined) return i;
      if (k === 1 ? next < min || next > max : next < 0x80 || next > 0xbf) return i;
    }
    i += count + 1;
  }
  return i;
}

/**
 * The value length each item type requires: 0 for Big Integer (a multiple of
 * 8), -1 for the variable-length types, undefined for unknown types (9.1.1.4).
 */
function fixedLength(type: number): number | undefined {
  switch (type) {
    case ItemType.Integer:
    case ItemType.Enumeration:
    case ItemType.Interval:
      return 4;
    case ItemType.LongInteger:
    case ItemType.Boolean:
    case ItemType.DateTime:
      return 8;
    case ItemType.BigInteger:
      return 0;
    case ItemType.TextString:
    case ItemType.ByteString:
      return -1;
    default:
      return undefined;
  }
}

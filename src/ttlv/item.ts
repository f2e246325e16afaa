// TTLV items (KMIP 1.x, section 9.1 "TTLV Encoding"): a 3-byte tag, a 1-byte
// item type, a 4-byte length and a value padded to a multiple of 8 bytes.

/** Every item starts with a 3-byte tag, a type byte and a 4-byte length. */
export const HEADER_LENGTH = 8;

/** Values are padded with zeros to a multiple of 8 bytes (9.1.1.3). */
export function paddedLength(length: number): number {
  return length + ((8 - (length % 8)) % 8);
}

/** The item types of KMIP 1.x (9.1.1.2). */
export const ItemType = {
  Structure: 0x01,
  Integer: 0x02,
  LongInteger: 0x03,
  BigInteger: 0x04,
  Enumeration: 0x05,
  Boolean: 0x06,
  TextString: 0x07,
  ByteString: 0x08,
  DateTime: 0x09,
  Interval: 0x0a,
} as const;
export type ItemType = (typeof ItemType)[keyof typeof ItemType];

/**
 * One decoded TTLV item. Value representations:
 * - Structure: the child items, in order
 * - Integer (signed 32-bit), Enumeration (unsigned 32-bit), Interval
 *   (unsigned 32-bit, seconds): number
 * - Long Integer (signed 64-bit), Big Integer (two's complement, any
 *   length that is a multiple of 8 bytes): bigint
 * - Date-Time: bigint, seconds since the POSIX epoch (signed 64-bit)
 * - Boolean: boolean
 * - Text String: string (UTF-8 on the wire); a Password's is its UTF-8
 *   bytes instead, a view into the decoded buffer, since a string cannot be
 *   zeroed after use (decode.ts)
 * - Byte String: Uint8Array (may be a view into the decoded buffer)
 */
export type TtlvItem =
  | { readonly tag: number; readonly type: typeof ItemType.Structure; readonly value: readonly TtlvItem[] }
  | { readonly tag: number; readonly type: typeof ItemType.Integer; readonly value: number }
  | { readonly tag: number; readonly type: typeof ItemType.LongInteger; readonly value: bigint }
  | { readonly tag: number; readonly type: typeof ItemType.BigInteger; readonly value: bigint }
  | { readonly tag: number; readonly type: typeof ItemType.Enumeration; readonly value: number }
  | { readonly tag: number; readonly type: typeof ItemType.Boolean; readonly value: boolean }
  | { readonly tag: number; readonly type: typeof ItemType.TextString; readonly value: string | Uint8Array }
  | { readonly tag: number; readonly type: typeof ItemType.ByteString; readonly value: Uint8Array }
  | { readonly tag: number; readonly type: typeof ItemType.DateTime; readonly value: bigint }
  | { readonly tag: number; readonly type: typeof ItemType.Interval; readonly value: number };

export type StructureItem = Extract<TtlvItem, { type: typeof ItemType.Structure }>;

/** The item of one given item type, e.g. `ItemOf<typeof ItemType.TextString>`. */
export type ItemOf<T extends ItemType> = Extract<TtlvItem, { type: T }>;

// Concise constructors for TTLV trees, and readers over a Structure's
// children. Values are taken as given; encodeTtlv checks their ranges.
import { ItemType, type ItemOf, type TtlvItem } from "./item.js";

export const structure = (tag: number, items: readonly TtlvItem[]): ItemOf<typeof ItemType.Structure> => ({
  tag,
  type: ItemType.Structure,
  value: items,
});
export const integer = (tag: number, n: number): ItemOf<typeof ItemType.Integer> => ({ tag, type: ItemType.Integer, value: n });
export const longInteger = (tag: number, n: bigint): ItemOf<typeof ItemType.LongInteger> => ({ tag, type: ItemType.LongInteger, value: n });
export const bigInteger = (tag: number, n: bigint): ItemOf<typeof ItemType.BigInteger> => ({ tag, type: ItemType.BigInteger, value: n });
export const enumeration = (tag: number, n: number): ItemOf<typeof ItemType.Enumeration> => ({ tag, type: ItemType.Enumeration, value: n });
export const boolean = (tag: number, b: boolean): ItemOf<typeof ItemType.Boolean> => ({ tag, type: ItemType.Boolean, value: b });
export const textString = (tag: number, s: string): ItemOf<typeof ItemType.TextString> => ({ tag, type: ItemType.TextString, value: s });
export const byteString = (tag: number, bytes: Uint8Array): ItemOf<typeof ItemType.ByteString> => ({ tag, type: ItemType.ByteString, value: bytes });
/** `seconds` since the POSIX epoch. */
export const dateTime = (tag: number, seconds: bigint): ItemOf<typeof ItemType.DateTime> => ({ tag, type: ItemType.DateTime, value: seconds });
/** `n` seconds. */
export const interval = (tag: number, n: number): ItemOf<typeof ItemType.Interval> => ({ tag, type: ItemType.Interval, value: n });

/** The children of a Structure with this tag, in order (none if `item` is no Structure). */
export function children(item: TtlvItem, tag: number): TtlvItem[] {
  return item.type === ItemType.Structure ? item.value.filter((c) => c.tag === tag) : [];
}

/** The first child of a Structure with this tag, or undefined. */
export function child(item: TtlvItem, tag: number): TtlvItem | undefined {
  return item.type === ItemType.Structure ? item.value.find((c) => c.tag === tag) : undefined;
}

// Hex text <-> bytes, for test vectors, the `ttlv` command and dumps.
import { TtlvError } from "./errors.js";

/**
 * Parses hex digits (either case); whitespace anywhere is ignored. An odd
 * number of digits or any other character is a BAD_HEX error whose offset is
 * the character offset in `text`.
 */
export function parseHex(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length >> 1);
  let count = 0; // digits seen
  let high = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue;
    const digit = hexDigit(c);
    if (digit < 0) {
      throw new TtlvError("BAD_HEX", i, `${JSON.stringify(text[i])} is not a hex digit`, "character");
    }
    if (count % 2 === 0) high = digit;
    else bytes[count >> 1] = (high << 4) | digit;
    count++;
  }
  if (count % 2 !== 0) {
    throw new TtlvError("BAD_HEX", text.length, `odd number of hex digits (${count}): the last byte is incomplete`, "character");
  }
  return bytes.subarray(0, count >> 1);
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30; // 0-9
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10; // a-f
  return -1;
}

/** Upper-case hex, as the KMIP specification documents write it. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex").toUpperCase();
}

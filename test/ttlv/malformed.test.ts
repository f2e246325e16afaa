// One test per class of malformed TTLV: each is a TtlvError with a stable
// code and the byte offset of the problem.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decodeTtlv, type DecodeOptions } from "../../src/ttlv/decode.js";
import { TtlvError, type TtlvErrorCode } from "../../src/ttlv/errors.js";
import { parseHex } from "../../src/ttlv/hex.js";

function assertRejects(hex: string, code: TtlvErrorCode, offset: number, message?: RegExp, options?: DecodeOptions): void {
  assert.throws(
    () => decodeTtlv(parseHex(hex), options),
    (e: unknown) => {
      assert.ok(e instanceof TtlvError, `not a TtlvError: ${String(e)}`);
      assert.equal(e.code, code, e.message);
      assert.equal(e.offset, offset, e.message);
      assert.match(e.message, new RegExp(`at byte offset ${offset}\\)$`));
      if (message) assert.match(e.message, message);
      return true;
    },
  );
}

/** `depth` Structures, each holding the next, around one Integer. */
function nested(depth: number): string {
  let hex = "42000D02 00000004 00000001 00000000";
  for (let i = 0; i < depth; i++) hex = `42007801 ${(hex.replace(/ /g, "").length / 2).toString(16).padStart(8, "0")} ${hex}`;
  return hex;
}

describe("malformed TTLV", () => {
  test("short header: fewer than 8 bytes for an item header", () => {
    assertRejects("42007801 00", "SHORT_HEADER", 0, /needs 8 bytes but the input has only 5 left/);
    assertRejects("", "SHORT_HEADER", 0);
    // A Structure whose content ends 4 bytes into the next header.
    assertRejects("42007801 00000004 42000D02", "SHORT_HEADER", 8, /enclosing Structure has only 4 left/);
  });

  test("length past end: a declared length runs past the input or the enclosing Structure", () => {
    assertRejects("42009407 00000014 41424344 45464748", "LENGTH_PAST_END", 0, /TextString UniqueIdentifier declares 20 bytes \(24 with padding\) but the input has only 8/);
    assertRejects("42007801 00000010 42009407 00000010 41424344 45464748", "LENGTH_PAST_END", 8, /enclosing Structure has only 8/);
    assertRejects("42007801 00000100 42000D02 00000004 00000001 00000000", "LENGTH_PAST_END", 0, /Structure RequestMessage declares 256 bytes of content/);
    // Padding counts: a 3-byte Byte String needs 8 bytes of value.
    assertRejects("4200C208 00000003 010203", "LENGTH_PAST_END", 0, /3 bytes \(8 with padding\)/);
  });

  test("bad padding: a non-zero byte after the value", () => {
    assertRejects("42000D02 00000004 00000001 00000100", "BAD_PADDING", 14, /padding byte after Integer BatchCount is 0x01/);
    assertRejects("4200C208 00000003 01020300 00000001", "BAD_PADDING", 15);
  });

  test("wrong fixed length for Integer, Long Integer, Big Integer, Enumeration, Boolean, Date-Time, Interval", () => {
    assertRejects("42000D02 00000008 00000000 00000001", "BAD_FIXED_LENGTH", 0, /Integer BatchCount has length 8; it must be 4/);
    assertRejects("42000D03 00000004 00000001 00000000", "BAD_FIXED_LENGTH", 0, /must be 8/);
    assertRejects("42005C05 00000008 00000000 00000001", "BAD_FIXED_LENGTH", 0, /must be 4/);
    assertRejects("42000D06 00000004 00000001 00000000", "BAD_FIXED_LENGTH", 0, /must be 8/);
    assertRejects("42009209 00000004 00000001 00000000", "BAD_FIXED_LENGTH", 0, /must be 8/);
    assertRejects("4200490A 00000008 00000000 00000001", "BAD_FIXED_LENGTH", 0, /must be 4/);
    assertRejects("42005204 00000004 00000001 00000000", "BAD_FIXED_LENGTH", 0, /must be a positive multiple of 8/);
    assertRejects("42005204 00000000", "BAD_FIXED_LENGTH", 0, /must be a positive multiple of 8/);
  });

  test("bad UTF-8 in a Text String, at the first bad byte", () => {
    assertRejects("42009407 00000003 61FF6200 00000000", "BAD_UTF8", 9, /TextString UniqueIdentifier is not valid UTF-8/);
    assertRejects("42009407 00000003 61C08000 00000000", "BAD_UTF8", 9); // overlong NUL
    assertRejects("42009407 00000004 61EDA080 00000000", "BAD_UTF8", 9); // surrogate U+D800
    assertRejects("42009407 00000003 6162E200 00000000", "BAD_UTF8", 10); // truncated
    assertRejects("42009407 00000004 F4908080 00000000", "BAD_UTF8", 8); // above U+10FFFF
  });

  test("too deep: Structures nested past the maximum depth", () => {
    assert.doesNotThrow(() => decodeTtlv(parseHex(nested(32))));
    assertRejects(nested(33), "TOO_DEEP", 32 * 8, /deeper than the maximum of 32/);
    assertRejects(nested(3), "TOO_DEEP", 16, /maximum of 2/, { maxDepth: 2 });
  });

  test("too big: input larger than the maximum size", () => {
    assertRejects(nested(2), "TOO_BIG", 24, /input of 32 bytes exceeds the maximum of 24 bytes/, { maxSize: 24 });
    assert.doesNotThrow(() => decodeTtlv(parseHex(nested(2)), { maxSize: 32 }));
  });

  test("unknown item type", () => {
    assertRejects("42000D0B 00000004 00000001 00000000", "UNKNOWN_TYPE", 0, /unknown item type 0x0b for tag BatchCount/);
    assertRejects("42007801 00000008 42000D00 00000000", "UNKNOWN_TYPE", 8, /type 0x00/);
  });

  test("trailing bytes after the one item", () => {
    assertRejects("42000D02 00000004 00000001 00000000 00", "TRAILING_BYTES", 16, /1 bytes follow the Integer BatchCount/);
  });

  test("bad boolean: neither 0 nor 1", () => {
    assertRejects("42000806 00000008 00000000 00000002", "BAD_BOOLEAN", 8, /value 0x0000000000000002; it must be 0 or 1/);
    assertRejects("42000806 00000008 01000000 00000001", "BAD_BOOLEAN", 8);
  });
});

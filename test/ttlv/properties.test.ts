// Property tests: arbitrary trees round-trip through the encoder and
// decoder, and no input bytes, random or mutated from real messages, make the
// decoder throw anything but a TtlvError.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { decodeTtlv } from "../../src/ttlv/decode.js";
import { encodeTtlv } from "../../src/ttlv/encode.js";
import { TtlvError } from "../../src/ttlv/errors.js";
import { ItemType, type TtlvItem } from "../../src/ttlv/item.js";
import { toJson } from "../../src/ttlv/json.js";
import { formatTtlv } from "../../src/ttlv/pretty.js";
import { loadVectors } from "../helpers/vectors.js";

const tag = fc.integer({ min: 0, max: 0xffffff });
const int64 = fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n });
const uint32 = fc.integer({ min: 0, max: 0xffffffff });

const leaf: fc.Arbitrary<TtlvItem> = fc.oneof(
  fc.record({ tag, type: fc.constant(ItemType.Integer), value: fc.integer({ min: -0x80000000, max: 0x7fffffff }) }),
  fc.record({ tag, type: fc.constant(ItemType.LongInteger), value: int64 }),
  fc.record({ tag, type: fc.constant(ItemType.BigInteger), value: fc.bigInt({ min: -(1n << 520n), max: 1n << 520n }) }),
  fc.record({ tag, type: fc.constant(ItemType.Enumeration), value: uint32 }),
  fc.record({ tag, type: fc.constant(ItemType.Boolean), value: fc.boolean() }),
  fc.record({ tag, type: fc.constant(ItemType.TextString), value: fc.string({ unit: "grapheme", maxLength: 20 }) }),
  fc.record({ tag, type: fc.constant(ItemType.ByteString), value: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ tag, type: fc.constant(ItemType.DateTime), value: int64 }),
  fc.record({ tag, type: fc.constant(ItemType.Interval), value: uint32 }),
);

const { item: tree } = fc.letrec<{ item: TtlvItem; structure: TtlvItem }>((tie) => ({
  item: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, tie("structure")),
  structure: fc.record({ tag, type: fc.constant(ItemType.Structure), value: fc.array(tie("item"), { maxLength: 5 }) }),
}));

/** Decoding either succeeds or throws a TtlvError; a success re-encodes to an equal tree. */
function decodesOrRejects(bytes: Uint8Array): void {
  let item: TtlvItem;
  try {
    item = decodeTtlv(bytes);
  } catch (error) {
    if (error instanceof TtlvError) return;
    throw error;
  }
  assert.deepEqual(toJson(decodeTtlv(encodeTtlv(item))), toJson(item));
  formatTtlv(item);
}

test("arbitrary trees round-trip encode -> decode -> encode", () => {
  fc.assert(
    fc.property(tree, (item) => {
      const bytes = encodeTtlv(item);
      const decoded = decodeTtlv(bytes, { maxDepth: 1000 });
      assert.deepEqual(toJson(decoded), toJson(item));
      assert.deepEqual(encodeTtlv(decoded), bytes);
    }),
    { numRuns: 300 },
  );
});

test("random bytes only ever throw TtlvError", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), decodesOrRejects), { numRuns: 500 });
  // Random bodies behind a plausible header get past the first check.
  const body = fc.uint8Array({ minLength: 0, maxLength: 64 }).map((b) => {
    const bytes = new Uint8Array(8 + b.length);
    bytes.set([0x42, 0x00, 0x78, 0x01, 0, 0, 0, b.length]);
    bytes.set(b, 8);
    return bytes;
  });
  fc.assert(fc.property(body, decodesOrRejects), { numRuns: 500 });
});

test("mutations of valid vectors only ever throw TtlvError", () => {
  const vectors = loadVectors().map((v) => v.bytes);
  const mutation = fc.oneof(
    // Overwrite a few bytes.
    fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 }).map(
      (edits) => (bytes: Uint8Array) => {
        const copy = Uint8Array.from(bytes);
        for (const { at, byte } of edits) copy[at % copy.length] = byte;
        return copy;
      },
    ),
    // Cut the message short.
    fc.nat().map((n) => (bytes: Uint8Array) => bytes.subarray(0, n % bytes.length)),
    // Insert bytes.
    fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([n, extra]) => (bytes: Uint8Array) => {
      const at = n % bytes.length;
      return Uint8Array.from([...bytes.subarray(0, at), ...extra, ...bytes.subarray(at)]);
    }),
    // Flip one bit of a length field or type byte of a header near the start.
    fc.tuple(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 3, max: 7 }), fc.integer({ min: 0, max: 7 })).map(
      ([item, field, bit]) => (bytes: Uint8Array) => {
        const copy = Uint8Array.from(bytes);
        const at = (item * 8 + field) % copy.length;
        copy[at] = copy[at]! ^ (1 << bit);
        return copy;
      },
    ),
  );
  fc.assert(
    fc.property(fc.constantFrom(...vectors), mutation, (bytes, mutate) => decodesOrRejects(mutate(bytes))),
    { numRuns: 2000 },
  );
});

// messageLength: the length of a message on a byte stream, from its header.
import assert from "node:assert/strict";
import { test } from "node:test";
import { integer, structure, textString } from "../../src/ttlv/build.js";
import { encodeTtlv } from "../../src/ttlv/encode.js";
import { messageLength } from "../../src/ttlv/framing.js";
import { parseHex } from "../../src/ttlv/hex.js";
import { Tag } from "../../src/ttlv/tags.js";
import { loadVectors } from "../helpers/vectors.js";

test("undefined until the 8-byte header has arrived, then the whole length", () => {
  const message = encodeTtlv(structure(Tag.RequestMessage, [integer(Tag.BatchCount, 1), textString(Tag.UniqueIdentifier, "abc")]));
  assert.equal(message.length, 8 + 16 + 16);
  for (let n = 0; n < 8; n++) assert.equal(messageLength(message.subarray(0, n)), undefined, `${n} bytes`);
  for (let n = 8; n <= message.length; n++) assert.equal(messageLength(message.subarray(0, n)), message.length, `${n} bytes`);
});

test("at an offset, as in a receive buffer holding several messages", () => {
  const first = encodeTtlv(structure(Tag.RequestMessage, [integer(Tag.BatchCount, 1)]));
  const second = encodeTtlv(structure(Tag.RequestMessage, []));
  const stream = Buffer.concat([first, second, second.subarray(0, 5)]);
  assert.equal(messageLength(stream, 0), 24);
  assert.equal(messageLength(stream, 24), 8);
  assert.equal(messageLength(stream, 32), undefined);
});

test("a Structure's length is exact; other items are padded to 8 bytes", () => {
  assert.equal(messageLength(parseHex("42007801 00000004")), 12); // the decoder rejects it later
  assert.equal(messageLength(parseHex("42009407 00000003")), 16);
  assert.equal(messageLength(parseHex("42000D02 00000004")), 16);
  assert.equal(messageLength(parseHex("42007801 FFFFFFFF")), 8 + 0xffffffff);
});

test("every vector's length", () => {
  for (const v of loadVectors()) assert.equal(messageLength(v.bytes), v.bytes.length, v.name);
});

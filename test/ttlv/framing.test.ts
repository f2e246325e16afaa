// messageLength: the length of a message on a byte stream, from its header;
// MessageFramer: whole messages out of chunks however the stream is cut, and
// an over-size message refused from its header alone.
import assert from "node:assert/strict";
import { test } from "node:test";
import { integer, structure, textString } from "../../src/ttlv/build.js";
import { encodeTtlv } from "../../src/ttlv/encode.js";
import { MessageFramer, messageLength } from "../../src/ttlv/framing.js";
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

/** A framer that records what it hands out. */
function recording(maxMessageSize = 1 << 20, onMessage?: (message: Buffer) => boolean | void) {
  const messages: Buffer[] = [];
  const oversized: number[] = [];
  const framer = new MessageFramer({
    maxMessageSize,
    onMessage: (message) => {
      messages.push(Buffer.from(message));
      return onMessage?.(message);
    },
    onOversized: (length) => oversized.push(length),
  });
  return { framer, messages, oversized };
}

const first = encodeTtlv(structure(Tag.RequestMessage, [integer(Tag.BatchCount, 1), textString(Tag.UniqueIdentifier, "abc")]));
const second = encodeTtlv(structure(Tag.RequestMessage, [textString(Tag.UniqueIdentifier, "a longer identifier than the first")]));
const third = encodeTtlv(structure(Tag.RequestMessage, []));

test("framer: a header split at every point still gives the message", () => {
  for (let cut = 1; cut < 8; cut++) {
    const { framer, messages } = recording();
    framer.push(first.subarray(0, cut));
    assert.equal(messages.length, 0);
    assert.equal(framer.buffered, cut);
    framer.push(first.subarray(cut));
    assert.deepEqual(messages, [first], `cut at ${cut}`);
    assert.equal(framer.buffered, 0);
  }
});

test("framer: several messages in one chunk, in order, the tail kept for the next chunk", () => {
  const { framer, messages } = recording();
  framer.push(Buffer.concat([first, second, third, first.subarray(0, 11)]));
  assert.deepEqual(messages, [first, second, third]);
  assert.equal(framer.buffered, 11);
  framer.push(first.subarray(11));
  assert.deepEqual(messages, [first, second, third, first]);
  assert.equal(framer.buffered, 0);
});

test("framer: one message across many chunks, a byte at a time", () => {
  const { framer, messages } = recording();
  const stream = Buffer.concat([second, first]);
  for (let i = 0; i < stream.length; i++) {
    framer.push(stream.subarray(i, i + 1));
    assert.equal(messages.length, i + 1 < second.length ? 0 : i + 1 < stream.length ? 1 : 2, `after byte ${i}`);
  }
  assert.deepEqual(messages, [second, first]);
});

test("framer: every cut of a stream of three messages gives the same messages", () => {
  const stream = Buffer.concat([first, second, third]);
  for (let a = 0; a <= stream.length; a += 3) {
    for (let b = a; b <= stream.length; b += 5) {
      const { framer, messages } = recording();
      framer.push(stream.subarray(0, a));
      framer.push(stream.subarray(a, b));
      framer.push(stream.subarray(b));
      assert.deepEqual(messages, [first, second, third], `cuts at ${a} and ${b}`);
    }
  }
});

test("framer: a message of exactly the limit passes; one byte more is refused from its header alone", () => {
  const atLimit = recording(first.length);
  atLimit.framer.push(first);
  assert.deepEqual(atLimit.messages, [first]);
  assert.deepEqual(atLimit.oversized, []);

  // Only the header and a few bytes arrive: the length alone decides.
  const over = recording(first.length - 1);
  over.framer.push(Buffer.concat([third, first.subarray(0, 10)]));
  assert.deepEqual(over.messages, [third], "the messages before it are handed out");
  assert.deepEqual(over.oversized, [first.length]);
  assert.equal(over.framer.buffered, 0, "nothing of it is held");
  over.framer.push(Buffer.concat([first.subarray(10), third]));
  assert.deepEqual(over.messages, [third], "stopped: later bytes are ignored");
  assert.deepEqual(over.oversized, [first.length], "refused once");
});

test("framer: a declared length of 4 GiB is refused without waiting for it", () => {
  const { framer, oversized } = recording();
  framer.push(Buffer.from(parseHex("42007801 FFFFFFFF")));
  assert.deepEqual(oversized, [8 + 0xffffffff]);
});

test("framer: onMessage returning false stops it, and so does stop()", () => {
  const stopping = recording(1 << 20, () => false);
  stopping.framer.push(Buffer.concat([first, second]));
  assert.deepEqual(stopping.messages, [first]);
  stopping.framer.push(third);
  assert.deepEqual(stopping.messages, [first]);

  const { framer, messages } = recording();
  framer.push(first.subarray(0, 20));
  framer.stop();
  assert.equal(framer.buffered, 0);
  framer.push(first.subarray(20));
  assert.deepEqual(messages, []);
});

test("framer with zeroConsumed: the pieces of a message are zeroed once joined, and so is a short tail once copied", () => {
  const messages: Buffer[] = [];
  const framer = new MessageFramer({ maxMessageSize: 1 << 20, zeroConsumed: true, onMessage: (message) => void messages.push(Buffer.from(message)), onOversized: () => {} });
  const head = Buffer.from(second.subarray(0, 20));
  const rest = Buffer.concat([second.subarray(20), first.subarray(0, 10)]);
  framer.push(head);
  assert.deepEqual(messages, [], "not whole yet");
  framer.push(rest);
  assert.deepEqual(messages, [second]);
  assert.ok(head.every((byte) => byte === 0), "the first piece is zeroed");
  assert.ok(rest.every((byte) => byte === 0), "the second piece and the tail copied from it are zeroed");
  framer.push(Buffer.from(first.subarray(10)));
  assert.deepEqual(messages, [second, first], "the tail was kept before it was zeroed");
});

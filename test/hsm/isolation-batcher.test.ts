// MessageBatcher (src/hsm/isolated/batcher.ts): what one turn of the event
// loop queues leaves as one message, in order; flush() sends at once, so a
// control message sent after it cannot overtake queued calls.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setImmediate as nextTurn } from "node:timers/promises";
import { MessageBatcher } from "../../src/hsm/isolated/batcher.js";

function recorder(): { batcher: MessageBatcher<number>; sent: number[][] } {
  const sent: number[][] = [];
  return { batcher: new MessageBatcher<number>((batch) => sent.push(batch)), sent };
}

describe("MessageBatcher", () => {
  test("items queued in one turn leave together, in order; a later turn makes another message", async () => {
    const { batcher, sent } = recorder();
    batcher.push(1);
    batcher.push(2);
    await Promise.resolve();
    batcher.push(3); // a microtask of the same turn
    assert.deepEqual(sent, [], "nothing leaves before the turn ends");
    await nextTurn();
    assert.deepEqual(sent, [[1, 2, 3]]);
    batcher.push(4);
    await nextTurn();
    assert.deepEqual(sent, [[1, 2, 3], [4]]);
  });

  test("flush() sends what is queued at once, and the turn's end sends nothing more", async () => {
    const { batcher, sent } = recorder();
    batcher.push(1);
    batcher.flush();
    assert.deepEqual(sent, [[1]]);
    batcher.flush();
    await nextTurn();
    assert.deepEqual(sent, [[1]], "no empty message");
    batcher.push(2);
    await nextTurn();
    assert.deepEqual(sent, [[1], [2]], "pushing after a flush schedules again");
  });
});

// ClientWork: a client's share of a slot's work (src/server/client-work.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { ClientWork, type Release } from "../../src/server/client-work.js";

/** Whether an acquire has given its Release by the time pending callbacks have run. */
async function settled(acquired: Release | Promise<Release>): Promise<boolean> {
  if (typeof acquired === "function") return true;
  let done = false;
  acquired.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

test("an item that fits starts at once, without a promise", () => {
  const work = new ClientWork({ items: 1, writes: 1 });
  const release = work.acquire("a", "1", true);
  assert.equal(typeof release, "function");
  (release as Release)();
});

test("a client's items beyond its share wait, in order, and start as earlier ones end", async () => {
  const work = new ClientWork({ items: 3, writes: 1 });
  const w1 = await work.acquire("a", "1", true);
  const w2 = work.acquire("a", "1", true);
  const r1 = await work.acquire("a", "1", false);
  assert.equal(await settled(w2), false, "a second write waits for the first");
  const r2 = await work.acquire("a", "1", false);
  const r3 = work.acquire("a", "1", false);
  assert.equal(await settled(r3), false, "three items in progress: a fourth waits");
  assert.deepEqual(work.usage("a", "1"), { items: 3, writes: 1, waiting: 2 });
  w1();
  // The waiting write goes first: it was first in line and now fits.
  const w2Release = await w2;
  assert.equal(await settled(r3), false);
  r1();
  const r3Release = await r3;
  for (const release of [w2Release, r2, r3Release]) release();
  assert.deepEqual(work.usage("a", "1"), { items: 0, writes: 0, waiting: 0 });
});

test("a read waiting behind a write that does not fit goes first", async () => {
  const work = new ClientWork({ items: 2, writes: 1 });
  const w1 = await work.acquire("a", "1", true);
  const r1 = await work.acquire("a", "1", false);
  const w2 = work.acquire("a", "1", true);
  const r2 = work.acquire("a", "1", false);
  r1();
  const r2Release = await r2;
  assert.equal(await settled(w2), false, "the write still waits for the client's write");
  w1();
  (await w2)();
  r2Release();
  assert.deepEqual(work.usage("a", "1"), { items: 0, writes: 0, waiting: 0 });
});

test("each client, and each slot of a client, has a share of its own", async () => {
  const work = new ClientWork({ items: 1, writes: 1 });
  const releases: Release[] = [await work.acquire("a", "1", true), await work.acquire("b", "1", true), await work.acquire("a", "2", true)];
  assert.equal(await settled(work.acquire("a", "1", false)), false);
  for (const release of releases) release();
});

test("a waiting item whose client goes away is not started and takes no place; one already cancelled is refused at once", async () => {
  const work = new ClientWork({ items: 1, writes: 1 });
  const held = await work.acquire("a", "1", true);
  const gone = new AbortController();
  const waiting = work.acquire("a", "1", true, [undefined, gone.signal]);
  const behind = work.acquire("a", "1", true);
  gone.abort(new Error("gone"));
  await assert.rejects(Promise.resolve(waiting), /gone/);
  assert.deepEqual(work.usage("a", "1"), { items: 1, writes: 1, waiting: 1 });
  await assert.rejects(Promise.resolve(work.acquire("a", "1", false, [gone.signal])), /gone/);
  held();
  (await behind)();
  assert.deepEqual(work.usage("a", "1"), { items: 0, writes: 0, waiting: 0 });
});

test("a release called twice gives back one place", async () => {
  const work = new ClientWork({ items: 1, writes: 1 });
  const first = await work.acquire("a", "1", false);
  const second = work.acquire("a", "1", false);
  first();
  const secondRelease = await second;
  first();
  assert.equal(await settled(work.acquire("a", "1", false)), false);
  secondRelease();
});

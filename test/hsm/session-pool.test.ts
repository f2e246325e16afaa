// The session pool against a fake module: bounds, FIFO waiting, discarding
// unusable sessions, and closing.
import { test } from "node:test";
import assert from "node:assert/strict";
import pkcs11js from "pkcs11js";
import { HsmError } from "../../src/hsm/hsm-error.js";
import { SessionPool, type Session } from "../../src/hsm/session-pool.js";

class FakeModule {
  opened = 0;
  closed: number[] = [];
  /** C_OpenSession answers CKR_SESSION_COUNT beyond this many open sessions. */
  limit = Infinity;
  C_OpenSession(): Session {
    if (this.opened - this.closed.length >= this.limit) throw new pkcs11js.Pkcs11Error("CKR_SESSION_COUNT:177", 0xb1, "C_OpenSession");
    const session = Buffer.alloc(8);
    session.writeUInt32LE(++this.opened);
    return session;
  }
  C_CloseSession(session: Session): void {
    this.closed.push(session.readUInt32LE(0));
  }
}

function pool(fake: FakeModule, cap: number, onEmpty = (): void => {}): SessionPool {
  return new SessionPool(fake as unknown as pkcs11js.PKCS11, Buffer.alloc(8), cap, onEmpty);
}

/** A promise and its resolver, to hold a session busy until told. */
function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

test("never opens more sessions than the cap, and reuses them", async () => {
  const fake = new FakeModule();
  const p = pool(fake, 2);
  let busy = 0;
  let maxBusy = 0;
  await Promise.all(
    Array.from({ length: 20 }, () =>
      p.use(async () => {
        maxBusy = Math.max(maxBusy, ++busy);
        await new Promise((resolve) => setImmediate(resolve));
        busy--;
      }),
    ),
  );
  assert.equal(fake.opened, 2);
  assert.equal(maxBusy, 2);
  assert.equal(p.size, 2);
});

test("callers waiting for a session get one in FIFO order", async () => {
  const fake = new FakeModule();
  const p = pool(fake, 1);
  const first = gate();
  const order: number[] = [];
  const holder = p.use(() => first.promise);
  const waiting = [1, 2, 3].map((n) => p.use(() => void order.push(n)));
  first.open();
  await Promise.all([holder, ...waiting]);
  assert.deepEqual(order, [1, 2, 3]);
});

test("a session that fails with CKR_SESSION_HANDLE_INVALID is closed, not reused", async () => {
  const fake = new FakeModule();
  let emptied = 0;
  const p = pool(fake, 2, () => emptied++);
  const used: number[] = [];
  await assert.rejects(
    p.use((s) => {
      used.push(s.readUInt32LE(0));
      throw new HsmError("PKCS11_ERROR", "C_Sign: CKR_SESSION_HANDLE_INVALID", "C_Sign", "CKR_SESSION_HANDLE_INVALID");
    }),
  );
  assert.deepEqual(fake.closed, [1]);
  assert.equal(emptied, 1, "the last session closing is reported");
  await p.use((s) => void used.push(s.readUInt32LE(0)));
  assert.deepEqual(used, [1, 2]);
  // Other failures leave the session in the pool.
  await assert.rejects(p.use(() => { throw new HsmError("INVALID_ARGUMENT", "C_Sign: CKR_DATA_LEN_RANGE", "C_Sign", "CKR_DATA_LEN_RANGE"); }));
  await p.use((s) => void used.push(s.readUInt32LE(0)));
  assert.deepEqual(used, [1, 2, 2]);
});

test("a waiter gets a fresh session when a busy one is discarded", async () => {
  const fake = new FakeModule();
  const p = pool(fake, 1);
  const hold = gate();
  const failing = p.use(async () => {
    await hold.promise;
    throw new HsmError("PKCS11_ERROR", "C_Sign: CKR_SESSION_CLOSED", "C_Sign", "CKR_SESSION_CLOSED");
  });
  const waiter = p.use((s) => s.readUInt32LE(0));
  hold.open();
  await assert.rejects(failing);
  assert.equal(await waiter, 2);
});

test("CKR_SESSION_COUNT lowers the cap to the sessions already open", async () => {
  const fake = new FakeModule();
  fake.limit = 1;
  const p = pool(fake, 4);
  const sessions = await Promise.all([1, 2, 3].map(() => p.use(async (s) => {
    await new Promise((resolve) => setImmediate(resolve));
    return s.readUInt32LE(0);
  })));
  assert.deepEqual(sessions, [1, 1, 1]);
  // With none open, the module's refusal is the caller's error.
  const empty = new FakeModule();
  empty.limit = 0;
  await assert.rejects(pool(empty, 4).use(() => 0), (err: unknown) => err instanceof HsmError && err.ckr === "CKR_SESSION_COUNT");
});

test("close waits for busy sessions, closes all, and refuses new use", async () => {
  const fake = new FakeModule();
  const p = pool(fake, 2);
  const hold = gate();
  const busy = p.use(() => hold.promise);
  await p.use(() => undefined);
  const queued = p.use(() => undefined);
  let closed = false;
  const closing = p.close().then(() => (closed = true));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(closed, false, "close waits for the busy session");
  hold.open();
  await busy;
  await closing;
  assert.equal(fake.closed.length, 2);
  await queued; // it was given the idle session before close
  await assert.rejects(p.use(() => undefined), /closed/);
});

test("streams pin at most half the sessions (BUSY beyond, at once); the rest still serve; unpin gives a session back or closes it", async () => {
  const fake = new FakeModule();
  const p = pool(fake, 4);
  const pinned = [await p.pin(), await p.pin()];
  assert.equal(p.pinnedCount, 2);
  await assert.rejects(p.pin(), (error: unknown) => error instanceof HsmError && error.code === "BUSY" && /as many as streams may/.test(error.message));
  // The other two sessions serve ordinary calls.
  await Promise.all([p.use(() => undefined), p.use(() => undefined)]);
  assert.equal(fake.opened, 4);
  p.unpin(pinned[0]!, true);
  p.unpin(pinned[1]!, false);
  assert.equal(p.pinnedCount, 0);
  assert.deepEqual(fake.closed, [pinned[1]!.readUInt32LE(0)], "an unusable pinned session is closed, a usable one kept");
  assert.equal(p.size, 3);
  await p.pin();
  // A pool of one session has none for streams.
  await assert.rejects(pool(new FakeModule(), 1).pin(), /BUSY|as many as streams may/);
});

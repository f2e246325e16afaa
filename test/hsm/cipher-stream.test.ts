// Streams against a fake module: a stream pins a session until its last
// part, an idle stream and a failed part give the session back, ending a
// stream runs the Final function (a session whose operation may still be
// active is closed instead), and the pool can close once the streams end.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import pkcs11js from "pkcs11js";
import { HsmError } from "../../src/hsm/hsm-error.js";
import { CipherStreams } from "../../src/hsm/cipher-stream.js";
import { SessionPool, type Session } from "../../src/hsm/session-pool.js";

class FakeModule {
  opened = 0;
  closed: number[] = [];
  finals = 0;
  /** The next C_EncryptUpdate fails with this CKR (name and value), once. */
  failUpdate: [string, number] | undefined;
  /** C_EncryptFinal fails with this CKR. */
  failFinal: [string, number] | undefined;
  C_OpenSession(): Session {
    const session = Buffer.alloc(8);
    session.writeUInt32LE(++this.opened);
    return session;
  }
  C_CloseSession(session: Session): void {
    this.closed.push(session.readUInt32LE(0));
  }
  C_EncryptUpdate(_session: Session, input: Buffer, output: Buffer): Buffer {
    if (this.failUpdate !== undefined) {
      const [name, value] = this.failUpdate;
      this.failUpdate = undefined;
      throw new pkcs11js.Pkcs11Error(`${name}:${value}`, value, "C_EncryptUpdate");
    }
    input.copy(output);
    return output.subarray(0, input.length);
  }
  C_EncryptFinal(_session: Session, output: Buffer): Buffer {
    this.finals++;
    if (this.failFinal !== undefined) throw new pkcs11js.Pkcs11Error(`${this.failFinal[0]}:${this.failFinal[1]}`, this.failFinal[1], "C_EncryptFinal");
    return output.subarray(0, 0);
  }
}

function setUp(idleMs = 60_000): { fake: FakeModule; pool: SessionPool; streams: CipherStreams } {
  const fake = new FakeModule();
  const p = fake as unknown as pkcs11js.PKCS11;
  return { fake, pool: new SessionPool(p, Buffer.alloc(8), 4, () => {}), streams: new CipherStreams(p, idleMs) };
}

const request = { mechanism: "AES-CBC" as const, data: Buffer.from("first part") };
const noInit = async (): Promise<undefined> => undefined;

test("a stream pins a session from its first part to its last, then gives it back", async () => {
  const { fake, pool, streams } = setUp();
  const step = await streams.start("0", pool, "K_sec", request, "encrypt", noInit);
  assert.deepEqual(Buffer.from(step.data), request.data);
  assert.equal(pool.pinnedCount, 1);
  assert.deepEqual(Buffer.from(streams.continue("0", step.stream, Buffer.from("more"), false).data), Buffer.from("more"));
  streams.continue("0", step.stream, Buffer.alloc(0), true);
  assert.equal(pool.pinnedCount, 0);
  assert.equal(streams.size, 0);
  assert.deepEqual(fake.closed, [], "a stream that ended well keeps its session open for the pool");
  assert.throws(() => streams.continue("0", step.stream, Buffer.alloc(1), true), (error: unknown) => error instanceof HsmError && error.code === "ITEM_NOT_FOUND");
});

test("another slot's id, a failed part, and an idle stream: the stream ends and its session comes back", async () => {
  const { fake, pool, streams } = setUp(20);
  const step = await streams.start("0", pool, "K_sec", request, "encrypt", noInit);
  assert.throws(() => streams.continue("1", step.stream, Buffer.alloc(1), false), /no such stream/);
  fake.failUpdate = ["CKR_DEVICE_ERROR", 0x30];
  assert.throws(() => streams.continue("0", step.stream, Buffer.alloc(1), false), /CKR_DEVICE_ERROR/);
  assert.equal(pool.pinnedCount, 0);
  assert.equal(fake.finals, 1, "ending runs C_EncryptFinal once");

  await streams.start("0", pool, "K_sec", request, "encrypt", noInit);
  assert.equal(pool.pinnedCount, 1);
  while (pool.pinnedCount > 0) await sleep(10);
  assert.equal(streams.size, 0);
});

test("a session whose operation may still be active is closed, not pooled; endAll lets the pool close", async () => {
  const { fake, pool, streams } = setUp();
  const step = await streams.start("0", pool, "K_sec", request, "encrypt", noInit);
  fake.failFinal = ["CKR_BUFFER_TOO_SMALL", 0x150];
  streams.end(step.stream);
  assert.equal(fake.closed.length, 1);
  fake.failFinal = undefined;
  await streams.start("0", pool, "K_sec", request, "encrypt", noInit);
  await streams.start("0", pool, "K_sec", request, "encrypt", noInit);
  await assert.rejects(streams.start("0", pool, "K_sec", request, "encrypt", noInit), /as many as streams may/);
  streams.endAll();
  assert.equal(pool.pinnedCount, 0);
  await pool.close();
  assert.equal(pool.size, 0);
});

test("an init that fails gives the session back at once", async () => {
  const { pool, streams } = setUp();
  await assert.rejects(
    streams.start("0", pool, "K_sec", request, "encrypt", async () => {
      throw new HsmError("PERMISSION_DENIED", "no");
    }),
    /no/,
  );
  assert.equal(pool.pinnedCount, 0);
  assert.equal(streams.size, 0);
});

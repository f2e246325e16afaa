// authenticate() against SoftHSM: C_Login on first use only, later PINs
// compared with the record, the throttle, and recovery when the token logs
// out. C_Login calls are counted with a spy on pkcs11js.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import pino from "pino";
import pkcs11js from "pkcs11js";
import type { HsmBackend } from "../../src/hsm/backend.js";
import { HsmError } from "../../src/hsm/hsm-error.js";
import { openPkcs11Backend } from "../../src/hsm/pkcs11-backend.js";
import { createSoftHsmToken, spyOnPkcs11, type Pkcs11Spy, type SoftHsmToken } from "../helpers/softhsm.js";

const COOLDOWN_MS = 200;
// The first token sees 3 refused PINs over these tests, below the limit; the second reaches it.
const LIMIT = 4;
const code = (expected: string) => (err: unknown) => err instanceof HsmError && err.code === expected;

describe("authenticate", () => {
  let token: SoftHsmToken;
  let backend: HsmBackend;
  let spy: Pkcs11Spy;
  let first: string;
  let second: string;
  const logins = (): number => spy.counts.get("C_Login")!;

  before(async () => {
    token = await createSoftHsmToken({ tokens: 2, pin: "4711" });
    process.env.SOFTHSM2_CONF = token.conf;
    spy = spyOnPkcs11(["C_Login"]);
    backend = await openPkcs11Backend(
      { libPath: token.modulePath, loginThrottle: { limit: LIMIT, windowMs: 60_000, cooldownMs: COOLDOWN_MS } },
      pino({ level: "silent" }),
    );
    first = (await backend.resolveSlot(token.labels[0]!)).slotId;
    second = (await backend.resolveSlot(token.labels[1]!)).slotId;
  });

  after(async () => {
    await backend.close();
    spy.restore();
    await token.cleanup();
  });

  test("operations before any login are refused", async () => {
    await assert.rejects(backend.findKeys(first, {}), code("AUTH_FAILED"));
  });

  test("a wrong PIN before login reaches C_Login and fails", async () => {
    const before = logins();
    await assert.rejects(backend.authenticate(first, Buffer.from("0000")), code("AUTH_FAILED"));
    assert.equal(logins(), before + 1);
  });

  test("the right PIN logs in; later requests with it make no C_Login", async () => {
    const before = logins();
    await backend.authenticate(first, Buffer.from(token.pin));
    await backend.authenticate(first, Buffer.from(token.pin));
    await backend.authenticate(first, Buffer.from(token.pin));
    assert.equal(logins(), before + 1);
    assert.deepEqual(await backend.findKeys(first, {}), []);
  });

  test("a wrong PIN after login fails without C_Login, and the right one still works", async () => {
    const before = logins();
    for (const pin of ["0000", "47111", "", "4711 "]) await assert.rejects(backend.authenticate(first, Buffer.from(pin)), code("AUTH_FAILED"));
    await backend.authenticate(first, Buffer.from(token.pin));
    assert.equal(logins(), before, "no C_Login call, so the token's failed-login counter is untouched");
    // More wrong PINs than the throttle limit: they never reach C_Login, so no cooldown either.
    await backend.authenticate(first, Buffer.from(token.pin));
  });

  test("a token that logged out is logged in again on the next request", async () => {
    const ids = await backend.generateKeyPair(first, { spec: { keyType: "EC", curve: "P-256" } });
    // Log the application out behind the backend's back, through its own module instance.
    const module = [...spy.instances][0]!;
    const slot = module.C_GetSlotList(true).find((s) => s.readBigUInt64LE(0).toString() === first)!;
    const session = module.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    module.C_Logout(session);
    await assert.rejects(backend.sign(first, ids.privateKeyId, { family: "ECDSA", digest: Buffer.alloc(32) }), code("AUTH_FAILED"));

    // The record is gone: a wrong PIN now goes to C_Login (and fails there) ...
    const before = logins();
    await assert.rejects(backend.authenticate(first, Buffer.from("0000")), code("AUTH_FAILED"));
    assert.equal(logins(), before + 1);

    // ... and when something else in the process logged the token in, the
    // backend logs out and in again to check the PIN rather than trust it.
    module.C_Login(session, pkcs11js.CKU_USER, token.pin);
    await assert.rejects(backend.authenticate(first, Buffer.from("9999")), code("AUTH_FAILED"));
    module.C_CloseSession(session);

    await backend.authenticate(first, Buffer.from(token.pin));
    assert.equal((await backend.sign(first, ids.privateKeyId, { family: "ECDSA", digest: Buffer.alloc(32) })).signature.length, 64);
  });

  test("after `limit` failed logins, logins are refused without C_Login until the cooldown ends", async () => {
    const before = logins();
    for (let i = 0; i < LIMIT; i++) await assert.rejects(backend.authenticate(second, Buffer.from(`000${i}`)), code("AUTH_FAILED"));
    await assert.rejects(backend.authenticate(second, Buffer.from(token.pin)), code("LOGIN_COOLDOWN"));
    await assert.rejects(backend.authenticate(second, Buffer.from("0009")), code("LOGIN_COOLDOWN"));
    assert.equal(logins(), before + LIMIT);
    // The throttle is per slot: the first token is unaffected.
    await backend.authenticate(first, Buffer.from(token.pin));

    await sleep(COOLDOWN_MS + 50);
    await backend.authenticate(second, Buffer.from(token.pin));
    assert.equal(logins(), before + LIMIT + 1);
  });

  test("an unknown slot is SLOT_NOT_FOUND", async () => {
    await assert.rejects(backend.authenticate("987654321", Buffer.from(token.pin)), code("SLOT_NOT_FOUND"));
  });
});

// The per-client login throttle of the relay process: one client's failures
// cool only that client down; all clients together spend a per-slot hourly
// budget; the PIN last accepted on a slot passes every limit; attempts in
// flight count, so concurrent wrong PINs cannot slip past the limit.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { HsmError } from "../../src/hsm/hsm-error.js";
import { ClientLoginThrottle } from "../../src/server/login-throttle.js";

const SETTINGS = { limit: 3, windowMs: 60_000, cooldownMs: 300_000, budgetPerHour: 10 };

function cooled(error: unknown): boolean {
  assert.ok(error instanceof HsmError && error.code === "LOGIN_COOLDOWN", String(error));
  return true;
}

function setUp() {
  let now = 1_000_000;
  const throttle = new ClientLoginThrottle(SETTINGS, () => now);
  const fail = async (client: string, pin = "wrong") => (await throttle.admit("1", client, Buffer.from(pin))).failed();
  return { throttle, fail, advance: (ms: number) => (now += ms) };
}

describe("ClientLoginThrottle", () => {
  test("a client's failures cool down that client only", async () => {
    const { throttle, fail, advance } = setUp();
    for (let i = 0; i < SETTINGS.limit; i++) await fail("attacker");
    await assert.rejects(throttle.admit("1", "attacker", Buffer.from("guess")), cooled);
    // Another client, with the right PIN or a wrong one, is still asked about.
    (await throttle.admit("1", "signer", Buffer.from("1234"))).succeeded();
    (await throttle.admit("1", "other", Buffer.from("wrong"))).failed();
    advance(SETTINGS.cooldownMs);
    (await throttle.admit("1", "attacker", Buffer.from("guess"))).failed();
  });

  test("attempts in flight count: concurrent wrong PINs stop at the limit; concurrent requests with one PIN are one attempt", async () => {
    const { throttle } = setUp();
    // Ten at once with one PIN: the first is checked, the others wait for it and then pass as known.
    await Promise.all(Array.from({ length: 10 }, () => throttle.admit("1", "c", Buffer.from("1234")).then((attempt) => attempt.succeeded())));
    const attempts = await Promise.all(Array.from({ length: SETTINGS.limit }, (_, i) => throttle.admit("1", "c", Buffer.from(`wrong-${i}`))));
    await assert.rejects(throttle.admit("1", "c", Buffer.from("wrong")), cooled);
    // In seconds, like the config key it comes from.
    await assert.rejects(throttle.admit("1", "c", Buffer.from("wrong")), { message: "slot 1: client c has 3 failed or pending logins within 60 s (pkcs11.login-failure-window)" });
    for (const attempt of attempts) attempt.abandoned();
    (await throttle.admit("1", "c", Buffer.from("wrong"))).abandoned();
  });

  test("the slot's budget bounds all clients together; the PIN last accepted still passes", async () => {
    const { throttle, fail, advance } = setUp();
    (await throttle.admit("1", "signer", Buffer.from("1234"))).succeeded();
    // The signer's own address is cooled down too (a typo, or someone behind the same NAT).
    for (let i = 0; i < SETTINGS.limit; i++) await fail("signer");
    for (let i = SETTINGS.limit; i < SETTINGS.budgetPerHour; i++) await fail(`address-${i}`);
    await assert.rejects(throttle.admit("1", "fresh-address", Buffer.from("guess")), cooled);
    await assert.rejects(throttle.admit("1", "signer", Buffer.from("guess")), cooled);
    // The right PIN passes all the same.
    (await throttle.admit("1", "signer", Buffer.from("1234"))).succeeded();
    (await throttle.admit("1", "anyone", Buffer.from("1234"))).succeeded();
    // Another slot has its own budget.
    (await throttle.admit("2", "fresh-address", Buffer.from("guess"))).failed();
    advance(3_600_000);
    (await throttle.admit("1", "fresh-address", Buffer.from("guess"))).failed();
  });

  test("the accepted PIN refused later (changed on the token) is no longer let through", async () => {
    const { throttle, fail } = setUp();
    (await throttle.admit("1", "signer", Buffer.from("old"))).succeeded();
    for (let i = 0; i < SETTINGS.budgetPerHour; i++) await fail(`address-${i}`);
    (await throttle.admit("1", "signer", Buffer.from("old"))).failed();
    await assert.rejects(throttle.admit("1", "signer", Buffer.from("old")), cooled);
  });
});

// The per-client login throttle of the relay process: one client's failures
// cool only that client down; all clients together spend a per-slot hourly
// budget; the PIN last accepted on a slot passes every limit; attempts in
// flight count, so concurrent wrong PINs cannot slip past the limit.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { HsmError } from "../../src/hsm/backend.js";
import { ClientLoginThrottle } from "../../src/server/login-throttle.js";

const SETTINGS = { limit: 3, windowMs: 60_000, cooldownMs: 300_000, budgetPerHour: 10 };

function cooled(error: unknown): boolean {
  assert.ok(error instanceof HsmError && error.code === "LOGIN_COOLDOWN", String(error));
  return true;
}

function setUp() {
  let now = 1_000_000;
  const throttle = new ClientLoginThrottle(SETTINGS, () => now);
  const fail = (client: string, pin = "wrong") => throttle.admit("1", client, pin).failed();
  return { throttle, fail, advance: (ms: number) => (now += ms) };
}

describe("ClientLoginThrottle", () => {
  test("a client's failures cool down that client only", () => {
    const { throttle, fail, advance } = setUp();
    for (let i = 0; i < SETTINGS.limit; i++) fail("attacker");
    assert.throws(() => throttle.admit("1", "attacker", "guess"), cooled);
    // Another client, with the right PIN or a wrong one, is still asked about.
    throttle.admit("1", "signer", "1234").succeeded();
    throttle.admit("1", "other", "wrong").failed();
    advance(SETTINGS.cooldownMs);
    throttle.admit("1", "attacker", "guess").failed();
  });

  test("attempts in flight count: concurrent wrong PINs stop at the limit", () => {
    const { throttle } = setUp();
    const attempts = Array.from({ length: SETTINGS.limit }, () => throttle.admit("1", "c", "wrong"));
    assert.throws(() => throttle.admit("1", "c", "wrong"), cooled);
    for (const attempt of attempts) attempt.abandoned();
    throttle.admit("1", "c", "wrong").abandoned();
  });

  test("the slot's budget bounds all clients together; the PIN last accepted still passes", () => {
    const { throttle, fail, advance } = setUp();
    throttle.admit("1", "signer", "1234").succeeded();
    // The signer's own address is cooled down too (a typo, or someone behind the same NAT).
    for (let i = 0; i < SETTINGS.limit; i++) fail("signer");
    for (let i = SETTINGS.limit; i < SETTINGS.budgetPerHour; i++) fail(`address-${i}`);
    assert.throws(() => throttle.admit("1", "fresh-address", "guess"), cooled);
    assert.throws(() => throttle.admit("1", "signer", "guess"), cooled);
    // The right PIN passes all the same.
    throttle.admit("1", "signer", "1234").succeeded();
    throttle.admit("1", "anyone", "1234").succeeded();
    // Another slot has its own budget.
    throttle.admit("2", "fresh-address", "guess").failed();
    advance(3_600_000);
    throttle.admit("1", "fresh-address", "guess").failed();
  });

  test("the accepted PIN refused later (changed on the token) is no longer let through", () => {
    const { throttle, fail } = setUp();
    throttle.admit("1", "signer", "old").succeeded();
    for (let i = 0; i < SETTINGS.budgetPerHour; i++) fail(`address-${i}`);
    throttle.admit("1", "signer", "old").failed();
    assert.throws(() => throttle.admit("1", "signer", "old"), cooled);
  });
});

// CredentialCache (src/hsm/isolated/credentials.ts): what the isolated
// backend answers without asking its module process. Slots expire and are
// bounded; a PIN digest is recorded only from the answer to the last check
// sent, matches only the same PIN, and is gone after forgetPin or clear.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { SlotSummary } from "../../src/hsm/backend.js";
import { CredentialCache } from "../../src/hsm/isolated/credentials.js";

function slot(slotId: string): SlotSummary {
  return {
    slotId,
    index: 0,
    slotDescription: "",
    tokenLabel: `token ${slotId}`,
    tokenSerial: "",
    tokenManufacturer: "",
    tokenModel: "",
    maxSessionCount: 0,
    maxRwSessionCount: 0,
    tokenInitialized: true,
    userPinInitialized: true,
    loginRequired: true,
  };
}

describe("CredentialCache, slots", () => {
  test("a username's slot is kept for a second, then asked for again", () => {
    let now = 0;
    const cache = new CredentialCache(() => now);
    assert.equal(cache.slot("alice"), undefined);
    cache.rememberSlot("alice", slot("1"));
    now = 999;
    assert.equal(cache.slot("alice")?.slotId, "1");
    now = 1000;
    assert.equal(cache.slot("alice"), undefined);
  });

  test("forgetSlots and clear drop every username", () => {
    const cache = new CredentialCache(() => 0);
    cache.rememberSlot("alice", slot("1"));
    cache.rememberSlot("bob", slot("2"));
    cache.forgetSlots();
    assert.equal(cache.slot("alice"), undefined);
    assert.equal(cache.slot("bob"), undefined);
    cache.rememberSlot("alice", slot("1"));
    cache.clear();
    assert.equal(cache.slot("alice"), undefined);
  });

  test("at most 256 usernames: the oldest goes first", () => {
    const cache = new CredentialCache(() => 0);
    for (let i = 0; i <= 256; i++) cache.rememberSlot(`${"0".repeat(i)}1`, slot("1"));
    assert.equal(cache.slot("1"), undefined, "the first is evicted");
    assert.equal(cache.slot("01")?.slotId, "1");
    assert.equal(cache.slot(`${"0".repeat(256)}1`)?.slotId, "1");
  });
});

describe("CredentialCache, PINs", () => {
  test("only the accepted PIN matches, only on its slot, until forgotten", () => {
    const cache = new CredentialCache();
    assert.equal(cache.accepts("1", cache.digest(Buffer.from("1234"))), false, "nothing accepted yet");
    cache.rememberPin("1", cache.checkSent("1"), cache.digest(Buffer.from("1234")));
    assert.equal(cache.accepts("1", cache.digest(Buffer.from("1234"))), true);
    assert.equal(cache.accepts("1", cache.digest(Buffer.from("12345"))), false, "a different PIN");
    assert.equal(cache.accepts("1", cache.digest(Buffer.from(""))), false, "an empty PIN");
    assert.equal(cache.accepts("2", cache.digest(Buffer.from("1234"))), false, "another slot");
    cache.forgetPin("1");
    assert.equal(cache.accepts("1", cache.digest(Buffer.from("1234"))), false);
  });

  test("the answer to a check that a later check for the slot may have overtaken is not recorded", () => {
    const cache = new CredentialCache();
    const first = cache.checkSent("1");
    const second = cache.checkSent("1");
    cache.rememberPin("1", first, cache.digest(Buffer.from("old PIN")));
    assert.equal(cache.accepts("1", cache.digest(Buffer.from("old PIN"))), false);
    cache.rememberPin("1", second, cache.digest(Buffer.from("new PIN")));
    assert.equal(cache.accepts("1", cache.digest(Buffer.from("new PIN"))), true);
    // A check on another slot does not stand in the way.
    const other = cache.checkSent("2");
    cache.rememberPin("2", other, cache.digest(Buffer.from("new PIN")));
    assert.equal(cache.accepts("2", cache.digest(Buffer.from("new PIN"))), true);
  });

  test("clear (a new module process) drops every PIN, ignores answers of the old one, draws a new key", () => {
    const cache = new CredentialCache();
    const before = cache.digest(Buffer.from("1234"));
    cache.rememberPin("1", cache.checkSent("1"), before);
    const inFlight = cache.checkSent("1");
    cache.clear();
    cache.rememberPin("1", inFlight, cache.digest(Buffer.from("1234")));
    assert.equal(cache.accepts("1", cache.digest(Buffer.from("1234"))), false);
    assert.notDeepEqual(cache.digest(Buffer.from("1234")), before, "digests of the old key match nothing");
    assert.equal(cache.digest(Buffer.from("1234")).length, 32, "HMAC-SHA256");
  });
});

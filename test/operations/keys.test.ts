// The cache of key types Sign consults (src/operations/keys.ts): one
// describeKey per key and slot, answered synchronously once cached, and
// forgotten after a failure that says the key changed.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import pino from "pino";
import { HsmError, type HsmBackend, type KeyDescription } from "../../src/hsm/backend.js";
import { KmipError } from "../../src/kmip/errors.js";
import { SigningKeyCache } from "../../src/operations/keys.js";
import type { OperationContext } from "../../src/operations/operation.js";
import { ResultReason } from "../../src/ttlv/enums.js";

/** A context on `slotId` whose backend describes every key as P-256, counting calls by slot and id. */
function contexts(): { on: (slotId: string) => OperationContext; calls: string[] } {
  const calls: string[] = [];
  const backend = {
    describeKey: async (slotId: string, keyId: string) => {
      calls.push(`${slotId}/${keyId}`);
      return { keyType: "EC", bits: 256 } as KeyDescription;
    },
  } as unknown as HsmBackend;
  const on = (slotId: string): OperationContext => ({
    backend,
    slot: { slotId } as OperationContext["slot"],
    version: { major: 1, minor: 2 },
    server: { productName: "test", productVersion: "0" },
    logger: pino({ level: "silent" }),
    idPlaceholder: undefined,
  });
  return { on, calls };
}

describe("SigningKeyCache", () => {
  test("describes a key once per slot; cached() answers without the backend afterwards", async () => {
    const { on, calls } = contexts();
    const cache = new SigningKeyCache();
    assert.equal(cache.cached(on("1"), "A_priv"), undefined);
    assert.deepEqual(await cache.get(on("1"), "A_priv"), { keyType: "EC", bits: 256 });
    assert.deepEqual(cache.cached(on("1"), "A_priv"), { keyType: "EC", bits: 256 });
    await cache.get(on("1"), "A_priv");
    assert.equal(cache.cached(on("2"), "A_priv"), undefined, "the same id on another slot is another key");
    await cache.get(on("2"), "A_priv");
    assert.deepEqual(calls, ["1/A_priv", "2/A_priv"]);
  });

  test("forget drops the key of that slot after an HSM or KMIP failure only", async () => {
    const { on, calls } = contexts();
    const cache = new SigningKeyCache();
    await cache.get(on("1"), "A_priv");
    await cache.get(on("2"), "A_priv");
    cache.forget(on("1"), "A_priv", new Error("a bug, not a sign that the key changed"));
    assert.notEqual(cache.cached(on("1"), "A_priv"), undefined);
    cache.forget(on("1"), "A_priv", new HsmError("ITEM_NOT_FOUND", "gone"));
    assert.equal(cache.cached(on("1"), "A_priv"), undefined);
    assert.notEqual(cache.cached(on("2"), "A_priv"), undefined, "the other slot's entry stays");
    cache.forget(on("2"), "A_priv", new KmipError(ResultReason.InvalidField, "an ECDSA signature was asked for, but the key is an RSA key"));
    assert.equal(cache.cached(on("2"), "A_priv"), undefined);
    await cache.get(on("1"), "A_priv");
    assert.deepEqual(calls, ["1/A_priv", "2/A_priv", "1/A_priv"]);
  });

  test("holds at most `capacity` keys per slot", async () => {
    const { on, calls } = contexts();
    const cache = new SigningKeyCache(2);
    for (const id of ["A_priv", "B_priv", "C_priv", "A_priv"]) await cache.get(on("1"), id);
    assert.equal(calls.length, 4, "the third key emptied the slot's entries, so A was described again");
    assert.notEqual(cache.cached(on("1"), "C_priv"), undefined);
  });
});

// keyMechanisms: a key's type and allowed mechanisms are read from the token
// once per key; Destroy (forgetKeyMechanisms) makes the next use read again.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { HsmBackend, KeyDescription } from "../../src/hsm/backend.js";
import { forgetKeyMechanisms, keyMechanisms } from "../../src/hsm/key-mechanism-cache.js";

function fakeBackend(): { backend: HsmBackend; reads: string[] } {
  const reads: string[] = [];
  const backend = {
    describeKey: async (slotId: string, keyId: string) => {
      reads.push(`${slotId}/${keyId}`);
      if (keyId === "missing_sec") throw new Error("Item Not Found");
      return { keyType: "GENERIC_SECRET", secretMechanisms: ["HMAC-SHA256"] } as unknown as KeyDescription;
    },
  } as unknown as HsmBackend;
  return { backend, reads };
}

describe("key mechanism cache", () => {
  test("reads a key once, per slot and per backend", async () => {
    const { backend, reads } = fakeBackend();
    const first = await keyMechanisms(backend, "1", "AB_sec");
    assert.deepEqual(first.secretMechanisms, ["HMAC-SHA256"]);
    await keyMechanisms(backend, "1", "AB_sec");
    await keyMechanisms(backend, "2", "AB_sec");
    assert.deepEqual(reads, ["1/AB_sec", "2/AB_sec"]);
    const other = fakeBackend();
    await keyMechanisms(other.backend, "1", "AB_sec");
    assert.deepEqual(other.reads, ["1/AB_sec"]);
  });

  test("a destroyed key is read again; a failed read is not kept", async () => {
    const { backend, reads } = fakeBackend();
    await keyMechanisms(backend, "1", "AB_sec");
    forgetKeyMechanisms(backend, "1", "AB_sec");
    await keyMechanisms(backend, "1", "AB_sec");
    await assert.rejects(keyMechanisms(backend, "1", "missing_sec"), /Item Not Found/);
    await assert.rejects(keyMechanisms(backend, "1", "missing_sec"), /Item Not Found/);
    assert.deepEqual(reads, ["1/AB_sec", "1/AB_sec", "1/missing_sec", "1/missing_sec"]);
  });
});

// keyMechanisms: a key's type and allowed mechanisms are read from the token
// once per key; Destroy (forgetKeyMechanisms) makes the next use read again.
// rememberOfKey keeps other facts of a key (its OAEP parameters) the same way.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { HsmBackend } from "../../src/hsm/backend.js";
import type { KeyDescription } from "../../src/hsm/key-types.js";
import { forgetKeyMechanisms, keyMechanisms, rememberOfKey } from "../../src/hsm/key-mechanism-cache.js";

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

  test("rememberOfKey: each fact of a key loaded once, undefined too; Destroy forgets them all; a failed load is not kept", async () => {
    const { backend } = fakeBackend();
    let loads = 0;
    const load = async () => {
      loads++;
      return undefined;
    };
    assert.equal(await rememberOfKey(backend, "1", "AB_pub", "oaep", load), undefined);
    assert.equal(await rememberOfKey(backend, "1", "AB_pub", "oaep", load), undefined);
    assert.equal(loads, 1, "a key without parameters is not read again");
    assert.equal(await rememberOfKey(backend, "1", "AB_pub", "other", async () => 7), 7, "facts are apart");
    forgetKeyMechanisms(backend, "1", "AB_pub");
    await rememberOfKey(backend, "1", "AB_pub", "oaep", load);
    assert.equal(loads, 2);
    await assert.rejects(rememberOfKey(backend, "1", "CD_pub", "oaep", async () => Promise.reject(new Error("being created"))), /being created/);
    assert.equal(await rememberOfKey(backend, "1", "CD_pub", "oaep", async () => "read"), "read");
  });
});

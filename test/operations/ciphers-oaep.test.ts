// cipherRequest for RSA-OAEP: a request without Cryptographic Parameters
// takes the OAEP parameters the key's metadata keeps (hash, MGF1 hash,
// label), read once per key; a request that names its own uses them and
// reads no metadata; a key without any is OAEP SHA-1 without a label.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { HsmBackend } from "../../src/hsm/backend.js";
import type { KeyDescription } from "../../src/hsm/key-types.js";
import { cipherRequest } from "../../src/operations/ciphers.js";
import { encodeRecord } from "../../src/operations/metadata-record.js";
import type { OperationContext } from "../../src/operations/operation.js";
import { CryptographicAlgorithm, HashingAlgorithm, PaddingMethod, State } from "../../src/ttlv/enums.js";

const LABEL = "AB01";
const DATA = new Uint8Array([1, 2, 3]);

function contextWith(params: object | undefined): { context: OperationContext; reads: () => number } {
  let reads = 0;
  const attributes = [{ name: "State", value: State.Active }, ...(params === undefined ? [] : [{ name: "Cryptographic Parameters", value: params }])];
  const backend = {
    describeKey: async () => ({ keyType: "RSA" }) as unknown as KeyDescription,
    readMetadata: async () => {
      reads++;
      return [{ label: LABEL, value: encodeRecord({ generation: 1, objects: { public: attributes, private: attributes } } as never) }];
    },
  } as unknown as HsmBackend;
  const context = { backend, slot: { slotId: "1" } } as unknown as OperationContext;
  return { context, reads: () => reads };
}

test("no Cryptographic Parameters: the key's OAEP SHA-384 with MGF1-SHA-256 and its label, read once", async () => {
  const kept = { paddingMethod: PaddingMethod.OAEP, hashingAlgorithm: HashingAlgorithm.SHA384, maskGeneratorHashingAlgorithm: HashingAlgorithm.SHA256, pSource: new Uint8Array([9]) };
  const { context, reads } = contextWith(kept);
  for (let i = 0; i < 2; i++) {
    const request = await cipherRequest(context, `${LABEL}_pub`, { data: DATA }, false);
    assert.equal(request.mechanism, "RSA-OAEP");
    assert.equal(request.oaepHash, "sha384");
    assert.equal(request.oaepMgfHash, "sha256");
    assert.deepEqual(Buffer.from(request.oaepLabel!), Buffer.from([9]));
  }
  assert.equal(reads(), 1);
});

test("named parameters are the request's own; a key without parameters is SHA-1 without a label", async () => {
  const { context, reads } = contextWith({ paddingMethod: PaddingMethod.OAEP, hashingAlgorithm: HashingAlgorithm.SHA256 });
  const named = await cipherRequest(context, `${LABEL}_priv`, { data: DATA, cryptographicParameters: { cryptographicAlgorithm: CryptographicAlgorithm.RSA, paddingMethod: PaddingMethod.OAEP } }, true);
  assert.equal(named.oaepHash, "sha1");
  assert.equal(reads(), 0);
  const bare = contextWith(undefined);
  const plain = await cipherRequest(bare.context, `${LABEL}_priv`, { data: DATA }, true);
  assert.equal(plain.oaepHash, "sha1");
  assert.equal(plain.oaepMgfHash, undefined);
  assert.equal(plain.oaepLabel, undefined);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { formatKeyId, parseKeyId } from "../../src/hsm/key-id.js";

test("formatKeyId writes upper-case hex of CKA_ID and the class suffix", () => {
  const ckaId = Uint8Array.from([0x01, 0xab, 0xff]);
  assert.equal(formatKeyId(ckaId, "public"), "01ABFF_pub");
  assert.equal(formatKeyId(ckaId, "private"), "01ABFF_priv");
  // A view into a larger buffer formats only its own bytes.
  assert.equal(formatKeyId(new Uint8Array([9, 0xc0, 0xde, 9]).subarray(1, 3), "public"), "C0DE_pub");
});

test("parseKeyId inverts formatKeyId and accepts lower-case hex", () => {
  assert.deepEqual(parseKeyId("01ABFF_priv"), { ckaId: Buffer.from([0x01, 0xab, 0xff]), objectClass: "private" });
  assert.deepEqual(parseKeyId("01abff_pub"), { ckaId: Buffer.from([0x01, 0xab, 0xff]), objectClass: "public" });
});

test("parseKeyId refuses what is not of the scheme", () => {
  for (const id of ["", "_pub", "ABC_pub", "01AB", "01AB_PUB", "01AB_private", "01AB_pub ", "0G_pub", "01AB_pub_pub", "1234"]) {
    assert.equal(parseKeyId(id), undefined, id);
  }
});

// The usage flags a secret key's model gives it: its state, its mask, and
// its dates (KMIP 1.x 3.25 Process Start Date, 3.26 Protect Stop Date).
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Attribute } from "../../src/kmip/attributes.js";
import { secretDateLimits, secretTokenUsage } from "../../src/operations/secret-usage.js";
import { CryptographicUsageMask as Usage, State } from "../../src/ttlv/enums.js";

const NOW = 1_700_000_000n;
const model = (extra: Attribute[]): Attribute[] => [
  { name: "State", value: State.Active },
  { name: "Cryptographic Usage Mask", value: Usage.Encrypt | Usage.Decrypt | Usage.MacGenerate | Usage.MacVerify },
  ...extra,
];

test("an Active key without dates may do what its mask grants", () => {
  assert.deepEqual(secretTokenUsage(model([]), NOW), { encrypt: true, decrypt: true, sign: true, verify: true });
  assert.equal(secretDateLimits(model([]), NOW), undefined);
});

test("from its Protect Stop Date no Encrypt and no MAC; before its Process Start Date no Decrypt and no MAC Verify", () => {
  const stopped = model([{ name: "Protect Stop Date", value: NOW - 3600n }]);
  assert.deepEqual(secretTokenUsage(stopped, NOW), { encrypt: false, decrypt: true, sign: false, verify: true });
  assert.match(secretDateLimits(stopped, NOW)!.why, /Protect Stop Date has passed/);
  const early = model([{ name: "Process Start Date", value: NOW + 3600n }]);
  assert.deepEqual(secretTokenUsage(early, NOW), { encrypt: true, decrypt: false, sign: true, verify: false });
  assert.match(secretDateLimits(early, NOW)!.why, /Process Start Date is still to come/);
  // Dates not yet come (Protect Stop) or passed (Process Start) take nothing away.
  const fine = model([{ name: "Protect Stop Date", value: NOW + 1n }, { name: "Process Start Date", value: NOW }]);
  assert.deepEqual(secretTokenUsage(fine, NOW), { encrypt: true, decrypt: true, sign: true, verify: true });
  // A Deactivated key decrypts only, and not before its Process Start Date.
  const deactivated = [{ name: "State", value: State.Deactivated }, ...early.slice(1)] as Attribute[];
  assert.deepEqual(secretTokenUsage(deactivated, NOW), { encrypt: false, decrypt: false, sign: false, verify: false });
});

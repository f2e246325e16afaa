import { test } from "node:test";
import assert from "node:assert/strict";
import { CURVES, curveOfParams, unwrapEcPoint } from "../../src/hsm/ec.js";

test("curveOfParams knows the named-curve OIDs and the edwards25519 string", () => {
  assert.equal(curveOfParams(Buffer.from("06082a8648ce3d030107", "hex"))?.curve, "P-256");
  assert.equal(curveOfParams(Buffer.from("06052b81040022", "hex"))?.curve, "P-384");
  assert.equal(curveOfParams(Buffer.from("06052b81040023", "hex"))?.curve, "P-521");
  assert.equal(curveOfParams(Buffer.from("06032b6570", "hex"))?.curve, "Ed25519");
  assert.equal(curveOfParams(Buffer.concat([Buffer.from([0x13, 0x0c]), Buffer.from("edwards25519")]))?.curve, "Ed25519");
  assert.equal(curveOfParams(Buffer.from("06052b8104000a", "hex")), undefined); // secp256k1
});

test("unwrapEcPoint takes the point out of its DER OCTET STRING, or takes it bare", () => {
  const point = Buffer.concat([Buffer.from([0x04]), Buffer.alloc(64, 0x3f)]);
  const wrapped = Buffer.concat([Buffer.from([0x04, 0x41]), point]);
  assert.deepEqual(unwrapEcPoint(wrapped, CURVES["P-256"]), point);
  // Bare: its length is the curve's point length, even though it starts with 04 3F (a plausible DER header).
  assert.deepEqual(unwrapEcPoint(point, CURVES["P-256"]), point);
  // Long-form length (P-521: 133 bytes).
  const p521 = Buffer.concat([Buffer.from([0x04]), Buffer.alloc(132, 7)]);
  assert.deepEqual(unwrapEcPoint(Buffer.concat([Buffer.from([0x04, 0x81, 0x85]), p521]), CURVES["P-521"]), p521);
  // tpm2-pkcs11 1.9: the length 133 in one byte, not valid DER, taken for what it means.
  assert.deepEqual(unwrapEcPoint(Buffer.concat([Buffer.from([0x04, 0x85]), p521]), CURVES["P-521"]), p521);
  assert.equal(unwrapEcPoint(Buffer.concat([Buffer.from([0x04, 0x85]), p521]), undefined), undefined);
  const ed = Buffer.alloc(32, 9);
  assert.deepEqual(unwrapEcPoint(Buffer.concat([Buffer.from([0x04, 0x20]), ed]), CURVES.Ed25519), ed);
  // Unknown curve: only an exact OCTET STRING is accepted.
  assert.deepEqual(unwrapEcPoint(wrapped, undefined), point);
  assert.equal(unwrapEcPoint(Buffer.from([0x04, 0x05, 1, 2]), undefined), undefined);
});

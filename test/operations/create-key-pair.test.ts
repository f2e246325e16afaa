// Create Key Pair's template rules that need no token: a single-valued
// attribute given twice is refused, not resolved by taking one of them.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Attribute } from "../../src/kmip/attributes.js";
import { KmipError } from "../../src/kmip/errors.js";
import { keyPairSpec } from "../../src/operations/create-key-pair.js";
import { CryptographicAlgorithm, ResultReason } from "../../src/ttlv/enums.js";

const ec: Attribute = { name: "Cryptographic Algorithm", value: CryptographicAlgorithm.ECDSA };
const rsa: Attribute = { name: "Cryptographic Algorithm", value: CryptographicAlgorithm.RSA };
const length = (bits: number): Attribute => ({ name: "Cryptographic Length", value: bits });

test("a single-valued attribute given twice in one template is Invalid Field", () => {
  assert.deepEqual(keyPairSpec([ec, length(256)], [], []), { keyType: "EC", curve: "P-256" });
  for (const template of [
    [ec, rsa, length(2048)],
    [ec, length(256), length(384)],
    [ec, length(256), length(256)],
  ]) {
    assert.throws(
      () => keyPairSpec(template, [], []),
      (error: unknown) => error instanceof KmipError && error.reason === ResultReason.InvalidField && /given 2 times in one template/.test(error.message),
    );
  }
});
